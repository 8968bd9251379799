import Foundation
import TestSupport
import Testing

/// Writes session `name`'s log into the folder as `file` with every `\n` replaced by `\r` (classic Mac OS line ends).
private func withBareCarriageReturns(_ name: String, as file: String) -> @Sendable (URL) throws -> Void {
    { folder in
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log(name)))
        try Data(log.map { $0 == 0x0A ? 0x0D : $0 }).write(to: folder.appendingPathComponent(file))
    }
}

/// A message of 200 029 bytes that carries no audio.
private let paddingMessage = #"{"type":"x.padding","pad":""# + String(repeating: "p", count: 200_000) + #""}"#

/// Writes `long.json`: the JSON array session with the padding message as its first element, on line 1.
@Sendable private func makeLongElementArray(_ folder: URL) throws {
    let text = try String(contentsOfFile: GeneratedSessions.log("json-array"), encoding: .utf8)
    guard text.hasPrefix("[") else { throw TestSupportError("json-array.json does not start with [") }
    try ("[" + paddingMessage + "," + text.dropFirst()).write(to: folder.appendingPathComponent("long.json"), atomically: true, encoding: .utf8)
}

/// Writes `long.har`: the OpenAI HAR with a frame carrying the padding message first in its `_webSocketMessages`.
@Sendable private func makeLongFrameHAR(_ folder: URL) throws {
    let text = try String(contentsOfFile: GeneratedSessions.log("har-openai"), encoding: .utf8)
    let frame = try JSONSerialization.data(withJSONObject: ["type": "receive", "time": 1795000000.0, "opcode": 1, "data": paddingMessage] as [String: Any])
    let marker = #""_webSocketMessages": ["#
    guard let range = text.range(of: marker, options: .backwards) else { throw TestSupportError("har-openai.har has no frames") }
    let edited = text.replacingCharacters(in: range, with: marker + String(decoding: frame, as: UTF8.self) + ",")
    try edited.write(to: folder.appendingPathComponent("long.har"), atomically: true, encoding: .utf8)
}

/// Issue 14: logs built to mislead or exhaust the reader.
let hostileInputCases: [CommandLineCase] = [
    // Item 1: CR-only line ends are line ends.
    CommandLineCase(name: "a log with bare CR line ends converts as lines", arguments: ["convert", "$/cr.jsonl", "-o", "$/a.wav"],
                    message: "no warnings", prepare: withBareCarriageReturns("ga-basic", as: "cr.jsonl")) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
    CommandLineCase(name: "inspect counts the lines of a log with bare CR line ends", arguments: ["inspect", "$/cr.jsonl", "--json"],
                    prepare: withBareCarriageReturns("ga-basic", as: "cr.jsonl")) { run throws in
        let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
        let lines = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8).split(separator: "\n").count
        #expect(report?["lineCount"] as? Int == lines && report?["problemCount"] as? Int == 0, "\(report ?? [:])")
    },
    // Item 2: the message limit holds for JSON array elements and HAR frames.
    CommandLineCase(name: "--max-message-bytes skips a longer JSON array element and names its line",
                    arguments: ["convert", "$/long.json", "-o", "$/a.wav", "--max-message-bytes", "100000"],
                    message: "long.json:1: warning: a message of 200029 bytes, longer than the limit of 100000 bytes",
                    prepare: makeLongElementArray) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant("json-array"))
    },
    CommandLineCase(name: "the default limit reads the same JSON array element", arguments: ["convert", "$/long.json", "-o", "$/a.wav"],
                    message: "no warnings", prepare: makeLongElementArray),
    CommandLineCase(name: "--max-message-bytes skips a longer HAR frame and names it",
                    arguments: ["convert", "$/long.har", "-o", "$/a.wav", "--max-message-bytes", "100000"],
                    message: "WebSocket frame 1: a message of 200094 bytes, longer than the limit of 100000 bytes",
                    prepare: makeLongFrameHAR) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant("har-openai"))
    },
    CommandLineCase(name: "the default limit reads the same HAR frame", arguments: ["convert", "$/long.har", "-o", "$/a.wav"],
                    message: "no warnings", prepare: makeLongFrameHAR),
]
