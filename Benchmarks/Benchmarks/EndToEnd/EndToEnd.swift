// End to end: a session log to WAV, against the anchor a user would write by hand (Python json + base64 + wave)
// on the same file in the same run; and peak memory for a 1-hour and a 4-hour session, which must be flat.
//
// Session logs are generated in setup by TestAudio/make-sessions.py (cached in the temporary folder), never committed.
import Benchmark
import BenchmarkSupport
import DeltaTape
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal, .jsonlMegabytesPerSecond, .realTimeMultiple],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        scalingFactor: .one,
        maxDuration: .seconds(120),
        maxIterations: 3,
        // A whole-session conversion's count varies by about a tenth from run to run (seen: 1047 to 1155 for the
        // 1-hour session), so this suite allows 15%.
        thresholds: mallocThresholds(percent: 15)
    )

    for hours in [1, 4] {
        Benchmark("JSONL to WAV, \(hours) h session", configuration: .init(setup: { _ = try SessionLogFixture.log(hours: Double(hours)) })) { benchmark in
            let log = try SessionLogFixture.log(hours: Double(hours))
            let output = SessionLogFixture.folder.appendingPathComponent("deltatape-\(hours)h.wav").path
            try measureConversions(benchmark, of: log, to: output, options: ConversionOptions())
        }
    }

    // Both tracks on one clock, stereo, against the assistant's track alone above (issue 11: goal at most 1.3× its time).
    Benchmark("JSONL to stereo WAV (--track both), 1 h session", configuration: .init(setup: { _ = try SessionLogFixture.log(hours: 1) })) { benchmark in
        let log = try SessionLogFixture.log(hours: 1)
        let output = SessionLogFixture.folder.appendingPathComponent("deltatape-1h-both.wav").path
        try measureConversions(benchmark, of: log, to: output, options: ConversionOptions(track: .both))
    }

    // Every answer truncated: items are held until their cut arrives, so the peak must stay flat from 1 h to 4 h.
    for hours in [1, 4] {
        Benchmark("Stereo WAV with truncations, \(hours) h session",
                  configuration: .init(setup: { _ = try SessionLogFixture.log(hours: Double(hours), truncations: true) })) { benchmark in
            let log = try SessionLogFixture.log(hours: Double(hours), truncations: true)
            let output = SessionLogFixture.folder.appendingPathComponent("deltatape-\(hours)h-truncated.wav").path
            try measureConversions(benchmark, of: log, to: output, options: ConversionOptions(track: .both))
        }
    }

    // A relay's or an archiver's path: the messages of a session handed to a SessionRecorder one by one, to a WAV file,
    // with the journal a kill is rebuilt from (one write(2) of each message's log line) and without it, in one run:
    // what the journal costs (issue 27, item 3).
    for keepsJournal in [true, false] {
        Benchmark("Recorder: 15 min session message by message to WAV, \(keepsJournal ? "with" : "without") its journal",
                  configuration: .init(setup: { _ = try SessionLogFixture.log(hours: 0.25) })) { benchmark in
            let log = try SessionLogFixture.log(hours: 0.25)
            let lines = try Data(contentsOf: URL(fileURLWithPath: log)).split(separator: 0x0A).map { Array($0) }
            let output = SessionLogFixture.folder.appendingPathComponent("recorder-\(keepsJournal).wav").path
            let bytes = lines.reduce(0) { $0 + $1.count + 1 }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let recorder = SessionRecorder(sink: .file(output), keepsJournal: keepsJournal)
                for line in lines { try await recorder.record(line) }
                _ = try await recorder.finish()
                reportSpeed(benchmark, bytes: bytes, audioSeconds: SessionLogFixture.assistantSecondsPerHour / 4,
                            seconds: (ContinuousClock.now - started).seconds)
            }
        }
    }

    // The whole process, as a user runs it: starting, reading the file, writing a real file (issue 15's measure
    // against the Python anchor, which is a whole process too).
    for (name, arguments) in [("to WAV", [String]()), ("to stereo WAV (--track both)", ["--track", "both"])] {
        Benchmark("Process: deltatape convert \(name), 1 h session",
                  configuration: .init(metrics: [.wallClock, .jsonlMegabytesPerSecond, .realTimeMultiple], thresholds: [:],
                                       setup: { _ = try SessionLogFixture.log(hours: 1); _ = try SessionLogFixture.deltatapeExecutable() })) { benchmark in
            let log = try SessionLogFixture.log(hours: 1)
            let executable = try SessionLogFixture.deltatapeExecutable()
            let output = SessionLogFixture.folder.appendingPathComponent("process-1h.wav").path
            let bytes = try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                try SessionLogFixture.run(executable, ["convert", log, "-o", output, "--quiet"] + arguments)
                let seconds = (ContinuousClock.now - started).seconds
                reportSpeed(benchmark, bytes: bytes, audioSeconds: SessionLogFixture.assistantSecondsPerHour, seconds: seconds)
            }
        }
    }

    Benchmark(
        "Anchor: plain Python json+base64+wave, 1 h session",
        configuration: .init(metrics: [.wallClock, .jsonlMegabytesPerSecond, .realTimeMultiple], thresholds: [:], setup: { _ = try SessionLogFixture.log(hours: 1) })
    ) { benchmark in
        let log = try SessionLogFixture.log(hours: 1)
        let output = SessionLogFixture.folder.appendingPathComponent("python-1h.wav").path
        let script = SessionLogFixture.packageRoot.appendingPathComponent("Benchmarks/Anchors/plain_convert.py").path
        let bytes = try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let started = ContinuousClock.now
            try SessionLogFixture.run("python3", [script, log, output])
            let seconds = (ContinuousClock.now - started).seconds
            reportSpeed(benchmark, bytes: bytes, audioSeconds: SessionLogFixture.assistantSecondsPerHour, seconds: seconds)
        }
    }
}

/// Converts `log` to `output` in process once per iteration, measured, with its speed.
private func measureConversions(_ benchmark: Benchmark, of log: String, to output: String, options: ConversionOptions) throws {
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
        let started = ContinuousClock.now
        let summary = try SessionConverter.convert(input: log, to: .file(output), options: options)
        let seconds = (ContinuousClock.now - started).seconds
        blackHole(summary)
        reportSpeed(benchmark, bytes: summary.inputByteCount, audioSeconds: summary.durationSeconds, seconds: seconds)
    }
}

/// Records MB/s of JSONL and the multiple of real time as custom metrics (larger is better).
private func reportSpeed(_ benchmark: Benchmark, bytes: Int, audioSeconds: Double, seconds: Double) {
    benchmark.measurement(.jsonlMegabytesPerSecond, Int(Double(bytes) / 1e6 / seconds))
    benchmark.measurement(.realTimeMultiple, Int(audioSeconds / seconds))
}
