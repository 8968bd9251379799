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

/// Writes `FILE` into the folder: session `name`'s log cut `trim` bytes before its end, after the last `marker` (a cut
/// between elements or frames).
private func cutOff(_ name: String, as file: String, after marker: String) -> @Sendable (URL) throws -> Void {
    { folder in
        let text = try String(contentsOfFile: GeneratedSessions.log(name), encoding: .utf8)
        let range = try #require(text.range(of: marker, options: .backwards))
        try String(text[..<range.upperBound]).write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }
}

/// Writes `nested.har`: the OpenAI HAR with its frames wrapped in one more array (`"_webSocketMessages": [[frames]]`).
@Sendable private func makeNestedFramesHAR(_ folder: URL) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("har-openai")))
    var har = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var log = try #require(har["log"] as? [String: Any])
    var entries = try #require(log["entries"] as? [[String: Any]])
    for index in entries.indices where entries[index]["_webSocketMessages"] != nil {
        entries[index]["_webSocketMessages"] = [entries[index]["_webSocketMessages"]!]
    }
    log["entries"] = entries
    har["log"] = log
    try JSONSerialization.data(withJSONObject: har).write(to: folder.appendingPathComponent("nested.har"))
}

/// Writes `decoy.har`: the OpenAI HAR with a copy of its frames as a `_webSocketMessages` array at `log` level.
@Sendable private func makeDecoyHAR(_ folder: URL) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("har-openai")))
    var har = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var log = try #require(har["log"] as? [String: Any])
    let entries = try #require(log["entries"] as? [[String: Any]])
    log["_webSocketMessages"] = entries.compactMap { $0["_webSocketMessages"] }.first
    har["log"] = log
    try JSONSerialization.data(withJSONObject: har).write(to: folder.appendingPathComponent("decoy.har"))
}

/// Writes `utf16.jsonl`: ga-basic's log in UTF-16 little-endian with a byte order mark (PowerShell's `>`).
@Sendable private func makeUTF16Log(_ folder: URL) throws {
    let text = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8)
    try #require(text.data(using: .utf16LittleEndian).map { Data([0xFF, 0xFE]) + $0 }).write(to: folder.appendingPathComponent("utf16.jsonl"))
}

