import Foundation
import TestSupport
import Testing

/// An input kind `convert` reads (SPEC §3), as a table row spells it: the arguments that name it, how its files are
/// made, and standard input.
private struct InputKindRow: Sendable {
    var name: String
    var arguments: [String]
    var prepare: (@Sendable (URL) throws -> Void)?
    var input: String?
    /// A session log (every session option applies), or audio (an audio file or headerless PCM: one stream of samples).
    var isSession: Bool
    /// Whether the log holds user audio (`--track user` has something to write).
    var hasUserAudio = true
    /// The `--input-kind` that names it, or `nil` where naming one is refused (`--input-format` already says).
    var inputKind: String?
}

/// A 44.1 kHz FLAC of the bundled speech: a rate Opus lacks, so an Opus output resamples it.
@Sendable private func makeFLAC(_ folder: URL) throws {
    let speech = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/assistant-speech.wav").path
    try sox(["-D", speech, "-r", "44100", folder.appendingPathComponent("speech.flac").path])
}

private let inputKindRows: [InputKindRow] = [
    InputKindRow(name: "JSON Lines", arguments: ["@ga-basic"], isSession: true, inputKind: "jsonl"),
    InputKindRow(name: "JSON array", arguments: ["@json-array"], isSession: true, inputKind: "json-array"),
    InputKindRow(name: "HAR", arguments: ["@har-openai"], isSession: true, inputKind: "har"),
    InputKindRow(name: "JSON Lines on stdin", arguments: ["-"], input: "@ga-basic", isSession: true, inputKind: "jsonl"),
    InputKindRow(name: "WAV file", arguments: ["%user-speech.wav"], isSession: false, inputKind: "audio"),
    InputKindRow(name: "FLAC file", arguments: ["$/speech.flac"], prepare: makeFLAC, isSession: false, inputKind: "audio"),
    InputKindRow(name: "raw PCM", arguments: ["$/speech.mulaw", "--input-format", "mulaw", "--input-rate", "8000"],
                 prepare: makeRawInputs, isSession: false),
    InputKindRow(name: "raw PCM on stdin", arguments: ["-", "--input-format", "mulaw", "--input-rate", "8000"],
                 prepare: makeRawInputs, input: "$/speech.mulaw", isSession: false),
]

/// A flag (or flags given together) and what it must do.
private struct FlagRow: Sendable {
    var arguments: [String]
    /// The output, `-o` and its value.
    var output = ["-o", "$/out.wav"]
    /// Applies to session logs only: refused for audio (exit 64) with a sentence naming it.
    var sessionOnly = false
    /// Checks a successful run's output.
    var check: (@Sendable (CommandLineRun) throws -> Void)?
}

private let flagRows: [FlagRow] = [
    // What only a session log has: tracks, layouts, cuts, envelopes, message limits, strict reading.
    FlagRow(arguments: ["--track", "assistant"], sessionOnly: true),
    FlagRow(arguments: ["--track", "user"], sessionOnly: true),
    FlagRow(arguments: ["--track", "both"], sessionOnly: true) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=channels") == "2")
    },
    FlagRow(arguments: ["--track", "both", "--layout", "mono"], sessionOnly: true) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=channels") == "1")
    },
    FlagRow(arguments: ["--track", "both", "--layout", "separate"], sessionOnly: true) { run throws in
        for track in ["user", "assistant"] { #expect(FileManager.default.fileExists(atPath: run.path("out.\(track).wav")), "\(track)") }
    },
    FlagRow(arguments: ["--keep-truncated"], sessionOnly: true),
    FlagRow(arguments: ["--event-field", "payload"], sessionOnly: true),
    FlagRow(arguments: ["--max-message-bytes", "1048576"], sessionOnly: true),
    FlagRow(arguments: ["--strict"], sessionOnly: true),
    // What every input has: a rate, a resampler, a sample format, an encoder's settings, the run's own flags.
    FlagRow(arguments: ["--rate", "16000"]) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=sample_rate") == "16000")
    },
    FlagRow(arguments: ["--rate", "16000", "--resampler", "libsamplerate"]) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=sample_rate") == "16000")
    },
    FlagRow(arguments: ["--rate", "12000", "--quality", "low"]) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=sample_rate") == "12000")
    },
    FlagRow(arguments: ["--sample-format", "f32"]) { run throws in
        #expect(try probe(run.path("out.wav"), "stream=codec_name") == "pcm_f32le")
    },
    FlagRow(arguments: ["--format", "wav"], output: ["-o", "$/out.bin"]) { run throws in
        #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("out.bin"))).prefix(4) == Data("RIFF".utf8))
    },
    FlagRow(arguments: ["--bitrate", "32k", "--complexity", "5"], output: ["-o", "$/out.ogg"]) { run throws in
        try expectCleanOpusinfo(run.path("out.ogg"))
    },
    FlagRow(arguments: ["--application", "voip", "--frame-ms", "10"], output: ["-o", "$/out.webm"]) { run throws in
        #expect(try packetDurations(run.path("out.webm")).dropLast().allSatisfy { $0 == 10 })
    },
    FlagRow(arguments: ["-j", "2"]),
    FlagRow(arguments: ["--quiet"]) { run throws in
        #expect(run.result.standardError.isEmpty, "\(run.result.standardError)")
    },
]

