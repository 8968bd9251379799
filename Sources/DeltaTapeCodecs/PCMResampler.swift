@_spi(Blocks) import DeltaTapeKernels

/// The pipeline's resampling stage: 16-bit samples in, 16-bit samples out, through a float ``Resampler``.
///
/// Buffers are kept between calls, so a stream of deltas costs no allocation once warmed up. Conversions use the
/// ``PCMConversion`` kernels (exact int16 → float; rounding to nearest even, saturating, on the way back).
@_spi(Blocks) public final class PCMResampler {
    /// The float resampler doing the work.
    public let resampler: any Resampler
    private var floats: [Float] = []
    private var samples: [Int16] = []

    /// Creates a stage converting `inputRate` to `outputRate`.
    ///
    /// - Throws: ``ResamplerError`` when the engine refuses the rates.
    public init(engine: ResamplerEngine, quality: ResamplerQuality, inputRate: Int, outputRate: Int, channelCount: Int = 1) throws(ResamplerError) {
        resampler = try makeResampler(engine: engine, quality: quality, inputRate: inputRate, outputRate: outputRate, channelCount: channelCount)
    }

    /// Frames per second consumed.
    public var inputRate: Int { resampler.inputRate }
    /// Frames per second produced.
    public var outputRate: Int { resampler.outputRate }

    /// Resamples `input` (interleaved whole frames) and passes what is ready to `emit`.
    ///
    /// - Throws: ``StageFailure/own(_:)`` with the library's error, or ``StageFailure/downstream(_:)`` with what
    ///   `emit` threw.
    public func process<Failure: Error>(
        _ input: UnsafeBufferPointer<Int16>,
        _ emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(StageFailure<ResamplerError, Failure>) {
        guard !input.isEmpty else { return }
        if floats.count < input.count { floats = [Float](repeating: 0, count: max(input.count, 2 * floats.count)) }
        try floats.withUnsafeMutableBufferPointer { (buffer) throws(StageFailure<ResamplerError, Failure>) in
            PCMConversion.floats(from: input, into: buffer)
            try resampler.process(UnsafeBufferPointer(rebasing: buffer[..<input.count])) { (output) throws(Failure) in
                try convertBack(output, emit)
            }
        }
    }

    /// Flushes the frames the filter holds back to `emit`. The stage cannot be used afterwards.
    ///
    /// - Throws: As ``process(_:_:)``.
    public func finish<Failure: Error>(_ emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void) throws(StageFailure<ResamplerError, Failure>) {
        try resampler.finish { (output) throws(Failure) in try convertBack(output, emit) }
    }

    private func convertBack<Failure: Error>(
        _ output: UnsafeBufferPointer<Float>,
        _ emit: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void
    ) throws(Failure) {
        if samples.count < output.count { samples = [Int16](repeating: 0, count: max(output.count, 2 * samples.count)) }
        try samples.withUnsafeMutableBufferPointer { (buffer) throws(Failure) in
            PCMConversion.samples(from: output, into: buffer)
            try emit(UnsafeBufferPointer(rebasing: buffer[..<output.count]))
        }
    }
}
