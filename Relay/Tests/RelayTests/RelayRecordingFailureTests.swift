// Issue 27, item 5: a recording's failure is said when it happens, counted by reason in /metrics (never as finished),
// and said truthfully about what is on disk; a folder deleted while the relay runs is made again.
import Foundation
import Testing

@Suite("Relay: recording failures")
struct RelayRecordingFailureTests {
    typealias Metric = RelayContract.Metric

    /// The output folder replaced by a plain file (so that nothing can be made in it, root or not): the session goes on
    /// unrecorded, the relay says at the session's start that no file was made (never that a file holds anything),
    /// and /metrics counts one failure by its reason and no finished recording.
    @Test func aFolderThatCannotHoldFilesIsSaidAtOnceAndCounted() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav"]) { scenario in
            try FileManager.default.removeItem(at: scenario.outputDirectory)
            try Data("not a folder\n".utf8).write(to: scenario.outputDirectory)
            defer { try? FileManager.default.removeItem(at: scenario.outputDirectory) }
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // Said before the session's end: the line is there once the client has its first messages.
            #expect(await eventually(within: 30) { client.receivedCount >= 1 })
            let line = scenario.relay.standardErrorLines.first { $0.contains("nothing is recorded") }
            #expect(line?.contains("no file was made") == true, "\(scenario.relay.standardErrorLines)")
            #expect(line?.contains("holds the audio") == false, "\(String(describing: line))")
            #expect(await running.value.error == nil)
            #expect(client.received.count == script.serverSteps.count, "forwarding went on")
            var metrics = ""
            _ = try await eventually(within: 20) {
                metrics = try await httpGet(port: scenario.relay.port, path: "/metrics").body
                return metricValue(metrics, Metric.connectionsActive) == 0
            }
            #expect(metricValue(metrics, Metric.recordingsFailed, labels: ["reason=\"cannot_create\""]) == 1, "\(metrics)")
            #expect(metricValue(metrics, Metric.recordingsFinished) ?? 0 == 0, "\(metrics)")
        }
    }

    /// The folder deleted while a session records: its summary says the file is gone (not that it holds the audio), it
    /// counts as failed, not finished; the next session's folder is made again and its recording finishes.
    @Test func aFolderDeletedWhileRecordingIsSaidAndMadeAgain() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // The files are made at the session's start: once the client has its first messages, they are there.
            #expect(await eventually(within: 30) { client.receivedCount >= 1 })
            let first = try #require(try scenario.recordings(extension: "wav").first)
            try FileManager.default.removeItem(at: scenario.outputDirectory)
            #expect(await running.value.error == nil)
            let summary = await scenario.relay.waitForSummary(of: first.lastPathComponent)
            #expect(summary?.contains("nothing of it is on disk") == true, "\(String(describing: summary))")
            #expect(summary?.contains("holds the audio") == false, "\(String(describing: summary))")

            let again = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            #expect(await again.run().error == nil)
            let (file, _) = try await scenario.finishedRecording(connection: 2, extension: "wav")
            #expect(try await readWAVWithPython(file.path).frameCount > 0)
            var metrics = ""
            _ = try await eventually(within: 20) {
                metrics = try await httpGet(port: scenario.relay.port, path: "/metrics").body
                return metricValue(metrics, Metric.recordingsFinished) == 1
            }
            #expect(metricValue(metrics, Metric.recordingsFinished) == 1, "\(metrics)")
            #expect(metricValue(metrics, Metric.recordingsFailed, labels: ["reason=\"file_deleted\""]) == 1, "\(metrics)")
        }
    }
}