/// Issue 26: every flag against every input kind, honoured or refused with a sentence (exit 64), never dropped. The
/// expectations are docs/CLI.md's rule (a session log's options mean nothing to one stream of samples), not the code's.
let inputKindFlagCases: [CommandLineCase] = {
    var cases: [CommandLineCase] = []
    for kind in inputKindRows {
        for flag in flagRows {
            let arguments = ["convert"] + kind.arguments + flag.output + flag.arguments
            let name = "\(kind.name) with \(flag.arguments.joined(separator: " "))"
            if flag.sessionOnly && !kind.isSession {
                // The first of the flags is named, and nothing is written.
                cases.append(CommandLineCase(name: name, arguments: arguments, status: 64, message: "not a session log, so \(flag.arguments[0])",
                                             input: kind.input, prepare: kind.prepare) { run throws in
                    let written = try FileManager.default.contentsOfDirectory(atPath: run.folder.path).filter { $0.hasPrefix("out") }
                    #expect(written.isEmpty, "\(written)")
                })
            } else if flag.arguments == ["--track", "user"] && !kind.hasUserAudio {
                cases.append(CommandLineCase(name: name, arguments: arguments, status: 65, message: "no user audio",
                                             input: kind.input, prepare: kind.prepare))
            } else {
                let check = flag.check
                cases.append(CommandLineCase(name: name, arguments: arguments, input: kind.input, prepare: kind.prepare) { run throws in
                    if let check {
                        try check(run)
                    } else {
                        #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("out.wav"))).prefix(4) == Data("RIFF".utf8))
                    }
                })
            }
        }
        // --input-kind: naming the kind the content has is honoured; with --input-format it is refused.
        let output = ["-o", "$/out.wav"]
        if let inputKind = kind.inputKind {
            cases.append(CommandLineCase(name: "\(kind.name) with --input-kind \(inputKind)", arguments: ["convert"] + kind.arguments + output + ["--input-kind", inputKind],
                                         input: kind.input, prepare: kind.prepare))
        } else {
            cases.append(CommandLineCase(name: "\(kind.name) with --input-kind jsonl", arguments: ["convert"] + kind.arguments + output + ["--input-kind", "jsonl"],
                                         status: 64, message: "--input-format already says the input is headerless PCM", input: kind.input, prepare: kind.prepare))
        }
        // An output URL DeltaTape does not write to is refused for every input, before anything is read or made
        // (S3OutputTests write to s3://).
        cases.append(CommandLineCase(name: "\(kind.name) to https://", arguments: ["convert"] + kind.arguments + ["-o", "https://host/k.wav"], status: 64,
                                     message: "deltatape: error: the output 'https://host/k.wav' names a URL (https://), which deltatape does not read or write",
                                     input: kind.input, prepare: kind.prepare) { _ in
            #expect(!FileManager.default.fileExists(atPath: "https:"), "no folder named https: in the working directory")
        })
    }
    return cases
}()

