/// Which library converts sample rates.
public enum ResamplerEngine: String, Sendable, Hashable, CaseIterable {
    /// libsoxr: the default; measured here 1-2 orders of magnitude faster than libsamplerate at equal or better
    /// quality (24→48 kHz: about 3,800× real time at high quality against 42-143× for libsamplerate's sinc
    /// converters).
    case soxr
    /// libsamplerate (Secret Rabbit Code): lower latency, slower.
    case libsamplerate
}

/// How hard a resampler works, mapped onto each engine's own presets.
///
/// | preset | soxr | libsamplerate |
/// | --- | --- | --- |
/// | low | LQ (16-bit, wide roll-off) | SINC_FASTEST |
/// | medium | MQ (16-bit) | SINC_MEDIUM_QUALITY |
/// | high | HQ (20-bit) | SINC_BEST_QUALITY |
/// | very-high | VHQ (28-bit) | SINC_BEST_QUALITY (its best) |
public enum ResamplerQuality: String, Sendable, Hashable, CaseIterable {
    /// The quickest (the table above gives each library's setting).
    case low
    /// Between low and high.
    case medium
    /// The default.
    case high
    /// Each library's best.
    case veryHigh = "very-high"
}

/// A failure of a resampling library.
public struct ResamplerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The engine that failed.
    public var engine: ResamplerEngine
    /// The library's error code, when it has one.
    public var code: Int32?
    /// The library's message and what was being done.
    public var message: String

    package init(engine: ResamplerEngine, code: Int32? = nil, message: String) {
        self.engine = engine
        self.code = code
        self.message = message
    }

    /// The library and its message: `soxr: …`.
    public var description: String { "\(engine.rawValue): \(message)" }
}

/// A streaming sample-rate converter for interleaved float frames.
///
/// State is kept from call to call, so converting a stream in one piece or in pieces of any size gives the
/// same frames; ``finish(_:)`` flushes what the filter holds back. Output is delay-compensated: it lines up
/// with the input at lag 0, and a whole stream of `n` input frames gives `round(n × outputRate / inputRate)`
/// frames (±1).
@_spi(Blocks) public protocol Resampler: AnyObject {
    /// The rates converted between and the channel count.
    var format: ResamplingFormat { get }

    /// Converts `input` (whole frames) and passes what is ready to `emit`, possibly in several calls.
    ///
    /// - Throws: ``StageFailure/own(_:)`` with the library's error, or ``StageFailure/downstream(_:)`` with what
    ///   `emit` threw.
    func process<Failure: Error>(
        _ input: UnsafeBufferPointer<Float>,
        _ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void
    ) throws(StageFailure<ResamplerError, Failure>)

    /// Ends the stream: passes the frames still held back to `emit`. The resampler cannot be used afterwards.
    ///
    /// - Throws: As ``process(_:_:)``.
    func finish<Failure: Error>(_ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void) throws(StageFailure<ResamplerError, Failure>)
}

extension Resampler {
    /// Frames per second consumed.
    public var inputRate: Int { format.inputRate }
    /// Frames per second produced.
    public var outputRate: Int { format.outputRate }
    /// Interleaved channels per frame.
    public var channelCount: Int { format.channelCount }
}

/// What a resampler converts: two rates and a channel count, checked once for every engine.
@_spi(Blocks) public struct ResamplingFormat: Sendable, Hashable {
    /// Frames per second consumed.
    public let inputRate: Int
    /// Frames per second produced.
    public let outputRate: Int
    /// Interleaved channels per frame.
    public let channelCount: Int

    /// Output frames per input frame.
    public var ratio: Double { Double(outputRate) / Double(inputRate) }

    /// Checks a conversion for `engine`.
    ///
    /// - Throws: ``ResamplerError`` for a rate or channel count that is not positive.
    public init(inputRate: Int, outputRate: Int, channelCount: Int, engine: ResamplerEngine) throws(ResamplerError) {
        guard inputRate > 0, outputRate > 0, channelCount > 0 else {
            throw ResamplerError(engine: engine, message: "cannot convert \(inputRate) Hz to \(outputRate) Hz in \(channelCount) channel(s)")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.channelCount = channelCount
    }
}

/// Makes a resampler.
///
/// - Throws: ``ResamplerError`` when the library refuses the rates.
@_spi(Blocks) public func makeResampler(
    engine: ResamplerEngine,
    quality: ResamplerQuality,
    inputRate: Int,
    outputRate: Int,
    channelCount: Int = 1
) throws(ResamplerError) -> any Resampler {
    switch engine {
    case .soxr:
        try SoxrResampler(inputRate: inputRate, outputRate: outputRate, channelCount: channelCount, quality: quality)
    case .libsamplerate:
        try LibsamplerateResampler(inputRate: inputRate, outputRate: outputRate, channelCount: channelCount, quality: quality)
    }
}
