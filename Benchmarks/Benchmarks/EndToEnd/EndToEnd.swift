// End to end: a session log to WAV, against the anchor a user would write by hand (Python json + base64 + wave)
// on the same file in the same run; and peak memory for a 1-hour and a 4-hour session, which must be flat.
//
// Session logs are generated in setup by TestAudio/make-sessions.py (cached in the temporary folder), never committed.
import Benchmark
import DeltaTape
import Foundation

let megabytesPerSecond = BenchmarkMetric.custom("JSONL MB/s", polarity: .prefersLarger, useScalingFactor: false)
let realTimeMultiple = BenchmarkMetric.custom("x real time", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal, megabytesPerSecond, realTimeMultiple],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        scalingFactor: .one,
        maxDuration: .seconds(120),
        maxIterations: 3
    )

    for hours in [1, 4] {
        Benchmark("JSONL to WAV, \(hours) h session", configuration: .init(setup: { _ = try SessionLogFixture.path(hours: hours) })) { benchmark in
            let log = try SessionLogFixture.path(hours: hours)
            let output = SessionLogFixture.folder.appendingPathComponent("deltatape-\(hours)h.wav").path
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let summary = try SessionConverter.convert(input: log, to: .file(output))
                let seconds = (ContinuousClock.now - started).seconds
                blackHole(summary)
                reportSpeed(benchmark, bytes: summary.inputByteCount, audioSeconds: summary.durationSeconds, seconds: seconds)
            }
        }
    }

    Benchmark(
        "Anchor: plain Python json+base64+wave, 1 h session",
        configuration: .init(metrics: [.wallClock, megabytesPerSecond, realTimeMultiple], setup: { _ = try SessionLogFixture.path(hours: 1) })
    ) { benchmark in
        let log = try SessionLogFixture.path(hours: 1)
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

/// Records MB/s of JSONL and the multiple of real time as custom metrics (larger is better).
private func reportSpeed(_ benchmark: Benchmark, bytes: Int, audioSeconds: Double, seconds: Double) {
    benchmark.measurement(megabytesPerSecond, Int(Double(bytes) / 1e6 / seconds))
    benchmark.measurement(realTimeMultiple, Int(audioSeconds / seconds))
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// Long session logs, generated once by the fixture script and kept in the temporary folder between runs.
enum SessionLogFixture {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("deltatape-benchmarks")
    /// Assistant audio in one generated hour (the script fills each hour with assistant speech, user audio beside it).
    static let assistantSecondsPerHour = 3600.0

    static func path(hours: Int) throws -> String {
        let directory = folder.appendingPathComponent("\(hours)h")
        let log = directory.appendingPathComponent("long.jsonl")
        if !FileManager.default.fileExists(atPath: log.path) {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let script = packageRoot.appendingPathComponent("TestAudio/make-sessions.py").path
            try run("python3", [script, directory.path, "--hours", String(hours)])
        }
        return log.path
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments) failed"])
        }
    }
}