/// Issue 26: one voice. Every error, the argument parser's included, starts `deltatape: error: `; help describes the
/// command it is for; a batch ends with its tally.
let voiceCases: [CommandLineCase] = {
    /// Every line of standard error that says something went wrong starts with the prefix, and no `Error:` of the
    /// parser's own is left.
    @Sendable func expectOneVoice(_ run: CommandLineRun) {
        let lines = run.result.standardError.split(separator: "\n")
        #expect(lines.first?.hasPrefix("deltatape: error: ") == true, "\(run.result.standardError)")
        #expect(!lines.contains { $0.hasPrefix("Error:") }, "\(run.result.standardError)")
    }
    return [
        CommandLineCase(name: "a value the parser cannot read", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--complexity", "x"], status: 64,
                        message: "deltatape: error: ") { expectOneVoice($0) },
        CommandLineCase(name: "an unknown option", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--frobnicate"], status: 64,
                        message: "deltatape: error: Unknown option '--frobnicate'") { expectOneVoice($0) },
        CommandLineCase(name: "a missing value", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--rate"], status: 64,
                        message: "deltatape: error: Missing value for '--rate <hz>'") { expectOneVoice($0) },
        CommandLineCase(name: "a validation of convert's", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "-j", "0"], status: 64,
                        message: "deltatape: error: -j must be at least 1") { expectOneVoice($0) },
        CommandLineCase(name: "a validation of inspect's", arguments: ["inspect", "@ga-basic", "--max-message-bytes", "10"], status: 64,
                        message: "deltatape: error: --max-message-bytes must be at least 1024") { expectOneVoice($0) },
        CommandLineCase(name: "inspect refuses --input-kind audio", arguments: ["inspect", "@ga-basic", "--input-kind", "audio"], status: 64,
                        message: "deltatape: error: ") { expectOneVoice($0) },
        CommandLineCase(name: "a folder as convert's input", arguments: ["convert", "$/", "-o", "$/a.wav"], status: 66,
                        message: "is a folder, not a file; expected a session log or an audio file") { expectOneVoice($0) },
        CommandLineCase(name: "a folder as repair's input", arguments: ["repair", "$/"], status: 66,
                        message: "is a folder, not a file; expected a WAV, Ogg Opus or WebM file") { expectOneVoice($0) },
        CommandLineCase(name: "an input URL", arguments: ["inspect", "https://example.org/session.jsonl"], status: 64,
                        message: "deltatape: error: the input 'https://example.org/session.jsonl' names a URL (https://)") { expectOneVoice($0) },
        CommandLineCase(name: "inspect --help describes inspect's inputs", arguments: ["inspect", "--help"]) { run throws in
            let help = String(decoding: run.result.standardOutput, as: UTF8.self)
            #expect(help.contains("The session logs to inspect"), "\(help)")
            #expect(help.contains("jsonl, json-array or har"), "\(help)")
            #expect(!help.contains("audio file") && !help.contains("or audio") && !help.contains("for convert"), "\(help)")
        },
        CommandLineCase(name: "a batch ends with its tally", arguments: ["convert", "@ga-basic", "@no-audio", "@json-array", "-o", "$/out/"], status: 65,
                        message: "2 of 3 converted; 1 failed: ") { run throws in
            let last = run.result.standardError.split(separator: "\n").last.map(String.init) ?? ""
            let failed = try GeneratedSessions.log("no-audio")
            #expect(last.hasPrefix("2 of 3 converted; 1 failed: \(failed) (no assistant audio found"), "\(last)")
        },
        CommandLineCase(name: "a batch that succeeds says so", arguments: ["convert", "@ga-basic", "@json-array", "-o", "$/out/"]) { run throws in
            #expect(run.result.standardError.split(separator: "\n").last == "2 of 2 converted", "\(run.result.standardError)")
        },
        CommandLineCase(name: "a 44.1 kHz file to Opus says it was resampled", arguments: ["convert", "$/speech.flac", "-o", "$/a.ogg"], prepare: makeFLAC) { run throws in
            #expect(run.result.standardError.contains("48000 Hz mono Ogg Opus (resampled from 44100 Hz)"), "\(run.result.standardError)")
        },
        CommandLineCase(name: "no resampling, no word of it", arguments: ["convert", "$/speech.flac", "-o", "$/a.wav"], prepare: makeFLAC) { run throws in
            #expect(run.result.standardError.contains("44100 Hz mono s16, from"), "\(run.result.standardError)")
        },
    ]
}()
