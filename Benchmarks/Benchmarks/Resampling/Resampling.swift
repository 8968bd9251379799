// Resampling 24 kHz speech-band audio to 16, 44.1 and 48 kHz with soxr and libsamplerate side by side (each at
// the same preset, high), and the pipeline's stage (16-bit in and out, in 100 ms deltas) against raw soxr on the
// same buffer, float in and out, both in one call and in the same 100 ms chunks: the anchors for the stage's overhead.
import Benchmark
import BenchmarkSupport
import CSoxr
@_spi(Blocks) import DeltaTapeCodecs
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .realTimeMultiple],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(10),
        maxIterations: 10,
        thresholds: mallocThresholds()
    )

    let audioSeconds = 60.0
    let inputRate = 24_000
    // A speech-like mix of partials with a slow envelope, deterministic.
    let floats: [Float] = (0..<Int(audioSeconds * Double(inputRate))).map { index in
        let time = Double(index) / Double(inputRate)
        let envelope = 0.5 + 0.5 * sin(2 * Double.pi * 3 * time)
        return Float(envelope * (0.3 * sin(2 * Double.pi * 180 * time) + 0.15 * sin(2 * Double.pi * 1_370 * time) + 0.05 * sin(2 * Double.pi * 4_100 * time)))
    }
    let samples: [Int16] = floats.map { Int16(($0 * 32767).rounded()) }
    let deltaFrameCount = inputRate / 10

    for outputRate in [16_000, 44_100, 48_000] {
        for engine in ResamplerEngine.allCases {
            Benchmark("\(engine.rawValue) 24 kHz to \(outputRate) Hz, float, one buffer") { benchmark in
                for _ in benchmark.scaledIterations {
                    let started = ContinuousClock.now
                    let resampler = try makeResampler(engine: engine, quality: .high, inputRate: inputRate, outputRate: outputRate)
                    var produced = 0
                    try floats.withUnsafeBufferPointer { try resampler.process($0) { produced += $0.count } }
                    try resampler.finish { produced += $0.count }
                    blackHole(produced)
                    benchmark.measurement(.realTimeMultiple, Int(audioSeconds / seconds(since: started)))
                }
            }
        }

        Benchmark("pipeline stage (soxr) 24 kHz to \(outputRate) Hz, int16 in 100 ms deltas") { benchmark in
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let stage = try PCMResampler(engine: .soxr, quality: .high, inputRate: inputRate, outputRate: outputRate)
                var produced = 0
                try samples.withUnsafeBufferPointer { buffer in
                    var start = 0
                    while start < buffer.count {
                        let end = min(buffer.count, start + deltaFrameCount)
                        try stage.process(UnsafeBufferPointer(rebasing: buffer[start..<end])) { produced += $0.count }
                        start = end
                    }
                }
                try stage.finish { produced += $0.count }
                blackHole(produced)
                benchmark.measurement(.realTimeMultiple, Int(audioSeconds / seconds(since: started)))
            }
        }

        Benchmark("raw soxr 24 kHz to \(outputRate) Hz, float, one call (anchor)") { benchmark in
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let handle = rawSoxr(from: inputRate, to: outputRate)
                var output = [Float](repeating: 0, count: Int(Double(floats.count) * Double(outputRate) / Double(inputRate)) + 8192)
                var used = 0, produced = 0, tail = 0
                floats.withUnsafeBufferPointer { input in
                    output.withUnsafeMutableBufferPointer { out in
                        _ = soxr_process(handle, input.baseAddress, input.count, &used, out.baseAddress, out.count, &produced)
                        _ = soxr_process(handle, nil, 0, nil, out.baseAddress! + produced, out.count - produced, &tail)
                    }
                }
                soxr_delete(handle)
                blackHole(produced + tail)
                benchmark.measurement(.realTimeMultiple, Int(audioSeconds / seconds(since: started)))
            }
        }

        Benchmark("raw soxr 24 kHz to \(outputRate) Hz, float, in 100 ms chunks (anchor)") { benchmark in
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let handle = rawSoxr(from: inputRate, to: outputRate)
                var output = [Float](repeating: 0, count: 16_384)
                var produced = 0
                floats.withUnsafeBufferPointer { input in
                    output.withUnsafeMutableBufferPointer { out in
                        var start = 0
                        while start < input.count {
                            let count = min(deltaFrameCount, input.count - start)
                            var used = 0, made = 0
                            _ = soxr_process(handle, input.baseAddress! + start, count, &used, out.baseAddress, out.count, &made)
                            produced += made
                            start += used
                        }
                        var made = 0
                        repeat {
                            _ = soxr_process(handle, nil, 0, nil, out.baseAddress, out.count, &made)
                            produced += made
                        } while made > 0
                    }
                }
                soxr_delete(handle)
                blackHole(produced)
                benchmark.measurement(.realTimeMultiple, Int(audioSeconds / seconds(since: started)))
            }
        }
    }
}

/// A soxr handle made directly through its C API, float32 in and out, high quality (the anchor's setup).
private func rawSoxr(from inputRate: Int, to outputRate: Int) -> soxr_t? {
    var ioSpec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
    var qualitySpec = soxr_quality_spec(dt_soxr_recipe(2), 0)
    var error: soxr_error_t?
    return soxr_create(Double(inputRate), Double(outputRate), 1, &error, &ioSpec, &qualitySpec, nil)
}
