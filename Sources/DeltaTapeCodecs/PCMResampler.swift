import DeltaTapeKernels

/// The pipeline's resampling stage: 16-bit samples in, 16-bit samples out, through a float ``Resampler``.
///
/// Buffers are kept between calls, so a stream of deltas costs no allocation once warmed up. Conversions use the
/// ``PCMConversion`` kernels (exact int16 → float; rounding to nearest even, saturating, on the way back).
public final class PCMResampler {
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
    public func process(_ input: UnsafeBufferPointer<Int16>, _ emit: (UnsafeBufferPointer<Int16>) throws -> Void) throws {
        guard !input.isEmpty else { return }
        if floats.count < input.count { floats = [Float](repeating: 0, count: max(input.count, 2 * floats.count)) }
        try floats.withUnsafeMutableBufferPointer { buffer in
            PCMConversion.floats(from: input, into: buffer)
            try resampler.process(UnsafeBufferPointer(rebasing: buffer[..<input.count])) { try convertBack($0, emit) }
        }
    }

    /// Flushes the frames the filter holds back to `emit`. The stage cannot be used afterwards.
    public func finish(_ emit: (UnsafeBufferPointer<Int16>) throws -> Void) throws {
        try resampler.finish { try convertBack($0, emit) }
    }

    private func convertBack(_ output: UnsafeBufferPointer<Float>, _ emit: (UnsafeBufferPointer<Int16>) throws -> Void) throws {
        if samples.count < output.count { samples = [Int16](repeating: 0, count: max(output.count, 2 * samples.count)) }
        try samples.withUnsafeMutableBufferPointer { buffer in
            PCMConversion.samples(from: output, into: buffer)
            try emit(UnsafeBufferPointer(rebasing: buffer[..<output.count]))
        }
    }
}
