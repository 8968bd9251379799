import Foundation
import TestSupport
import Testing

/// The lines of standard error.
private func lines(_ run: CommandLineRun) -> [String] {
    run.result.standardError.split(separator: "\n").map(String.init)
}

/// Makes `$/out/` and, in it, a folder where `NAME.wav` would go: opening that output fails (exit 74).
@Sendable private func blockOutput(_ name: String) -> @Sendable (URL) throws -> Void {
    { folder in
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out/\(name).wav"), withIntermediateDirectories: true)
    }
}

/// Writes `$/list.txt` naming the generated sessions `names`, one a line, with CRLF endings, a blank line and a line
/// of spaces among them (both skipped).
@Sendable private func writeList(_ names: [String]) -> @Sendable (URL) throws -> Void {
    { folder in
        let lines = try names.map { try GeneratedSessions.log($0) + "\r\n" }
        try Data(("\r\n" + lines.joined(separator: "\n   \n")).utf8).write(to: folder.appendingPathComponent("list.txt"))
    }
}

/// `convert` with several inputs (SPEC §6): each to `DIR/NAME.EXT`, one summary line each, the most severe exit status,
/// and the refusals. Expectations: the PCM the fixture script encoded, decoded back by sox.
let batchCases: [CommandLineCase] = [
    CommandLineCase(name: "several inputs, each to DIR/NAME.wav", arguments: ["convert", "@ga-basic", "@har-openai", "@json-array", "-o", "$/out/", "-j", "2"]) { run throws in
        for name in ["ga-basic", "har-openai", "json-array"] {
            #expect(try soxDecodeToPCM16(run.path("out/\(name).wav")) == GeneratedSessions.expectedAssistant(name), "\(name)")
        }
        // One summary line per input, in the order they ended, then the tally.
        #expect(lines(run).last == "3 of 3 converted", "\(lines(run))")
        let written = Array(lines(run).dropLast())
        #expect(written.count == 3, "\(written)")
        #expect(Set(written.compactMap { $0.split(separator: ":").first.map(String.init) })
            == Set(["ga-basic", "har-openai", "json-array"].map { "wrote " + run.path("out/\($0).wav") }), "\(written)")
        #expect(written.allSatisfy { $0.contains("no warnings") }, "\(written)")
    },
    CommandLineCase(name: "--format ogg into an existing folder named without '/'", arguments: ["convert", "@ga-basic", "@gemini", "-o", "$/existing", "--format", "ogg", "-q"],
                    prepare: { try FileManager.default.createDirectory(at: $0.appendingPathComponent("existing"), withIntermediateDirectories: false) }) { run throws in
        for name in ["ga-basic", "gemini"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("existing/\(name).ogg"))).prefix(4) == Data("OggS".utf8))
            try expectCleanOpusinfo(run.path("existing/\(name).ogg"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path("existing")).sorted() == ["ga-basic.ogg", "gemini.ogg"])
        #expect(run.result.standardError.isEmpty)
    },
    CommandLineCase(name: "a single input into a folder, made with its parents", arguments: ["convert", "@ga-basic", "-o", "$/new/deeper/"]) { run throws in
        #expect(try soxDecodeToPCM16(run.path("new/deeper/ga-basic.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
        #expect(lines(run).count == 1)
    },
    CommandLineCase(name: "--layout separate into a folder", arguments: ["convert", "@ga-basic", "@twilio", "-o", "$/out/", "--track", "both", "--layout", "separate", "-q"]) { run throws in
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path("out")).sorted()
            == ["ga-basic.assistant.wav", "ga-basic.user.wav", "twilio.assistant.wav", "twilio.user.wav"])
        // The same files as a single input's separate tracks.
        #expect(try run.deltatape(["convert", "@ga-basic", "-o", "$/single.wav", "--track", "both", "--layout", "separate", "-q"]).status == 0)
        for track in ["user", "assistant"] {
            #expect(try soxDecodeToPCM16(run.path("out/ga-basic.\(track).wav")) == soxDecodeToPCM16(run.path("single.\(track).wav")), "\(track)")
        }
    },

    // The exit status is the most severe: 74 > 66 > 64 > 65, each pair in its own run. The inputs that could be
    // converted still were.
    CommandLineCase(name: "unreadable (66) outranks bad data (65)", arguments: ["convert", "@text-only", "$/missing.jsonl", "@ga-basic", "-o", "$/out/"],
                    status: 66, message: "missing.jsonl: cannot open for reading") { run throws in
        #expect(run.result.standardError.contains("response.output_audio.delta"), "text-only's own error")
        #expect(try soxDecodeToPCM16(run.path("out/ga-basic.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
        #expect(lines(run).filter { $0.hasPrefix("deltatape: error: ") }.count == 2, "\(run.result.standardError)")
        #expect(lines(run).filter { $0.hasPrefix("wrote ") }.count == 1, "\(run.result.standardError)")
    },
    CommandLineCase(name: "bad data (65) alone", arguments: ["convert", "@ga-basic", "@text-only", "-o", "$/out/"], status: 65,
                    message: "response.output_audio.delta"),
    CommandLineCase(name: "an output failure (74) outranks unreadable (66)", arguments: ["convert", "$/missing.jsonl", "@ga-basic", "-o", "$/out/", "-j", "2"],
                    status: 74, message: "out/ga-basic.wav", prepare: blockOutput("ga-basic")) { run throws in
        #expect(run.result.standardError.contains("missing.jsonl: cannot open for reading"))
    },
    CommandLineCase(name: "a conversion that cannot be made (64) outranks bad data (65)", arguments: ["convert", "@text-only", "$/out/tones.wav", "-o", "$/out/"],
                    status: 64, message: "tones.wav", prepare: { folder in
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
                        try makeTones(folder.appendingPathComponent("out"))
                    }) { run throws in
        #expect(run.result.standardError.contains("response.output_audio.delta"))
    },
    CommandLineCase(name: "unreadable (66) outranks a conversion that cannot be made (64)", arguments: ["convert", "$/out/tones.wav", "$/missing.jsonl", "-o", "$/out/"],
                    status: 66, message: "missing.jsonl", prepare: { folder in
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
                        try makeTones(folder.appendingPathComponent("out"))
                    }),
    CommandLineCase(name: "a folder that cannot be made", arguments: ["convert", "@ga-basic", "@gemini", "-o", "$/file.txt/"], status: 74, message: "not a folder",
                    prepare: { try Data("x".utf8).write(to: $0.appendingPathComponent("file.txt")) }),

    // Refused before anything is written.
    CommandLineCase(name: "two inputs writing one file", arguments: ["convert", "$/a/x.jsonl", "$/b/x.har", "-o", "$/out/"], status: 64,
                    message: "would both be written to", prepare: { folder in
                        for path in ["a/x.jsonl", "b/x.har"] {
                            let url = folder.appendingPathComponent(path)
                            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                            try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic"))).write(to: url)
                        }
                    }) { run throws in
        #expect(!FileManager.default.fileExists(atPath: run.path("out")))
    },
    CommandLineCase(name: "one input given twice", arguments: ["convert", "@ga-basic", "@ga-basic", "-o", "$/out/"], status: 64, message: "would both be written to"),
    CommandLineCase(name: "several inputs to one file", arguments: ["convert", "@ga-basic", "@gemini", "-o", "$/a.wav"], status: 64, message: "is not one; -o DIR/") { run throws in
        #expect(!FileManager.default.fileExists(atPath: run.path("a.wav")))
    },
    CommandLineCase(name: "several inputs to standard output", arguments: ["convert", "@ga-basic", "@gemini", "-o", "-", "--format", "wav"], status: 64,
                    message: "cannot share standard output"),
    CommandLineCase(name: "standard input among several", arguments: ["convert", "@ga-basic", "-", "-o", "$/out/"], status: 64,
                    message: "Standard input ('-') is converted alone", input: "@gemini"),
    CommandLineCase(name: "standard input into a folder", arguments: ["convert", "-", "-o", "$/out/"], status: 64, message: "has no file name", input: "@gemini"),
    CommandLineCase(name: "-j 0", arguments: ["convert", "@ga-basic", "@gemini", "-o", "$/out/", "-j", "0"], status: 64, message: "-j must be at least 1"),

    // For batch engines (issue 29): inputs listed one a line, shards, inputs whose outputs are there already.
    CommandLineCase(name: "--inputs-from a file with blank lines and CRLF, beside a named input",
                    arguments: ["convert", "@json-array", "--inputs-from", "$/list.txt", "-o", "$/out/"], prepare: writeList(["ga-basic", "gemini"])) { run throws in
        for name in ["ga-basic", "gemini", "json-array"] {
            #expect(try soxDecodeToPCM16(run.path("out/\(name).wav")) == GeneratedSessions.expectedAssistant(name), "\(name)")
        }
        #expect(lines(run).last == "3 of 3 converted", "\(lines(run))")
    },
    CommandLineCase(name: "--inputs-from - reads the list from standard input", arguments: ["convert", "--inputs-from", "-", "-o", "$/out/"],
                    input: "$/list.txt", prepare: writeList(["ga-basic", "har-openai"])) { run throws in
        for name in ["ga-basic", "har-openai"] {
            #expect(try soxDecodeToPCM16(run.path("out/\(name).wav")) == GeneratedSessions.expectedAssistant(name), "\(name)")
        }
        #expect(lines(run).last == "2 of 2 converted", "\(lines(run))")
    },
    CommandLineCase(name: "--inputs-from a missing file", arguments: ["convert", "--inputs-from", "$/missing-list.txt", "-o", "$/out/"], status: 66,
                    message: "missing-list.txt: cannot open the list of inputs (--inputs-from): No such file or directory"),
    CommandLineCase(name: "--inputs-from an empty list", arguments: ["convert", "--inputs-from", "-", "-o", "$/out/"], status: 64,
                    message: "the list on standard input (--inputs-from) is empty", input: "$/list.txt", prepare: writeList([])),
    CommandLineCase(name: "--inputs-from - with '-' named too", arguments: ["convert", "-", "--inputs-from", "-", "-o", "$/out/"], status: 64,
                    message: "so '-' cannot be an input too", input: "@ga-basic"),
    CommandLineCase(name: "--inputs-from - listing '-'", arguments: ["convert", "--inputs-from", "-", "-o", "$/out/"], status: 64,
                    message: "names '-', but standard input holds the list", input: "$/list.txt",
                    prepare: { try Data("-\n".utf8).write(to: $0.appendingPathComponent("list.txt")) }),
    CommandLineCase(name: "listed inputs that would write one file", arguments: ["convert", "$/a/x.jsonl", "--inputs-from", "$/list.txt", "-o", "$/out/"], status: 64,
                    message: "would both be written to", prepare: { folder in
                        for path in ["a/x.jsonl", "b/x.jsonl"] {
                            let url = folder.appendingPathComponent(path)
                            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                            try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic"))).write(to: url)
                        }
                        try Data(folder.appendingPathComponent("b/x.jsonl").path.utf8).write(to: folder.appendingPathComponent("list.txt"))
                    }),
    CommandLineCase(name: "listed inputs to one file", arguments: ["convert", "--inputs-from", "$/list.txt", "-o", "$/a.wav"], status: 64,
                    message: "2 inputs are written into a folder", prepare: writeList(["ga-basic", "gemini"])),
    CommandLineCase(name: "--shard 0/3", arguments: ["convert", "@ga-basic", "-o", "$/out/", "--shard", "0/3"], status: 64, message: "K must be 1...N (here 1...3)"),
    CommandLineCase(name: "--shard 4/3", arguments: ["convert", "@ga-basic", "-o", "$/out/", "--shard", "4/3"], status: 64, message: "--shard 4/3 names shard 4 of 3"),
    CommandLineCase(name: "--shard a/b", arguments: ["convert", "@ga-basic", "-o", "$/out/", "--shard", "a/b"], status: 64, message: "--shard a/b is not K/N"),
    CommandLineCase(name: "--shard 3", arguments: ["convert", "@ga-basic", "-o", "$/out/", "--shard", "3"], status: 64, message: "--shard 3 is not K/N"),
    CommandLineCase(name: "--shard with several inputs to one file", arguments: ["convert", "@ga-basic", "@gemini", "-o", "$/a.wav", "--shard", "1/2"], status: 64,
                    message: "is not one; -o DIR/"),
    CommandLineCase(name: "--skip-existing to standard output", arguments: ["convert", "@ga-basic", "-o", "-", "--format", "wav", "--skip-existing"], status: 64,
                    message: "standard output ('-o -') never is"),
    CommandLineCase(name: "--skip-existing with --layout separate: one track's file is not enough",
                    arguments: ["convert", "@ga-basic", "@twilio", "-o", "$/out/", "--track", "both", "--layout", "separate", "--skip-existing"],
                    prepare: { folder in
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
                        // ga-basic's user file alone; both of twilio's (whose bytes are no WAV: left as they are when skipped).
                        for name in ["ga-basic.user.wav", "twilio.user.wav", "twilio.assistant.wav"] {
                            try Data("not converted".utf8).write(to: folder.appendingPathComponent("out/\(name)"))
                        }
                    }) { run throws in
        // Converted again, both files: the same as a single input's separate tracks.
        #expect(try run.deltatape(["convert", "@ga-basic", "-o", "$/single.wav", "--track", "both", "--layout", "separate", "-q"]).status == 0)
        for track in ["user", "assistant"] {
            #expect(try soxDecodeToPCM16(run.path("out/ga-basic.\(track).wav")) == soxDecodeToPCM16(run.path("single.\(track).wav")), "\(track)")
        }
        for name in ["twilio.user.wav", "twilio.assistant.wav"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("out/\(name)"))) == Data("not converted".utf8), "\(name)")
        }
        #expect(lines(run).contains { $0.hasPrefix("skipped ") && $0.contains("twilio") && $0.hasSuffix("are there already (--skip-existing)") }, "\(lines(run))")
        #expect(lines(run).contains { $0.hasPrefix("wrote " + run.path("out/ga-basic.user.wav")) }, "\(lines(run))")
        #expect(lines(run).last == "1 of 2 converted, 1 skipped", "\(lines(run))")
    },
    CommandLineCase(name: "the tally counts skipped and failed inputs", arguments: ["convert", "@ga-basic", "@gemini", "@text-only", "-o", "$/out/", "--skip-existing"],
                    status: 65, message: "response.output_audio.delta", prepare: { folder in
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
                        try Data("there already".utf8).write(to: folder.appendingPathComponent("out/gemini.wav"))
                    }) { run throws in
        #expect(lines(run).last?.hasPrefix("1 of 3 converted, 1 skipped; 1 failed: \(try GeneratedSessions.log("text-only")) (") == true, "\(lines(run))")
        #expect(try soxDecodeToPCM16(run.path("out/ga-basic.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
        // The failed input leaves nothing, not even its temporary file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path("out")).sorted() == ["ga-basic.wav", "gemini.wav"])
    },
    CommandLineCase(name: "inspect of several inputs, as JSON", arguments: ["inspect", "@ga-basic", "@gemini", "--json"]) { run throws in
        let reports = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [[String: Any]]
        #expect(reports?.count == 2)
        #expect(reports?.map { $0["vocabulary"] as? String } == ["openai-ga", "gemini-live"])
    },
    CommandLineCase(name: "inspect of several inputs, one missing", arguments: ["inspect", "@ga-basic", "$/missing.jsonl", "@gemini"],
                    status: 66, message: "missing.jsonl") { run throws in
        let text = String(decoding: run.result.standardOutput, as: UTF8.self)
        #expect(text.contains("vocabulary: OpenAI Realtime GA") && text.contains("vocabulary: Gemini Live"), "\(text)")
    },
]
