// Object storage (issue 28): the 1-hour session log converted by the `deltatape` process into an S3 object on
// loopback (SeaweedFS, started here as the storage tests start it, sharing this machine's cores), against the same
// log into a local file in the same run: wall time, and the process's peak resident memory (GNU time's %M; the
// benchmark's own memory metrics would measure this process, not the one converting). The issue asks for at most
// 1.5 times the local file's time and 48 MB of peak RSS.
import Benchmark
import BenchmarkSupport
import Foundation
import TestSupport

extension BenchmarkMetric {
    /// The converting process's peak resident set, in MB.
    static let processPeakMegabytes = BenchmarkMetric.custom("process peak RSS MB", polarity: .prefersSmaller, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .jsonlMegabytesPerSecond, .processPeakMegabytes],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(120),
        maxIterations: 5,
        thresholds: [:]
    )
    let key = "benchmark-\(getpid())/1h.wav"
    let anchorWAV = SessionLogFixture.folder.appendingPathComponent("object-storage-anchor-1h.wav").path
    for target in ["a local file", "an S3 object"] {
        Benchmark("Process: deltatape convert to WAV into \(target), 1 h session",
                  configuration: .init(setup: { _ = try SessionLogFixture.log(hours: 1); _ = try SessionLogFixture.deltatapeExecutable() })) { benchmark in
            let log = try SessionLogFixture.log(hours: 1)
            let executable = try SessionLogFixture.deltatapeExecutable()
            let bytes = try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0
            var environment: [String: String] = [:]
            let output: String
            if target == "an S3 object" {
                let server = try S3TestServer.shared()
                output = "s3://\(server.bucket)/\(key)"
                environment = ["AWS_ACCESS_KEY_ID": server.accessKeyID, "AWS_SECRET_ACCESS_KEY": server.secretAccessKey,
                               "AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": server.region,
                               "XDG_CACHE_HOME": SessionLogFixture.folder.appendingPathComponent("cache").path]
            } else {
                output = anchorWAV
            }
            let peakFile = SessionLogFixture.folder.appendingPathComponent("peak-\(getpid()).txt").path
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                try SessionLogFixture.run("/usr/bin/time", ["-o", peakFile, "-f", "%M", executable, "convert", log, "-o", output, "--quiet"],
                                          environment: environment)
                let seconds = seconds(since: started)
                benchmark.measurement(.jsonlMegabytesPerSecond, Int(Double(bytes) / 1e6 / seconds))
                let peakKiB = Int((try String(contentsOfFile: peakFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                benchmark.measurement(.processPeakMegabytes, peakKiB * 1_024 / 1_000_000)
            }
        }
    }

    // The server's own floor: the same WAV's bytes (the local file's output) put in one request by curl, which signs
    // as the tests' reference client does. What uploading 173 MB to this server on these cores costs, whoever sends it.
    Benchmark("Anchor: curl PutObject of the WAV's bytes to the same server, 1 h session",
              configuration: .init(metrics: [.wallClock], setup: {
                  try SessionLogFixture.run(try SessionLogFixture.deltatapeExecutable(),
                                            ["convert", try SessionLogFixture.log(hours: 1), "-o", anchorWAV, "--quiet"])
              })) { benchmark in
        let server = try S3TestServer.shared()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let answer = try server.curl("PUT", "/\(server.bucket)/\(key).anchor", ["-T", anchorWAV])
            guard answer.status == 200 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "curl PUT: \(answer.status)"]) }
        }
    }
}
