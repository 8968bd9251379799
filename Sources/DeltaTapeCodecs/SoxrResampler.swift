import CSoxr

/// Sample-rate conversion with libsoxr, streaming, float32 interleaved.
///
/// soxr compensates its filter delay itself: the first output frame lines up with the first input frame.
package final class SoxrResampler: Resampler {
    package let format: ResamplingFormat
    private let handle: soxr_t
    private var output: [Float]

    /// Creates a converter.
    ///
    /// - Throws: ``ResamplerError`` with soxr's message when it refuses the configuration.
    package init(inputRate: Int, outputRate: Int, channelCount: Int = 1, quality: ResamplerQuality = .high) throws(ResamplerError) {
        format = try ResamplingFormat(inputRate: inputRate, outputRate: outputRate, channelCount: channelCount, engine: .soxr)
        var ioSpec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        let preset: Int32 = switch quality {
        case .low: 0
        case .medium: 1
        case .high: 2
        case .veryHigh: 3
        }
        var qualitySpec = soxr_quality_spec(dt_soxr_recipe(preset), 0)
        var error: soxr_error_t?
        let created = soxr_create(Double(inputRate), Double(outputRate), UInt32(channelCount), &error, &ioSpec, &qualitySpec, nil)
        guard let created, error == nil else {
            throw ResamplerError(engine: .soxr, message: "cannot convert \(inputRate) Hz to \(outputRate) Hz: \(String(cString: dt_soxr_error_message(error)))")
        }
        handle = created
        output = [Float](repeating: 0, count: 8192 * channelCount)
    }

    deinit {
        soxr_delete(handle)
    }

    package func process<Failure: Error>(
        _ input: UnsafeBufferPointer<Float>,
        _ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void
    ) throws(StageFailure<ResamplerError, Failure>) {
        let frames = input.count / channelCount
        guard frames > 0, let base = input.baseAddress else { return }
        // Room for everything this input can yield at once, plus what soxr holds back.
        let needed = (Int(Double(frames) * Double(outputRate) / Double(inputRate)) + 4096) * channelCount
        if output.count < needed { output = [Float](repeating: 0, count: needed) }
        var consumed = 0
        while consumed < frames {
            var used = 0, produced = 0
            let error = output.withUnsafeMutableBufferPointer { out in
                soxr_process(handle, base + consumed * channelCount, frames - consumed, &used,
                             out.baseAddress, out.count / channelCount, &produced)
            }
            if let error { throw .own(ResamplerError(engine: .soxr, message: String(cString: dt_soxr_error_message(error)))) }
            consumed += used
            if produced > 0 {
                try output.withUnsafeBufferPointer { (out) throws(StageFailure<ResamplerError, Failure>) in
                    try StageFailure<ResamplerError, Failure>.emit(UnsafeBufferPointer(rebasing: out[..<(produced * channelCount)]), to: emit) }
            }
            if used == 0 && produced == 0 { break }
        }
    }

    package func finish<Failure: Error>(_ emit: (UnsafeBufferPointer<Float>) throws(Failure) -> Void) throws(StageFailure<ResamplerError, Failure>) {
        while true {
            var produced = 0
            let error = output.withUnsafeMutableBufferPointer { out in
                soxr_process(handle, nil, 0, nil, out.baseAddress, out.count / channelCount, &produced)
            }
            if let error { throw .own(ResamplerError(engine: .soxr, message: String(cString: dt_soxr_error_message(error)))) }
            guard produced > 0 else { return }
            try output.withUnsafeBufferPointer { (out) throws(StageFailure<ResamplerError, Failure>) in
                    try StageFailure<ResamplerError, Failure>.emit(UnsafeBufferPointer(rebasing: out[..<(produced * channelCount)]), to: emit) }
        }
    }
}
