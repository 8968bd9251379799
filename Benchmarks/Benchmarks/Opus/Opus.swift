// A session log to WebM Opus against libopus encoding the same PCM alone (in memory, same settings), in the same
// run, at complexity 5 and 10: everything but the encoder (reading, base64, framing, EBML, writing) should hide
// behind it. The 10-minute session is generated in setup by TestAudio/make-sessions.py and never committed.
import Benchmark
import BenchmarkSupport
import COpus
@_spi(Blocks) import DeltaTape
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal, .realTimeMultiple],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        scalingFactor: .one,
        maxDuration: .seconds(60),
        maxIterations: 3,
        thresholds: mallocThresholds()
    )

    for complexity in [5, 10] {
        let settings = OpusSettings(complexity: complexity)
        Benchmark("session log to WebM, complexity \(complexity)", configuration: .init(setup: { _ = try Fixture.log() })) { benchmark in
            let log = try Fixture.log()
            let output = SessionLogFixture.folder.appendingPathComponent("opus-\(complexity).webm").path
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let summary = try SessionConverter.convert(input: log, to: .file(output), options: ConversionOptions(format: .webm, opus: settings))
                benchmark.measurement(.realTimeMultiple, Int(summary.durationSeconds / seconds(since: started)))
            }
        }

        Benchmark("libopus encode alone, same PCM in memory, complexity \(complexity) (anchor)", configuration: .init(setup: { _ = try Fixture.pcm() })) { benchmark in
            let pcm = try Fixture.pcm()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                var status: Int32 = 0
                let encoder = opus_encoder_create(24_000, 1, dt_opus_application_audio(), &status)!
                _ = dt_opus_set_complexity(encoder, Int32(complexity))
                var packet = [UInt8](repeating: 0, count: 4000)
                var bytes = 0
                pcm.withUnsafeBufferPointer { samples in
                    packet.withUnsafeMutableBufferPointer { out in
                        var start = 0
                        while start + 480 <= samples.count {
                            bytes += Int(opus_encode(encoder, samples.baseAddress! + start, 480, out.baseAddress!, Int32(out.count)))
                            start += 480
                        }
                    }
                }
                opus_encoder_destroy(encoder)
                blackHole(bytes)
                benchmark.measurement(.realTimeMultiple, Int(Double(pcm.count) / 24_000 / seconds(since: started)))
            }
        }
    }
}

/// The 10-minute session log, and its assistant PCM (decoded once, through a WAV conversion, into memory).
enum Fixture {
    static func log() throws -> String {
        try SessionLogFixture.log(hours: 0.1667)
    }

    static func pcm() throws -> [Int16] {
        let wav = SessionLogFixture.folder.appendingPathComponent("opus-track.wav").path
        _ = try SessionConverter.convert(input: log(), to: .file(wav))
        let reader = try AudioFileReader(path: wav)
        var samples: [Int16] = []
        while let block = try reader.nextBlock() { samples.append(contentsOf: block) }
        return samples
    }
}
