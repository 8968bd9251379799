import Foundation
import TestSupport
import Testing

/// Writes `long.jsonl`: ga-basic with a message of 200 029 bytes (27 + 200 000 + 2) that carries no audio, as line 3.
@Sendable private func makeLongLineLog(_ folder: URL) throws {
    var lines = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8).split(separator: "\n").map(String.init)
    lines.insert(#"{"type":"x.padding","pad":""# + String(repeating: "p", count: 200_000) + #""}"#, at: 2)
    try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("long.jsonl"), atomically: true, encoding: .utf8)
}

/// `--max-message-bytes` (issue 14, item 1): a message over the limit is skipped and named, the rest converts.
let messageLimitCases: [CommandLineCase] = [
    CommandLineCase(name: "--max-message-bytes skips a longer message and names its line",
                    arguments: ["convert", "$/long.jsonl", "-o", "$/a.wav", "--max-message-bytes", "100000"],
                    message: "long.jsonl:3: warning: a message of 200029 bytes, longer than the limit of 100000 bytes", prepare: makeLongLineLog) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
    CommandLineCase(name: "the default limit lets the same message through",
                    arguments: ["convert", "$/long.jsonl", "-o", "$/a.wav"], prepare: makeLongLineLog) { run throws in
        #expect(!run.result.standardError.contains("longer than the limit"), "\(run.result.standardError)")
    },
    CommandLineCase(name: "inspect --max-message-bytes counts the skipped message",
                    arguments: ["inspect", "$/long.jsonl", "--json", "--max-message-bytes", "100000"], prepare: makeLongLineLog) { run throws in
        let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
        #expect(report?["problemCount"] as? Int == 1)
    },
    CommandLineCase(name: "--max-message-bytes below 1024", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--max-message-bytes", "10"],
                    status: 64, message: "--max-message-bytes must be at least 1024."),
]
