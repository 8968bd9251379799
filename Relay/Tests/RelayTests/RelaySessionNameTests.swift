// Issue 29's names no two relays can share: a recording is named after its session's own id (from the wire, so made
// safe first), a random part and the UTC start, and a name already taken is never written over, on disk or in a bucket.
@_spi(Blocks) import DeltaTape
@testable import DeltaTapeRelay
import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

@Suite("Relay: names from the session's id")
struct RelaySessionNameTests {
    /// The start the tests' recordings are named by (`DELTATAPE_RELAY_TEST_START`): 2026-12-01T00:00:00Z.
    static let start = 1_796_083_200.0

    // MARK: the id, as each vocabulary gives it

    @Test func eachVocabularyGivesItsSessionsID() {
        func id(_ json: String) -> String? { SessionIdentity.id(in: Array(json.utf8)) }
        #expect(id(#"{"type":"session.created","event_id":"e1","session":{"id":"sess_C9x2","object":"realtime.session"}}"#) == "sess_C9x2")
        #expect(id(#"{"type":"session.updated","session":{"id":"sess_beta_7"}}"#) == "sess_beta_7")
        #expect(id(#"{"event":"start","sequenceNumber":"1","streamSid":"MZ18ad3ab5","start":{"streamSid":"MZ18ad3ab5","callSid":"CA1"}}"#) == "MZ18ad3ab5")
        #expect(id(#"{"event":"start","start":{"streamSid":"MZonlyinside"}}"#) == "MZonlyinside")
        #expect(id(#"{"type":"conversation_initiation_metadata","conversation_initiation_metadata_event":{"conversation_id":"conv_01jx","agent_output_audio_format":"pcm_16000"}}"#) == "conv_01jx")
        // Gemini Live names no session; other events, binary-looking text and non-objects give nothing.
        #expect(id(#"{"setupComplete":{}}"#) == nil)
        #expect(id(#"{"type":"response.created","response":{"id":"resp_1"}}"#) == nil)
        #expect(id(#"{"event":"media","streamSid":"MZ1","media":{"payload":"AA=="}}"#) == nil)
        #expect(id(#"["session.created"]"#) == nil)
        #expect(id("not json") == nil)
        #expect(id(#"{"type":"session.created","session":{"id":42}}"#) == nil)
    }

    @Test func anIDFromTheWireIsMadeSafeForAPathOrAKey() {
        // Each expectation follows the rule by hand: letters, digits, _ and - kept, anything else _, ends trimmed, 48 at most.
        #expect(SessionIdentity.sanitized("sess_ABC-123") == "sess_ABC-123")
        #expect(SessionIdentity.sanitized("../../../etc/passwd") == "etc_passwd")
        #expect(SessionIdentity.sanitized("a/b\\c") == "a_b_c")
        #expect(SessionIdentity.sanitized("x\u{0}y") == "x_y")
        #expect(SessionIdentity.sanitized("café 🎙 ok") == "caf____ok")
        #expect(SessionIdentity.sanitized(String(repeating: "a", count: 200)) == String(repeating: "a", count: 48))
        #expect(SessionIdentity.sanitized("..") == nil)
        #expect(SessionIdentity.sanitized("/") == nil)
        #expect(SessionIdentity.sanitized("") == nil)
        #expect(SessionIdentity.sanitized("\u{0}\u{0}") == nil)
        #expect(SessionIdentity.sanitized("-rf") == "rf", "never a name that starts like an option")
    }

    // MARK: the relay

