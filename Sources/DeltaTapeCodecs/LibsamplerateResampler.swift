import CSampleRate

/// Sample-rate conversion with libsamplerate's sinc converters, streaming, float32 interleaved.
///
/// One converter state lives for the whole stream (never `src_simple` per chunk, which would click at every
/// boundary); unconsumed input is offered again; `end_of_input` flushes the tail. libsamplerate's output is
/// time-aligned with its input.
package final class LibsamplerateResampler: Resampler {
    package let format: ResamplingFormat
    private let state: OpaquePointer
    private let ratio: Double
    private var output: [Float]

    /// Creates a converter.
    ///
    /// - Throws: ``ResamplerError`` with libsamplerate's message when it refuses the configuration.
    package init(inputRate: Int, outputRate: Int, channelCount: Int = 1, quality: ResamplerQuality = .high) throws(ResamplerError) {
        format = try ResamplingFormat(inputRate: inputRate, outputRate: outputRate, channelCount: channelCount, engine: .libsamplerate)
        ratio = format.ratio
        guard src_is_valid_ratio(ratio) != 0 else {
            throw ResamplerError(engine: .libsamplerate, message: "cannot convert \(inputRate) Hz to \(outputRate) Hz: the ratio is outside 1/256...256")
        }
        let converter: Int32 = switch quality {
        case .low: Int32(SRC_SINC_FASTEST)
        case .medium: Int32(SRC_SINC_MEDIUM_QUALITY)
        case .high, .veryHigh: Int32(SRC_SINC_BEST_QUALITY)
        }
        var error: Int32 = 0
        guard let created = src_new(converter, Int32(channelCount), &error) else {
            throw ResamplerError(engine: .libsamplerate, code: error, message: String(cString: src_strerror(error)))
        }
        state = created
        output = [Float](repeating: 0, count: 8192 * channelCount)
    }

    deinit {
        src_delete(state)
    }

    package func process<Failure: Error>(
        _ input: UnsafeBufferPointer<Float>,
        _ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void
    ) throws(StageFailure<ResamplerError, Failure>) {
        guard input.count >= channelCount, let base = input.baseAddress else { return }
        try run(base, frames: input.count / channelCount, endOfInput: false, emit)
    }

    package func finish<Failure: Error>(_ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void) throws(StageFailure<ResamplerError, Failure>) {
        var nothing: Float = 0
        try run(&nothing, frames: 0, endOfInput: true, emit)
    }

    private func run<Failure: Error>(
        _ input: UnsafePointer<Float>, frames: Int, endOfInput: Bool,
        _ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void
    ) throws(StageFailure<ResamplerError, Failure>) {
        var consumed = 0
        while true {
            var data = SRC_DATA()
            let status = output.withUnsafeMutableBufferPointer { out in
                data.data_in = input + consumed * channelCount
                data.input_frames = frames - consumed
                data.data_out = out.baseAddress
                data.output_frames = out.count / channelCount
                data.end_of_input = endOfInput ? 1 : 0
                data.src_ratio = ratio
                return src_process(state, &data)
            }
            guard status == 0 else {
                throw .own(ResamplerError(engine: .libsamplerate, code: status, message: String(cString: src_strerror(status))))
            }
            consumed += data.input_frames_used
            let produced = data.output_frames_gen
            if produced > 0 {
                try output.withUnsafeBufferPointer { (out) throws(StageFailure<ResamplerError, Failure>) in
                    try StageFailure<ResamplerError, Failure>.emit(UnsafeBufferPointer(rebasing: out[..<(produced * channelCount)]), to: emit) }
            }
            // Done when all input is taken and nothing more comes out (at the end: when the tail is drained).
            if consumed >= frames && produced == 0 { return }
            if !endOfInput && consumed >= frames && produced < data.output_frames { return }
        }
    }
}
