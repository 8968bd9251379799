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
