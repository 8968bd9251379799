// Issue 26: every flag of the relay honoured or refused with a sentence in deltatape's voice (exit 64), as convert's
// are; a folder given with its slash makes no `//` in the names. (The 502 line's words: RelayForwardingTests.)
import Foundation
import Testing
import TestSupport

/// One start of `deltatape-relay` with these arguments (after `--listen 127.0.0.1:0 --upstream … --output-dir …`):
/// refused with `message` (exit 64), or, when `message` is nil, listening (then stopped with SIGTERM).
struct RelayFlagCase: Sendable, CustomTestStringConvertible {
    var arguments: [String]
    var message: String?
    var testDescription: String { arguments.joined(separator: " ") + (message == nil ? " (accepted)" : " (refused)") }
}

@Suite struct RelayFlagTests {
    static let cases: [RelayFlagCase] = [
        // Accepted: each flag alone and with what it goes with; bitrates as convert takes them.
        RelayFlagCase(arguments: ["--format", "ogg", "--bitrate", "32k"]),
        RelayFlagCase(arguments: ["--format", "webm", "--bitrate", "24000", "--complexity", "5"]),
        RelayFlagCase(arguments: ["--format", "opus"]),
        RelayFlagCase(arguments: ["--track", "user"]),
        RelayFlagCase(arguments: ["--track", "both", "--layout", "separate"]),
        RelayFlagCase(arguments: ["--track", "both", "--layout", "mono", "--save-log"]),
        RelayFlagCase(arguments: ["--recording-buffer", "65536", "--grace-period", "0"]),
        RelayFlagCase(arguments: ["--request-timeout", "0", "--max-connections", "1", "--idle-timeout", "0"]),
        RelayFlagCase(arguments: ["--max-message-bytes", "1024", "--recording-memory", "1048576"]),
        // Refused, each with a sentence that names the flag.
        RelayFlagCase(arguments: ["--bitrate", "32k"], message: "--complexity and --bitrate are for ogg and webm: WAV is not encoded"),
        RelayFlagCase(arguments: ["--complexity", "5"], message: "--complexity and --bitrate are for ogg and webm: WAV is not encoded"),
        RelayFlagCase(arguments: ["--format", "ogg", "--bitrate", "32q"], message: "--bitrate 32q: expected 500...512000 bits per second"),
        RelayFlagCase(arguments: ["--format", "ogg", "--bitrate", "900k"], message: "--bitrate 900k: expected 500...512000 bits per second"),
        RelayFlagCase(arguments: ["--format", "ogg", "--complexity", "11"], message: "--complexity 11: expected 0...10"),
        RelayFlagCase(arguments: ["--format", "flac"], message: "--format flac: expected wav, ogg or webm"),
        RelayFlagCase(arguments: ["--track", "caller"], message: "--track caller: expected assistant, user or both"),
        RelayFlagCase(arguments: ["--layout", "mono"], message: "--layout mono lays out both tracks; add --track both"),
        RelayFlagCase(arguments: ["--track", "both", "--layout", "wide"], message: "--layout wide: expected stereo, mono or separate"),
        RelayFlagCase(arguments: ["--recording-buffer", "0"], message: "--recording-buffer 0: expected a number of bytes"),
        RelayFlagCase(arguments: ["--drain-timeout", "-1"], message: "--drain-timeout -1.0: expected seconds, 0 or more"),
        // Its name before drains (issue 29) is still taken, and refused as the new one is.
        RelayFlagCase(arguments: ["--grace-period", "-1"], message: "--drain-timeout -1.0: expected seconds, 0 or more"),
        RelayFlagCase(arguments: ["--drain-timeout", "0.5", "--admin-listen", "127.0.0.1:0"]),
        RelayFlagCase(arguments: ["--admin-listen", "8080"], message: "--admin-listen 8080: expected HOST:PORT, the port a number in 0...65535"),
        RelayFlagCase(arguments: ["--request-timeout", "-1"], message: "--request-timeout -1.0: expected seconds, 0 or more"),
        RelayFlagCase(arguments: ["--idle-timeout", "-1"], message: "--idle-timeout -1.0: expected seconds, 0 or more"),
        RelayFlagCase(arguments: ["--max-connections", "0"], message: "--max-connections 0: expected a number of connections, at least 1"),
        RelayFlagCase(arguments: ["--max-message-bytes", "1023"], message: "--max-message-bytes 1023: expected a number of bytes, at least 1024"),
        RelayFlagCase(arguments: ["--recording-memory", "-1"], message: "--recording-memory -1: expected a number of bytes, at least 1 MiB"),
        RelayFlagCase(arguments: ["--listen", "8765"], message: "--listen 8765: expected HOST:PORT"),
        // The argument parser's own errors, in the same voice.
        RelayFlagCase(arguments: ["--frobnicate"], message: "Unknown option '--frobnicate'"),
        RelayFlagCase(arguments: ["--complexity", "five"], message: "The value 'five' is invalid for '--complexity <complexity>'"),
    ]

    @Test(arguments: cases)
    func flag(_ testCase: RelayFlagCase) async throws {
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-flags")
        defer { try? FileManager.default.removeItem(at: folder) }
        guard let message = testCase.message else {
            // Nothing listens on port 9: the relay starts without an upstream, which it opens per client.
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:9", outputDirectory: folder, arguments: testCase.arguments)
            relay.signal(SIGTERM)
            let exit = await relay.waitForExit(within: 30)
            #expect(exit?.status == 0 && exit?.signalled == false, "\(String(describing: exit)); \(relay.standardErrorLines)")
            return
        }
        let process = Process()
        process.executableURL = RelayTestEnvironment.relayExecutable
        process.arguments = ["--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:9", "--output-dir", folder.path] + testCase.arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        waitForExit(process)
        #expect(process.terminationStatus == 64, "\(text)")
        #expect(text.hasPrefix("deltatape: error: "), "\(text)")
        #expect(text.contains(message), "\(text)")
        #expect(!text.contains("listening on"), "\(text)")
    }

    @Test func aFolderGivenWithItsSlashNamesRecordingsWithOne() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let upstream = FakeUpstream(.init(script: script))
        try await upstream.run { port in
            // The last --output-dir given counts: the folder again, spelled with a slash at its end.
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder,
                                               arguments: ["--output-dir", folder.path + "/"])
            defer { relay.stop() }
            let scenario = RelayScenario(relay: relay, upstream: upstream, outputDirectory: folder)
            #expect(await scenario.client(script, closesAfterReceiving: script.serverSteps.count).run().error == nil)
            let (file, summary) = try await scenario.finishedRecording(extension: "wav")
            #expect(summary.contains(folder.path + "/" + file.lastPathComponent), "\(summary)")
            #expect(!summary.contains("//"), "\(summary)")
        }
    }
}
