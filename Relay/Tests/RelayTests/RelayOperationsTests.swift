// SPEC §9 operations: GET /healthz, GET /metrics in Prometheus text format (connections, frames and bytes each way,
// recordings finished and abandoned, recording lag), the counts checked against what the test's own sides sent.
import Foundation
import Testing

@Suite("Relay: operations")
struct RelayOperationsTests {
    @Test func healthzAnswers200() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script)) { scenario in
            let answer = try await httpGet(port: scenario.relay.port, path: "/healthz")
            #expect(answer.status == 200)
        }
    }

    @Test func metricsCountConnectionsFramesBytesAndRecordingsAsTheyHappened() async throws {
        typealias Metric = RelayContract.Metric
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).withUnusualFrames()
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--track", "both"]) { scenario in
            let port = scenario.relay.port
            let initial = try await httpGet(port: port, path: "/metrics")
            #expect(initial.status == 200)
            for name in [Metric.connectionsActive, Metric.framesTotal, Metric.bytesTotal, Metric.recordingsFinished,
                         Metric.recordingsAbandoned, Metric.recordingLag] {
                #expect(initial.body.contains("# TYPE \(name)") || initial.body.contains("# TYPE \(name.replacingOccurrences(of: "_total", with: ""))"),
                        "no TYPE line for \(name)")
            }
            #expect(metricValue(initial.body, Metric.connectionsActive) ?? 0 == 0)

            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // While the session is open, one connection is active.
            #expect(await eventually(within: 30) { client.receivedCount >= 3 })
            let during = try await httpGet(port: port, path: "/metrics")
            #expect(metricValue(during.body, Metric.connectionsActive) == 1)
            #expect(metricValue(during.body, Metric.recordingLag) != nil)
            expectClean(await running.value, relay: scenario.relay)
            _ = try await scenario.finishedRecording(extension: "wav")

            let connection = try #require(scenario.upstream.connections.first)
            var after = ""
            // Counters settle once the connection is closed on both sides.
            _ = try await eventually(within: 20) {
                after = try await httpGet(port: port, path: "/metrics").body
                return metricValue(after, Metric.connectionsActive) == 0
                    && metricValue(after, Metric.recordingsFinished) == 1
            }
            #expect(metricValue(after, Metric.connectionsActive) == 0)
            #expect(metricValue(after, Metric.recordingsFinished) == 1)
            #expect(metricValue(after, Metric.recordingsAbandoned) ?? 0 == 0)
            // Frames and bytes: data messages and their payload bytes, as each side counted what it sent.
            #expect(metricValue(after, Metric.framesTotal, labels: [Metric.clientToUpstream]) == Double(client.sent.count))
            #expect(metricValue(after, Metric.framesTotal, labels: [Metric.upstreamToClient]) == Double(connection.sent.count))
            #expect(metricValue(after, Metric.bytesTotal, labels: [Metric.clientToUpstream]) == Double(client.sent.map(\.byteCount).reduce(0, +)))
            #expect(metricValue(after, Metric.bytesTotal, labels: [Metric.upstreamToClient]) == Double(connection.sent.map(\.byteCount).reduce(0, +)))
        }
    }

    @Test func metricsCountAnAbandonedRecording() async throws {
        typealias Metric = RelayContract.Metric
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        let fifos = StalledRecordingFIFOs()
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--recording-buffer", "65536"],
                            environment: fifos.environment(in:), prepareOutput: fifos.create(in:)) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await client.run(), relay: scenario.relay)
            #expect(await scenario.relay.waitForLine(within: 20) { $0.contains("abandoned") } != nil)
            let metrics = try await httpGet(port: scenario.relay.port, path: "/metrics")
            #expect(metricValue(metrics.body, Metric.recordingsAbandoned) == 1)
            await fifos.drain(in: scenario.outputDirectory)
        }
    }
}
