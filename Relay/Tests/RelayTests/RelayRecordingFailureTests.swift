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
            expectClean(await running.value, relay: scenario.relay)
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
            expectClean(await running.value, relay: scenario.relay)
            let summary = await scenario.relay.waitForSummary(of: first.lastPathComponent)
            #expect(summary?.contains("nothing of it is on disk") == true, "\(String(describing: summary))")
            #expect(summary?.contains("holds the audio") == false, "\(String(describing: summary))")

            let again = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await again.run(), relay: scenario.relay)
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

@Suite("Relay: a message larger than the recording buffer")
struct RelayRecordingBufferTests {
    /// A message larger than `--recording-buffer` (and within `--max-message-bytes`) is forwarded, not recorded, and
    /// said so; the recording goes on and finishes. It used to abandon the recording as if the disk were too slow, and
    /// a session whose first audio was that message was then said to keep a file it did not have.
    @Test func isForwardedNotRecordedAndTheRecordingGoesOn() async throws {
        var steps = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let index = try #require(steps.serverSteps.firstIndex { step in
            if case .text(let text) = step.frame { text.contains("audio.delta") } else { false }
        })
        guard case .text(let text) = steps.serverSteps[index].frame,
              var delta = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            Issue.record("no delta to copy"); return
        }
        // 2.25 MiB of PCM16: 3 MiB of base64, past the 2 MiB buffer, which the rest of the session (1.1 MB) cannot fill
        // however slow the recorder is (it runs at the lowest priority: under load, a 64 KiB buffer was abandoned).
        delta["delta"] = Data(repeating: 0x11, count: 9 << 18).base64EncodedString()
        let large = String(decoding: try JSONSerialization.data(withJSONObject: delta), as: UTF8.self)
        steps.serverSteps.insert(.init(frame: .text(large), audioSeconds: 1, clientMessagesBefore: steps.serverSteps[index].clientMessagesBefore),
                                 at: index)
        let script = steps
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--recording-buffer", "2097152"]) { scenario in
            #expect(scenario.relay.standardErrorLines.contains { $0.contains("note: messages larger than --recording-buffer (2097152 bytes)") },
                    "\(scenario.relay.standardErrorLines)")
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await client.run(), relay: scenario.relay)
            #expect(client.received.contains(.text(large)), "the large message was forwarded")
            let (file, summary) = try await scenario.finishedRecording(extension: "wav")
            #expect(!summary.contains("abandoned"), "\(summary)")
            #expect(summary.contains("1 message forwarded but not recorded (1 larger than --max-message-bytes)"), "\(summary)")
            #expect(scenario.relay.standardErrorLines.contains { $0.contains("it is larger than --max-message-bytes (2097152)") })
            #expect(try await readWAVWithPython(file.path).frameCount > 0)
        }
    }
}
