import Foundation
import TestSupport
import Testing

/// A log with a million malformed lines (issue 14, item 1): the conversion reports a few examples and how many more,
/// and its memory stays flat (peak RSS from the child's rusage, through GNU time).
@Suite struct BoundedReportTests {
    @Test func aMillionBadLinesGiveAFewExamplesAndFlatMemory() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let good = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8).split(separator: "\n")
        let log = folder.appendingPathComponent("bad.jsonl")
        let badLineCount = 1_000_000
        var text = good.prefix(5).joined(separator: "\n") + "\n"
        text += String(repeating: "x\n", count: badLineCount)
        text += good.dropFirst(5).joined(separator: "\n") + "\n"
        try text.write(to: log, atomically: true, encoding: .utf8)

        let result = try run("/usr/bin/time", ["-f", "peak-rss-kb %M", TestEnvironment.deltatapeExecutable.path, "convert", log.path,
                                               "-o", folder.appendingPathComponent("bad.wav").path])
        #expect(result.status == 0)
        let lines = result.standardError.split(separator: "\n")
        let warnings = lines.filter { $0.contains(": warning: ") }
        #expect(warnings.count == 6, "\(warnings.prefix(8))")  // five examples, then how many more
        #expect(warnings.last?.contains("and \(badLineCount - 5) more problems like") == true, "\(warnings.last ?? "")")
        #expect(result.standardError.contains("\(badLineCount) warnings"))
        let peak = lines.last { $0.hasPrefix("peak-rss-kb") }.flatMap { Int($0.split(separator: " ")[1]) } ?? .max
        #expect(peak < 64 * 1024, "peak RSS \(peak) KB")
        // The audio around the bad lines is whole.
        #expect(try soxDecodeToPCM16(folder.appendingPathComponent("bad.wav").path) == GeneratedSessions.expectedAssistant("ga-basic"))

        // inspect (text and JSON): the count in full, five examples and the rest summed up, flat memory.
        for json in [false, true] {
            let inspect = try run("/usr/bin/time", ["-f", "peak-rss-kb %M", TestEnvironment.deltatapeExecutable.path, "inspect", log.path]
                + (json ? ["--json"] : []))
            #expect(inspect.status == 0)
            let inspectPeak = inspect.standardError.split(separator: "\n").last { $0.hasPrefix("peak-rss-kb") }
                .flatMap { Int($0.split(separator: " ")[1]) } ?? .max
            #expect(inspectPeak < 64 * 1024, "inspect\(json ? " --json" : ""): peak RSS \(inspectPeak) KB")
            #expect(inspect.standardOutput.count < 20_000, "inspect\(json ? " --json" : ""): \(inspect.standardOutput.count) bytes")
            if json {
                let report = try JSONSerialization.jsonObject(with: inspect.standardOutput) as? [String: Any]
                #expect(report?["problemCount"] as? Int == badLineCount)
                #expect((report?["problems"] as? [Any])?.count == 6)
            }
        }
    }
}

/// A JSON array element and a HAR frame of 64 MiB (issue 14, item 1): passed over in bounded memory, named, and the rest
/// of the session converted. Before the limit held for them, each was read whole into a buffer that doubled to 128 MiB.
@Suite struct OversizedElementTests {
    @Test(arguments: ["array", "har"]) func aHugeElementIsSkippedInBoundedMemory(_ container: String) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let huge = #"{"type":"x.padding","pad":""# + String(repeating: "p", count: 64 << 20) + #""}"#
        let path: String
        if container == "array" {
            let text = try String(contentsOfFile: GeneratedSessions.log("json-array"), encoding: .utf8)
            path = folder.appendingPathComponent("huge.json").path
            try ("[" + huge + "," + text.dropFirst()).write(toFile: path, atomically: false, encoding: .utf8)
        } else {
            let text = try String(contentsOfFile: GeneratedSessions.log("har-openai"), encoding: .utf8)
            let marker = #""_webSocketMessages": ["#
            let range = try #require(text.range(of: marker, options: .backwards))
            let frame = #"{"type":"receive","opcode":1,"data":""# + huge.replacingOccurrences(of: "\"", with: "\\\"") + #""},"#
            path = folder.appendingPathComponent("huge.har").path
            try text.replacingCharacters(in: range, with: marker + frame).write(toFile: path, atomically: false, encoding: .utf8)
        }
        let session = container == "array" ? "json-array" : "har-openai"
        let output = folder.appendingPathComponent("out.wav").path
        let result = try run("/usr/bin/time", ["-f", "peak-rss-kb %M", TestEnvironment.deltatapeExecutable.path, "convert", path, "-o", output,
                                               "--max-message-bytes", "1048576"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("longer than the limit of 1048576 bytes; it was skipped"), "\(result.standardError)")
        let peak = result.standardError.split(separator: "\n").last { $0.hasPrefix("peak-rss-kb") }.flatMap { Int($0.split(separator: " ")[1]) } ?? .max
        #expect(peak < 48 * 1024, "peak RSS \(peak) KB")
        #expect(try soxDecodeToPCM16(output) == GeneratedSessions.expectedAssistant(session))
    }
}

/// A HAR nesting 64 million arrays where frames might be (issue 14, item 2): the structure is followed with a bounded
/// stack, so memory stays flat (before, one byte a level was held: 64 MB, and twice that while the stack grew).
@Test func aDeeplyNestedHARIsFollowedInBoundedMemory() throws {
    let folder = try TestEnvironment.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("deep.har").path
    try (#"{"log":{"entries":[{"request":"# + String(repeating: "[", count: 64 << 20)).write(toFile: path, atomically: false, encoding: .utf8)
    let result = try run("/usr/bin/time", ["-f", "peak-rss-kb %M", TestEnvironment.deltatapeExecutable.path, "inspect", path])
    #expect(result.status == 0, "\(result.standardError)")
    let peak = result.standardError.split(separator: "\n").last { $0.hasPrefix("peak-rss-kb") }.flatMap { Int($0.split(separator: " ")[1]) } ?? .max
    #expect(peak < 48 * 1024, "peak RSS \(peak) KB")
}
