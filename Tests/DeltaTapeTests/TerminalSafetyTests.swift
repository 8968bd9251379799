import Foundation
import TestSupport
import Testing

/// Text from a log never drives the terminal (issue 14, item 2): escape sequences, bells and line breaks in type
/// names, format names and ids come out escaped, and a huge name comes out cut, under every subcommand.
@Suite struct TerminalSafetyTests {
    static let injection = "\u{1B}]0;owned\u{07}\u{1B}[2J\r\nwrote everything fine"

    static func logs(in folder: URL) throws -> [String] {
        func json(_ object: [String: Any]) throws -> String { String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self) }
        let huge = String(repeating: "x", count: 2_000_000)
        // No audio: the error lists the types it found instead.
        let noAudio = try [json(["type": injection]), json(["type": huge]), json(["type": "session.created"])].joined(separator: "\n")
        // Audio, with a format that is not understood and an item whose last byte is half a sample.
        let audio = Data([1, 2, 3]).base64EncodedString()
        let warnings = try [
            json(["type": "session.updated", "session": ["type": "realtime", "audio": ["output": ["format": ["type": injection]]]]]),
            json(["type": "response.output_audio.delta", "response_id": injection, "item_id": injection, "content_index": 0, "delta": audio]),
        ].joined(separator: "\n")
        let paths = [folder.appendingPathComponent("no-audio.jsonl"), folder.appendingPathComponent("warnings.jsonl")]
        try (noAudio + "\n").write(to: paths[0], atomically: true, encoding: .utf8)
        try (warnings + "\n").write(to: paths[1], atomically: true, encoding: .utf8)
        return paths.map(\.path)
    }

    /// A right-to-left override, an isolate or a line separator in a type name would show the message reordered or split
    /// (`exe.txt` read as `txt.exe`): they come out escaped like control characters, under every subcommand.
    @Test func noBidirectionalOverrideFromTheInputReachesAnyOutputStream() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("bidi.jsonl")
        try (#"{"type":"\u202Eexe.txt\u2066\u2028fake"}"# + "\n").write(to: log, atomically: true, encoding: .utf8)
        for arguments in [["convert", log.path, "-o", folder.appendingPathComponent("out.wav").path], ["inspect", log.path], ["inspect", log.path, "--json"]] {
            let result = try run(TestEnvironment.deltatapeExecutable.path, arguments)
            let text = String(decoding: result.standardOutput, as: UTF8.self) + result.standardError
            #expect(!text.unicodeScalars.contains { [0x202E, 0x2066, 0x2028].contains($0.value) }, "\(arguments): \(text.prefix(500))")
            #expect(text.contains(#"\u{202E}exe.txt"#), "\(arguments): \(text.prefix(500))")
        }
    }

    @Test func noControlByteFromTheInputReachesAnyOutputStream() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let deltatape = TestEnvironment.deltatapeExecutable.path
        for log in try Self.logs(in: folder) {
            for arguments in [["convert", log, "-o", folder.appendingPathComponent("out.wav").path], ["inspect", log], ["inspect", log, "--json"]] {
                let result = try run(deltatape, arguments)
                let bytes = result.standardOutput + Data(result.standardError.utf8)
                #expect(!bytes.contains(0x1B) && !bytes.contains(0x07), "\(arguments): \(result.standardError.prefix(500))")
                #expect(!String(decoding: bytes, as: UTF8.self).contains("\r\nwrote everything fine"), "\(arguments)")
                // The 2-million-character type is cut, not printed whole.
                #expect(bytes.count < 100_000, "\(arguments): \(bytes.count) bytes")
            }
        }
    }
}
