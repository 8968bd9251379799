// Issue 29's logs a pipeline can read: --log-format json writes one JSON object per line, every line read by
// Foundation's JSON parser (not the relay's writer), with each connection's steps, the recording's key and audio
// length checked against the file itself (Python's wave), and never a header or a query.
import Foundation
import Testing
import TestSupport

@Suite("Relay: JSON logs")
struct RelayLogFormatTests {
    /// Each stderr line as a JSON object (a line that is not one fails the test).
    private func objects(_ lines: [String]) -> [[String: Any]] {
        lines.compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            return object
        }
    }

    @Test func everyLineIsAJSONObjectWithTheConnectionsStepsAndTheRecordingsKeyAndLength() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let secrets = ["sk-query-secret-4242", "sk-header-secret-1717"]
        // The upstream ends the session (4001, as a quota error would) once the script is sent: its close frame
        // reaches the relay before anything else ends, so both codes are known (the client answers with its own).
        let ending = FakeUpstream.Ending.close(code: 4001, reason: "quota", afterServerMessages: script.serverSteps.count)
        try await withRelay(upstream: .init(script: script, ending: ending),
                            arguments: ["--log-format", "json", "--instance-id", "relay-a", "--format", "wav"]) { scenario in
            let client = scenario.client(script, path: "/v1/realtime?model=gpt-realtime&key=\(secrets[0])",
                                         headers: [("Authorization", "Bearer \(secrets[1])")])
            let outcome = await client.run()
            #expect(outcome.error == nil && outcome.closeCode == 4001, "\(outcome)")
            #expect(await scenario.relay.waitForLine(within: 30) { $0.contains("\"recording_finished\"") } != nil, "\(scenario.relay.standardErrorLines)")
            scenario.relay.signal(SIGTERM)
            #expect(await scenario.relay.waitForExit(within: 30)?.status == 0)
            _ = await scenario.relay.waitForLine(within: 10) { $0.contains("\"stopped\"") }

            let lines = scenario.relay.standardErrorLines
            for secret in secrets { #expect(!lines.contains { $0.contains(secret) }, "a line holds \(secret)") }
            let events = objects(lines)
            #expect(events.count == lines.count)
            for event in events {
                #expect(event["instance"] as? String == "relay-a", "\(event)")
                #expect(["info", "notice", "warning", "error", "critical"].contains(event["level"] as? String ?? ""), "\(event)")
                #expect(event["message"] is String, "\(event)")
                let time = try #require(event["time"] as? String)
                #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: time) != nil, "time \(time) is not RFC 3339")
            }
            let names = events.compactMap { $0["event"] as? String }
            #expect(names.first == "listening" && names.last == "stopped", "\(names)")
            // Connection 1's steps, in order.
            let first = events.filter { $0["connection"] as? Int == 1 }
            #expect(first.compactMap { $0["event"] as? String } == ["accepted", "upstream_connected", "closed", "recording_finished"],
                    "\(first)")
            #expect(first.first?["path"] as? String == "/v1/realtime", "the path, without its query")
            let closed = try #require(first.first { $0["event"] as? String == "closed" })
            #expect(closed["upstream_close_code"] as? Int == 4001, "\(closed)")
            // The client's answer is said when it reached the relay before the connection closed (a loaded machine
            // can close first); the test's client answers a close frame with 1000.
            #expect(closed["client_close_code"] == nil || closed["client_close_code"] as? Int == 1000, "\(closed)")
            #expect((closed["seconds"] as? Double ?? -1) > 0, "\(closed)")
            let finished = try #require(first.first { $0["event"] as? String == "recording_finished" })
            // The key is the file as it stands, named after the session's id (ga-basic's session.created says sess_001).
            let file = URL(fileURLWithPath: try #require(finished["key"] as? String, "\(finished)"))
            #expect(file.deletingLastPathComponent().path == scenario.outputDirectory.path, "\(file.path)")
            #expect(RelayContract.isRecordingName(file.lastPathComponent, connection: 1, extension: "wav") && file.lastPathComponent.contains("-1-sess_001-"),
                    "\(file.lastPathComponent)")
            #expect(try scenario.recordings(extension: "wav") == [file], "only the renamed file stands")
            let wav = try await readWAVWithPython(file.path)
            let seconds = try #require(finished["audio_seconds"] as? Double, "\(finished)")
            #expect(abs(seconds - Double(wav.frameCount) / Double(wav.sampleRate)) < 1e-6, "\(seconds) s said, \(wav.frameCount) frames at \(wav.sampleRate) Hz")
        }
    }

    @Test func aWrongLogFormatIsRefusedInWords() async throws {
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-log-format")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await onThread {
            try TestSupport.run(RelayTestEnvironment.relayExecutable.path,
                                ["--upstream", "ws://127.0.0.1:9", "--output-dir", folder.path, "--log-format", "xml"])
        }
        #expect(result.status == 64)
        #expect(result.standardError.contains("--log-format xml: expected prose or json"), "\(result.standardError)")
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, as the relay's JSON lines write `time`.
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