/// Writes `bad.jsonl`: ga-basic with the payload of its fifth audio delta damaged (a `!` in the middle), and `before.raw`:
/// the audio of the deltas before it, decoded by Foundation.
@Sendable private func makeBadPayloadLog(_ folder: URL) throws {
    var lines = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8).split(separator: "\n").map(String.init)
    var before = Data(), deltas = 0
    for index in lines.indices {
        let object = try JSONSerialization.jsonObject(with: Data(lines[index].utf8)) as? [String: Any]
        guard object?["type"] as? String == "response.output_audio.delta", let delta = object?["delta"] as? String else { continue }
        deltas += 1
        if deltas == 5 {
            let middle = delta.index(delta.startIndex, offsetBy: delta.count / 2)
            lines[index] = lines[index].replacingOccurrences(of: delta, with: delta.replacingCharacters(in: middle...middle, with: "!"))
            break
        }
        before += try #require(Data(base64Encoded: delta))
    }
    try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
    try before.write(to: folder.appendingPathComponent("before.raw"))
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
    // Item 7: messages that say what happened and what to do.
    CommandLineCase(name: "a JSON array cut off between elements converts with a warning that it ends early",
                    arguments: ["convert", "$/cut.json", "-o", "$/a.wav"], message: "the input ends inside the JSON array, without its closing ']'",
                    prepare: cutOff("json-array", as: "cut.json", after: "\n  },")) { run throws in
        #expect(run.result.standardError.contains("1 warning"), "\(run.result.standardError)")
    },
    CommandLineCase(name: "a HAR cut off between frames converts with a warning that it ends early",
                    arguments: ["convert", "$/cut.har", "-o", "$/a.wav"], message: "the HAR ends before its closing brackets: the file was cut off",
                    prepare: cutOff("har-openai", as: "cut.har", after: "},")),
    CommandLineCase(name: "a whole HAR has no such warning", arguments: ["convert", "@har-openai", "-o", "$/a.wav"], message: "no warnings"),
    CommandLineCase(name: "frames nested a level too deep are named, with how to flatten them",
                    arguments: ["convert", "$/nested.har", "-o", "$/a.wav"], status: 65,
                    message: "its element is not frame objects", prepare: makeNestedFramesHAR) { run throws in
        #expect(run.result.standardError.contains("jq '.log.entries[]._webSocketMessages |= flatten'"), "\(run.result.standardError)")
        #expect(!run.result.standardError.contains("no _webSocketMessages"), "\(run.result.standardError)")
    },
    CommandLineCase(name: "inspect notes frames nested a level too deep", arguments: ["inspect", "$/nested.har", "--json"],
                    prepare: makeNestedFramesHAR) { run throws in
        let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
        let codes = (report?["diagnoses"] as? [[String: Any]])?.compactMap { $0["code"] as? String } ?? []
        #expect(report?["nonFrameElementCount"] as? Int == 1 && codes.contains("har-not-frames"), "\(report ?? [:])")
    },
    CommandLineCase(name: "a frame array outside log.entries is a warning in convert", arguments: ["convert", "$/decoy.har", "-o", "$/a.wav"],
                    message: "warning: a _webSocketMessages array outside log.entries[] (in a request or at log level) passed over",
                    prepare: makeDecoyHAR) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant("har-openai"))
    },
    CommandLineCase(name: "a frame array outside log.entries is a note in inspect", arguments: ["inspect", "$/decoy.har"],
                    prepare: makeDecoyHAR) { run throws in
        #expect(String(decoding: run.result.standardOutput, as: UTF8.self).contains("1 _webSocketMessages array outside log.entries[]"),
                "\(String(decoding: run.result.standardOutput, as: UTF8.self))")
    },
    CommandLineCase(name: "a UTF-16 log is named as such, with the command that converts it",
                    arguments: ["convert", "$/utf16.jsonl", "-o", "$/a.wav"], status: 65,
                    message: "the input is UTF-16 text (little-endian, with a byte order mark)", prepare: makeUTF16Log) { run throws in
        #expect(run.result.standardError.contains("iconv -f UTF-16 -t UTF-8"), "\(run.result.standardError)")
    },
    CommandLineCase(name: "--strict on a damaged payload writes nothing of it and does not speak of silence",
                    arguments: ["convert", "$/bad.jsonl", "-o", "$/a.wav", "--strict"], status: 65,
                    message: "stopped by --strict at the first problem; the output holds the audio before this line", prepare: makeBadPayloadLog) { run throws in
        #expect(!run.result.standardError.contains("silence"), "\(run.result.standardError)")
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == Data(contentsOf: URL(fileURLWithPath: run.path("before.raw"))))
    },
    CommandLineCase(name: "WAV to a FIFO with a reader is written in the streaming form", arguments: ["inspect", "@ga-basic"]) { run throws in
        let fifo = run.path("out.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let result = try TestSupport.run("sh", ["-c", #"cat "$1" > "$2" & "$0" convert "$3" -o "$1" --format wav; status=$?; wait; exit $status"#,
                                    TestEnvironment.deltatapeExecutable.path, fifo, run.path("got.wav"), try GeneratedSessions.log("ga-basic")])
        #expect(result.status == 0, "\(result.standardError)")
        let header = try Data(contentsOf: URL(fileURLWithPath: run.path("got.wav"))).prefix(44)
        #expect(header.count == 44 && header[4..<8].allSatisfy { $0 == 0xFF } && header[40..<44].allSatisfy { $0 == 0xFF }, "\(Array(header))")
        #expect(try ffmpegDecodeToPCM16(run.path("got.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
]