    /// ga-basic's log with its session.created's id replaced by `id` (JSON-escaped), as a log of its own.
    private func sessionLog(withID id: String) async throws -> String {
        let original = try String(contentsOfFile: try await RelaySessions.log("ga-basic"), encoding: .utf8)
        #expect(original.contains(#""sess_001""#), "the fixture's session.created names sess_001")
        let escaped = String(decoding: try JSONSerialization.data(withJSONObject: [id], options: [.withoutEscapingSlashes]), as: UTF8.self)
            .dropFirst().dropLast()
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-hostile-id")
        let path = folder.appendingPathComponent("ga-hostile-id.jsonl").path
        try original.replacingOccurrences(of: #""sess_001""#, with: String(escaped)).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aHostileIDNamesTheRecordingInsideTheOutputFolderOnly() async throws {
        let hostile = "../../../etc/x\u{0}/é🎙-tail" + String(repeating: "z", count: 100)
        let script = try await SessionScript.load(try await sessionLog(withID: hostile))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--save-log"]) { scenario in
            expectClean(await scenario.client(script, closesAfterReceiving: script.serverSteps.count).run(), relay: scenario.relay)
            let (file, summary) = try await scenario.finishedRecording(extension: "wav")
            // The id by the rule: `../../../` → 9 `_`, then etc, `/` → _, x, NUL / é 🎙 → 4 `_`, -tail, the z's; leading
            // `_` trimmed; 48 characters in all.
            let expectedID = String(("etc_x____-tail" + String(repeating: "z", count: 100)).prefix(48))
            #expect(file.lastPathComponent.contains("-1-\(expectedID)-"), "\(file.lastPathComponent)")
            #expect(summary.contains(file.path))
            let names = try FileManager.default.contentsOfDirectory(atPath: scenario.outputDirectory.path).sorted()
            #expect(names == [file.lastPathComponent, file.deletingPathExtension().lastPathComponent + ".jsonl"].sorted(), "\(names)")
            #expect(file.deletingLastPathComponent().path == scenario.outputDirectory.path)
            #expect(!FileManager.default.fileExists(atPath: scenario.outputDirectory.appendingPathComponent("../../../etc/x").standardized.path),
                    "nothing was made where the raw id points")
            let same = try await readWAVWithPython(file.path).samples == RelaySessions.expectedAssistant("ga-basic")
            #expect(same, "the recording's samples differ from the generator's")
        }
    }

    /// A file standing at the name the recording would be given at its end (a planted one, or another relay's of the
    /// same second) is never written over: the recording takes a fresh random part.
    @Test func aFileAtTheFinalNameIsNeverWrittenOver() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let random = "aaaaaaaaaa"
        let planted = [ConnectionRecording.timestamp(Self.start) + "-1-sess_001-\(random).wav"]
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav"],
                            environment: { _ in ["DELTATAPE_RELAY_TEST_NAMES": random, "DELTATAPE_RELAY_TEST_START": "\(Self.start)"] },
                            prepareOutput: { folder in
                                for name in planted { try Data("planted".utf8).write(to: folder.appendingPathComponent(name)) }
                            }) { scenario in
            expectClean(await scenario.client(script, closesAfterReceiving: script.serverSteps.count).run(), relay: scenario.relay)
            let (file, _) = try await scenario.finishedRecording(extension: "wav")
            let stamp = ConnectionRecording.timestamp(Self.start)
            #expect(file.lastPathComponent.hasPrefix(stamp + "-1-sess_001-") && !file.lastPathComponent.hasSuffix("-\(random).wav"),
                    "\(file.lastPathComponent) (the planted name was \(planted))")
            for name in planted {
                #expect(try Data(contentsOf: scenario.outputDirectory.appendingPathComponent(name)) == Data("planted".utf8), "\(name)")
            }
            let same = try await readWAVWithPython(file.path).samples == RelaySessions.expectedAssistant("ga-basic")
            #expect(same, "the recording's samples differ from the generator's")
            #expect(try scenario.recordings(extension: "wav").filter { !planted.contains($0.lastPathComponent) } == [file],
                    "the provisional name is gone")
        }
    }

    /// Two relays of a fleet on one folder, their sessions started in the same second, each relay's first random part
    /// the same (as if the generators agreed) and one session id: both recordings are kept, whole, under two names.
    @Test func twoRelaysOnOneFolderInTheSameSecondKeepBothRecordings() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-shared-folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try await twoRelaysRecordAtOnce(script: script, outputDirectory: folder, outputArgument: nil, environment: [:])
        let stem = ConnectionRecording.timestamp(RelaySessionNameTests.start) + "-1-sess_001-"
        #expect(files.count == 2 && files.allSatisfy { $0.hasPrefix(stem) } && files.contains(stem + "aaaaaaaaaa.wav"),
                "both relays wanted \(stem)aaaaaaaaaa.wav: \(files)")
        for name in files {
            let same = try await readWAVWithPython(folder.appendingPathComponent(name).path).samples == RelaySessions.expectedAssistant("ga-basic")
            #expect(same, "\(name): its samples differ from the generator's")
        }
    }
}

/// Runs one session through each of two relays on `outputDirectory` at once, both told to name their recordings as
/// begun at ``RelaySessionNameTests/start`` with the same first random part (`DELTATAPE_RELAY_TEST_START`,
/// `DELTATAPE_RELAY_TEST_NAMES`: sessions of one second, generators that agree); returns the names of the `.wav`
/// recordings there, once both relays said their summary.
func twoRelaysRecordAtOnce(script: SessionScript, outputDirectory: URL, outputArgument: String?, environment: [String: String],
                           arguments: [String] = [], list: (@Sendable () async throws -> [String])? = nil) async throws -> [String] {
    let upstream = FakeUpstream(.init(script: script))
    return try await upstream.run { port in
        var settings = environment
        settings["DELTATAPE_RELAY_TEST_NAMES"] = "aaaaaaaaaa"
        settings["DELTATAPE_RELAY_TEST_START"] = "\(RelaySessionNameTests.start)"
        let relays = [try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: outputDirectory,
                                             outputDirectoryArgument: outputArgument, arguments: arguments + ["--format", "wav"], environment: settings),
                      try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: outputDirectory,
                                             outputDirectoryArgument: outputArgument, arguments: arguments + ["--format", "wav"], environment: settings)]
        defer { relays.forEach { $0.stop() } }
        let outcomes = await withTaskGroup(of: (Int, RealtimeClient.Outcome).self) { group in
            for (index, relay) in relays.enumerated() {
                group.addTask {
                    let client = RealtimeClient(.init(url: relay.webSocketBase + "/v1/realtime?model=gpt-realtime", headers: [], script: script,
                                                      pace: RelayTestEnvironment.pace, closesAfterReceiving: script.serverSteps.count))
                    return (index, await client.run())
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (index, relay) in relays.enumerated() { expectClean(outcomes[index] ?? .init(error: "no outcome"), relay: relay) }
        for relay in relays {
            #expect(await relay.waitForLine(within: 60) { $0.contains(".wav: ") && $0.contains(" s of audio") } != nil, "\(relay.standardErrorLines)")
        }
        if let list { return try await list() }
        return try FileManager.default.contentsOfDirectory(atPath: outputDirectory.path).filter { $0.hasSuffix(".wav") }.sorted()
    }
}
