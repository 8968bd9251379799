import Foundation
import TestSupport
import Testing

/// Copies session `name`'s log into the case's folder as `file`.
private func copying(_ name: String, as file: String) -> @Sendable (URL) throws -> Void {
    { folder in
        try FileManager.default.copyItem(atPath: GeneratedSessions.log(name), toPath: folder.appendingPathComponent(file).path)
    }
}

/// The copied log `file` still holds session `name`'s log, byte for byte.
private func expectUntouched(_ run: CommandLineRun, _ file: String, session name: String) throws {
    let kept = try Data(contentsOf: URL(fileURLWithPath: run.path(file)))
    #expect(kept == (try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log(name)))), "the input was overwritten")
}

/// A case running `script` (see ``CommandLineTableTests/shell(_:_:)``) on a copy of ga-basic's log, `v.jsonl`: refused
/// with exit 64, the log untouched.
private func redirectionCase(_ name: String, script: String) -> CommandLineCase {
    CommandLineCase(name: name, arguments: ["inspect", "@ga-basic"], prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        let result = try CommandLineTableTests.shell(script, run.path("v.jsonl"))
        #expect(result.status == 64 && result.standardError.contains("is the input"), "\(result.standardError)")
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    }
}

/// Issue 13, defect 1: an output that is the input by any name is refused (exit 64) before anything is opened for
/// writing, and the input keeps every byte.
let sameFileCases: [CommandLineCase] = [
    CommandLineCase(name: "the output is the input, same path", arguments: ["convert", "$/v.jsonl", "-o", "$/v.jsonl", "--format", "wav"], status: 64,
                    message: "is the input", prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "the output is the input, spelled with ./ and ..", arguments: ["convert", "$/v.wav", "-o", "$/sub/.././v.wav"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.wav")(folder)
                        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: false)
                    }) { run throws in
        try expectUntouched(run, "v.wav", session: "ga-basic")
    },
    CommandLineCase(name: "the output is a symbolic link to the input", arguments: ["convert", "$/v.jsonl", "-o", "$/link.wav"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.jsonl")(folder)
                        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link.wav").path, withDestinationPath: "v.jsonl")
                    }) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "the output is a hard link to the input", arguments: ["convert", "$/v.jsonl", "-o", "$/hard.ogg"], status: 64,
                    message: "is the input", prepare: { folder in
                        try copying("ga-basic", as: "v.jsonl")(folder)
                        try FileManager.default.linkItem(atPath: folder.appendingPathComponent("v.jsonl").path,
                                                         toPath: folder.appendingPathComponent("hard.ogg").path)
                    }) { run throws in
        try expectUntouched(run, "v.jsonl", session: "ga-basic")
    },
    CommandLineCase(name: "an audio file converted onto itself", arguments: ["convert", "$/v.wav", "-o", "$/./v.wav"], status: 64, message: "is the input",
                    prepare: { folder in
                        try FileManager.default.copyItem(atPath: TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav").path,
                                                         toPath: folder.appendingPathComponent("v.wav").path)
                    }) { run throws in
        let kept = try Data(contentsOf: URL(fileURLWithPath: run.path("v.wav")))
        #expect(kept == (try Data(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("TestAudio/user-speech.wav"))))
    },
    CommandLineCase(name: "raw PCM converted onto itself", arguments: ["convert", "$/speech.mulaw", "-o", "$/speech.mulaw", "--format", "wav",
                                                                      "--input-format", "mulaw", "--input-rate", "8000"], status: 64, message: "is the input",
                    prepare: makeRawInputs) { run throws in
        let header = try Data(contentsOf: URL(fileURLWithPath: run.path("speech.mulaw"))).prefix(4)
        #expect(header != Data("RIFF".utf8))
    },
    // The shell opens the file for reading only (`<`) or appending (`>>`), so the output is that file.
    redirectionCase("standard input redirected from the output file", script: "\"$0\" convert - -o \"$1\" --format wav < \"$1\""),
    redirectionCase("standard output appending to the input file", script: "\"$0\" convert \"$1\" -o - --format wav >> \"$1\""),
    CommandLineCase(name: "a different file of the same content is fine", arguments: ["convert", "$/v.jsonl", "-o", "$/w.wav"],
                    prepare: copying("ga-basic", as: "v.jsonl")) { run throws in
        #expect(try soxDecodeToPCM16(run.path("w.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
]

/// The Opus encoder settings `convert` takes, each with a valid value.
private let opusOptions: [(flag: String, value: String)] = [("--bitrate", "32k"), ("--complexity", "5"), ("--application", "voip"), ("--frame-ms", "10")]

/// Output spellings of each format: an extension, or standard output with `--format`.
private let outputs: [(format: String, arguments: [String])] = [
    ("wav", ["-o", "$/a.wav"]), ("wav", ["-o", "-", "--format", "wav"]),
    ("ogg", ["-o", "$/a.ogg"]), ("ogg", ["-o", "$/a.opus"]), ("ogg", ["-o", "-", "--format", "ogg"]), ("ogg", ["-o", "-", "--format", "opus"]),
    ("webm", ["-o", "$/a.webm"]), ("webm", ["-o", "-", "--format", "webm"]),
]

/// Issue 13, defect 2: every pair of flags that contradict each other, refused with exit 64 and a sentence, and the
/// pairs that agree, honoured. Built from docs/CLI.md's rules, not from the command's code.
let flagConflictCases: [CommandLineCase] = {
    var cases: [CommandLineCase] = []
    let convert = ["convert", "@ga-basic"]
    // --format against the extension: every pair of formats.
    let extensions = [("wav", "wav"), ("ogg", "ogg"), ("opus", "ogg"), ("webm", "webm")]
    for (ext, named) in extensions {
        for (flag, meant) in [("wav", "wav"), ("ogg", "ogg"), ("opus", "ogg"), ("webm", "webm")] {
            let arguments = convert + ["-o", "$/a.\(ext)", "--format", flag, "-q"]
            if named == meant {
                cases.append(CommandLineCase(name: "--format \(flag) agrees with .\(ext)", arguments: arguments) { run throws in
                    let magic = try Data(contentsOf: URL(fileURLWithPath: run.path("a.\(ext)"))).prefix(4)
                    #expect(magic == (meant == "wav" ? Data("RIFF".utf8) : meant == "ogg" ? Data("OggS".utf8) : Data([0x1A, 0x45, 0xDF, 0xA3])))
                })
            } else {
                cases.append(CommandLineCase(name: "--format \(flag) contradicts .\(ext)", arguments: arguments, status: 64,
                                             message: "--format \(meant) contradicts the extension of") { run throws in
                    #expect(!FileManager.default.fileExists(atPath: run.path("a.\(ext)")))
                })
            }
        }
    }
    // Opus settings on every spelling of a WAV output: refused; on every Opus output: honoured.
    for (format, output) in outputs {
        for (flag, value) in opusOptions {
            let arguments = convert + output + [flag, value, "-q"]
            if format == "wav" {
                cases.append(CommandLineCase(name: "\(flag) with \(output.joined(separator: " "))", arguments: arguments, status: 64,
                                             message: "\(flag) is an Opus encoder setting; a WAV output is not encoded."))
            } else {
                cases.append(CommandLineCase(name: "\(flag) with \(output.joined(separator: " "))", arguments: arguments))
            }
        }
        // --sample-format: WAV only.
        for sampleFormat in ["s16", "f32"] {
            let arguments = convert + output + ["--sample-format", sampleFormat, "-q"]
            cases.append(format == "wav"
                ? CommandLineCase(name: "--sample-format \(sampleFormat) with \(output.joined(separator: " "))", arguments: arguments)
                : CommandLineCase(name: "--sample-format \(sampleFormat) with \(output.joined(separator: " "))", arguments: arguments, status: 64,
                                  message: "--sample-format applies to WAV outputs"))
        }
        // --rate: any rate in range for WAV; Opus's five rates only, for Ogg and WebM.
        for rate in [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
            let arguments = convert + output + ["--rate", String(rate), "-q"]
            let carried = format == "wav" || [8_000, 12_000, 16_000, 24_000, 48_000].contains(rate)
            cases.append(carried
                ? CommandLineCase(name: "--rate \(rate) with \(output.joined(separator: " "))", arguments: arguments)
                : CommandLineCase(name: "--rate \(rate) with \(output.joined(separator: " "))", arguments: arguments, status: 64,
                                  message: "--rate \(rate) cannot be carried by Opus, which takes 8000, 12000, 16000, 24000 or 48000 Hz"))
        }
    }
    // Two Opus settings on WAV: both named.
    cases.append(CommandLineCase(name: "--bitrate and --frame-ms with a WAV output", arguments: convert + ["-o", "$/a.wav", "--bitrate", "32k", "--frame-ms", "10"],
                                 status: 64, message: "leave out --bitrate and --frame-ms."))
    // Headerless PCM flags: each needs --input-format (and --input-rate).
    cases.append(CommandLineCase(name: "--input-channels without --input-format", arguments: convert + ["-o", "$/a.wav", "--input-channels", "2"], status: 64,
                                 message: "--input-channels applies to headerless PCM input; add --input-format"))
    cases.append(CommandLineCase(name: "--input-channels and --input-rate without --input-format",
                                 arguments: convert + ["-o", "$/a.wav", "--input-channels", "2", "--input-rate", "8000"], status: 64,
                                 message: "--input-rate applies to headerless PCM input; add --input-format"))
    cases.append(CommandLineCase(name: "--input-channels with --input-format but no --input-rate",
                                 arguments: convert + ["-o", "$/a.wav", "--input-channels", "2", "--input-format", "s16le"], status: 64,
                                 message: "needs --input-rate"))
    // Negative numbers are numbers, out of range.
    for (flag, message) in [("--rate", "--rate -8000 is outside 1000...384000 Hz."), ("--complexity", "--complexity must be 0...10."),
                            ("--bitrate", "--bitrate must be 500...512000"), ("--frame-ms", "--frame-ms must be one of")] {
        cases.append(CommandLineCase(name: "\(flag) -8000 is a number out of range", arguments: convert + ["-o", "$/a.ogg", flag, "-8000"], status: 64,
                                     message: message))
    }
    cases.append(CommandLineCase(name: "--input-rate -8000 is a number out of range",
                                 arguments: convert + ["-o", "$/a.wav", "--input-format", "mulaw", "--input-rate", "-8000"], status: 64, message: "needs --input-rate in"))
    cases.append(CommandLineCase(name: "--input-channels -2 is a number out of range",
                                 arguments: convert + ["-o", "$/a.wav", "--input-format", "mulaw", "--input-rate", "8000", "--input-channels", "-2"], status: 64,
                                 message: "--input-channels must be 1...8."))
    return cases
}()

/// `--version` and `--format opus`.
let versionAndAliasCases: [CommandLineCase] = [
    CommandLineCase(name: "--version prints the version", arguments: ["--version"]) { run in
        let text = String(decoding: run.result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+/) != nil, "\(text)")
    },
    CommandLineCase(name: "--format opus writes Ogg Opus", arguments: ["convert", "@ga-basic", "-o", "-", "--format", "opus", "-q"]) { run throws in
        #expect(run.result.standardOutput.prefix(4) == Data("OggS".utf8))
        try run.result.standardOutput.write(to: URL(fileURLWithPath: run.path("a.opus")))
        try expectCleanOpusinfo(run.path("a.opus"))
    },
]

/// Issue 13, defect 3: raw and forced input kinds check that the content fits (exit 65, saying what it looks like),
/// and write nothing.
let plausibilityCases: [CommandLineCase] = {
    let noOutput: @Sendable (CommandLineRun) throws -> Void = { run in
        #expect(!FileManager.default.fileExists(atPath: run.path("a.wav")), "nothing is written")
    }
    var cases: [CommandLineCase] = []
    for (session, looksLike) in [("ga-basic", "a JSON Lines session log"), ("json-array", "a JSON array of messages"), ("har-openai", "a HAR export")] {
        for encoding in ["mulaw", "alaw", "s16le"] {
            cases.append(CommandLineCase(name: "--input-format \(encoding) on \(session)",
                                         arguments: ["convert", "@\(session)", "-o", "$/a.wav", "--input-format", encoding, "--input-rate", "8000"], status: 65,
                                         message: "looks like \(looksLike) (JSON text), not headerless \(encoding) audio", check: noOutput))
        }
    }
    cases += [
        CommandLineCase(name: "--input-format mulaw on a session log from standard input", arguments: ["convert", "-", "-o", "$/a.wav", "--input-format", "mulaw",
                                                                                                         "--input-rate", "8000"], status: 65,
                        message: "stdin: looks like a JSON Lines session log", input: "@ga-basic", check: noOutput),
        CommandLineCase(name: "inspect of a JSON Lines log forced as HAR", arguments: ["inspect", "@ga-basic", "--input-kind", "har"], status: 65,
                        message: "read as a HAR export (--input-kind har), it yields no message (no _webSocketMessages); its content looks like a JSON Lines session log"),
        CommandLineCase(name: "convert of a JSON Lines log forced as HAR", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-kind", "har"], status: 65,
                        message: "read as a HAR export (--input-kind har), it yields no message", check: noOutput),
        CommandLineCase(name: "inspect of a JSON array forced as HAR", arguments: ["inspect", "@json-array", "--input-kind", "har"], status: 65,
                        message: "its content looks like a JSON array of messages"),
    ]
    return cases
}()

/// Issue 13, defect 4: the envelopes `make-sessions.py` writes in each spelling, with the field names it used;
/// both tracks convert bit-exact to the PCM it encoded, and `inspect` names the wrapper.
let wrapperCases: [CommandLineCase] = {
    let envelopes: [(session: String, wrapper: String, extra: [String])] = [
        ("envelope", #"{"time", "source", "event": {event}}"#, []),
        ("envelope-string", #"{"time", "source", "event": "<event as a JSON string>"}"#, []),
        ("envelope-ts-message", #"{"ts", "direction", "message": {event}}"#, []),
        ("envelope-payload-string", #"{"timestamp", "direction", "payload": "<event as a JSON string>"}"#, []),
        ("envelope-data", #"{"ts", "data": {event}}"#, []),
        ("envelope-custom-field", #"{"frame": {event}}"#, ["--event-field", "frame"]),
    ]
    var cases: [CommandLineCase] = []
    for (session, wrapper, extra) in envelopes {
        cases.append(CommandLineCase(name: "the \(session) wrapper converts both tracks", arguments: ["convert", "@\(session)", "-o", "$/a.wav", "-q"] + extra) { run throws in
            #expect(try soxDecodeToPCM16(run.path("a.wav")) == GeneratedSessions.expectedAssistant(session))
            #expect(try run.deltatape(["convert", "@\(session)", "-o", "$/u.wav", "--track", "user", "-q"] + extra).status == 0)
            #expect(try soxDecodeToPCM16(run.path("u.wav")) == GeneratedSessions.expectedUser(session))
        })
        cases.append(CommandLineCase(name: "inspect names the \(session) wrapper", arguments: ["inspect", "@\(session)", "--json"] + extra) { run throws in
            let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
            #expect(report?["wrapper"] as? String == wrapper)
            #expect(report?["vocabulary"] as? String == (try GeneratedSessions.manifest(session).vocabulary))
            let text = try run.deltatape(["inspect", "@\(session)"] + extra)
            #expect(String(decoding: text.standardOutput, as: UTF8.self).contains("wrapper: \(wrapper)"))
        })
    }
    cases.append(CommandLineCase(name: "an envelope field no default names, without --event-field", arguments: ["convert", "@envelope-custom-field", "-o", "$/a.wav"],
                                 status: 65, message: "no assistant audio found"))
    cases.append(CommandLineCase(name: "--event-field with no name", arguments: ["inspect", "@envelope", "--event-field", ""], status: 64,
                                 message: "--event-field needs a field name."))
    return cases
}()

/// The lines of session `name`'s log that hold `marker`, written to `file` in the case's folder.
private func keepingLines(of name: String, holding markers: [String], as file: String) -> @Sendable (URL) throws -> Void {
    { folder in
        let lines = try String(contentsOfFile: GeneratedSessions.log(name), encoding: .utf8).split(separator: "\n")
        let kept = lines.filter { line in markers.contains { line.contains($0) } }
        try (kept.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }
}

/// The `type` of every message of the log at `path`, by Python's json (not the reader under test).
private func eventTypes(_ path: String) throws -> Set<String> {
    let script = "import json, sys\nfor line in open(sys.argv[1]):\n    line = line.strip()\n    if line: print(json.loads(line).get('type', ''))"
    return Set(String(decoding: try python(script, [path]), as: UTF8.self).split(separator: "\n").map(String.init))
}

/// Issue 13, defect 5: `convert` gives the diagnosis `inspect` would, and `inspect` quotes a vocabulary's names
/// only when they occur.
let noAudioCases: [CommandLineCase] = [
    CommandLineCase(name: "convert of a WebRTC data-channel log says so", arguments: ["convert", "@no-audio", "-o", "$/a.wav"], status: 65,
                    message: "This is a WebRTC (or SIP) data-channel log"),
    CommandLineCase(name: "convert of a text-only session says so", arguments: ["convert", "@text-only", "-o", "$/a.wav"], status: 65,
                    message: "asked for text output only"),
    CommandLineCase(name: "convert of an envelope it does not know says to name the field",
                    arguments: ["convert", "@envelope-custom-field", "-o", "$/a.wav"], status: 65, message: "name it with --event-field NAME"),
    CommandLineCase(name: "convert of the track without audio points to the other", arguments: ["convert", "$/user-only.jsonl", "-o", "$/a.wav"], status: 65,
                    prepare: keepingLines(of: "ga-basic", holding: ["\"session.created\"", "\"input_audio_buffer.append\""], as: "user-only.jsonl")) { run throws in
        let appends = try String(contentsOfFile: run.path("user-only.jsonl"), encoding: .utf8).components(separatedBy: "input_audio_buffer.append").count - 1
        #expect(run.result.standardError.contains("It does hold the user's audio (\(appends) audio messages): 'deltatape convert --track user' writes it."),
                "\(run.result.standardError)")
        #expect(try run.deltatape(["convert", "$/user-only.jsonl", "-o", "$/u.wav", "--track", "user", "-q"]).status == 0)
        #expect(try soxDecodeToPCM16(run.path("u.wav")) == GeneratedSessions.expectedUser("ga-basic"))
    },
    CommandLineCase(name: "convert --track user of a session without user audio points to the assistant's",
                    arguments: ["convert", "$/assistant-only.jsonl", "-o", "$/a.wav", "--track", "user"], status: 65,
                    message: "It does hold the assistant's audio",
                    prepare: keepingLines(of: "ga-basic", holding: ["\"session.created\"", "\"response.output_audio.delta\""], as: "assistant-only.jsonl")),
    CommandLineCase(name: "inspect quotes GA names only when they occur", arguments: ["inspect", "@no-audio", "--json"]) { run throws in
        let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
        let notes = (report?["diagnoses"] as? [[String: Any]]) ?? []
        let types = try eventTypes(GeneratedSessions.log("no-audio"))
        #expect(!types.contains("response.output_audio.delta"))
        let names = notes.first { $0["code"] as? String == "openai-ga-names" }?["message"] as? String ?? ""
        #expect(!names.isEmpty && !names.contains("response.output_audio.delta"), "\(names)")
        // Every event name it quotes is one the log holds.
        for quoted in names.matches(of: /[a-z_]+\.[a-z_.]+/).map({ String($0.output) }) {
            #expect(types.contains(quoted), "\(quoted) does not occur")
        }
    },
    CommandLineCase(name: "inspect of a GA session with no GA event names says what told it", arguments: ["inspect", "$/user-only.jsonl"],
                    prepare: keepingLines(of: "ga-basic", holding: ["\"session.created\"", "\"input_audio_buffer.append\""], as: "user-only.jsonl")) { run in
        let text = String(decoding: run.result.standardOutput, as: UTF8.self)
        #expect(text.contains("The session uses the OpenAI Realtime GA event names (its session configuration has the GA shape, session.audio)."), "\(text)")
        #expect(!text.contains("response.output_audio.delta)"))
    },
]

/// The assistant PCM Python's json and base64 decode from the log at `path` whose last line may be cut inside its
/// audio payload: every whole delta, then the cut payload's whole groups of eight characters (six bytes), escapes resolved.
private func pythonAssistantPCM(_ path: String) throws -> Data {
    let script = """
        import base64, json, sys
        lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')
        out = bytearray()
        def _valid(text):
            try:
                json.loads(text)
                return True
            except ValueError:
                return False
        for index, line in enumerate(lines):
            if not line.strip(): continue
            try:
                message = json.loads(line)
            except ValueError:
                assert index == len(lines) - 1, 'only the last line is cut'
                written = line[line.index('"delta": "') + len('"delta": "'):]
                # The longest prefix that is whole JSON string content (an escape cut in the middle is dropped).
                payload = next(json.loads('"' + written[:end] + '"') for end in range(len(written), -1, -1)
                               if not written[:end].endswith('\\\\') and _valid('"' + written[:end] + '"'))
                out += base64.b64decode(payload[:len(payload) // 8 * 8])  # whole 6-byte groups: whole samples
                continue
            if message.get('type') == 'response.output_audio.delta':
                out += base64.b64decode(message['delta'])
        sys.stdout.buffer.write(bytes(out[:len(out) // 2 * 2]))
        """
    return try python(script, [path])
}

/// Issue 13, defect 7: a line cut off mid-payload keeps the decodable prefix of its audio; the warning says how much.
let cutOffCases: [CommandLineCase] = [
    CommandLineCase(name: "a log cut off mid-payload keeps the audio before the cut", arguments: ["convert", "@cut-off-line", "-o", "$/a.wav"],
                    message: "the first 750 bytes of audio (16 ms) are kept") { run throws in
        let pcm = try soxDecodeToPCM16(run.path("a.wav"))
        #expect(pcm == (try GeneratedSessions.expectedAssistant("cut-off-line")))
        #expect(pcm == (try pythonAssistantPCM(GeneratedSessions.log("cut-off-line"))))
        let line = try GeneratedSessions.manifest("cut-off-line").problemLines.first ?? 0
        #expect(run.result.standardError.contains("cut-off-line.jsonl:\(line): warning: the line is cut off inside its audio payload"))
        #expect(run.result.standardError.contains("1 warning"))
    },
    CommandLineCase(name: "a cut-off line under --strict names its line", arguments: ["convert", "@cut-off-line", "-o", "$/a.wav", "--strict"], status: 65,
                    message: "cut off inside its audio payload"),
    CommandLineCase(name: "inspect counts the audio before the cut", arguments: ["inspect", "@cut-off-line", "--json"]) { run throws in
        let report = try JSONDecoder().decode(InspectJSON.self, from: run.result.standardOutput)
        #expect(report.assistant.byteCount == (try GeneratedSessions.expectedAssistant("cut-off-line")).count)
        #expect(report.problems.map(\.line) == (try GeneratedSessions.manifest("cut-off-line").problemLines))
    },
] + (0..<8).map { shift in
    // The escaped-slashes log up to a delta, that delta cut at 8 neighbouring bytes of its line (inside `\/` and
    // `\u002B` escapes, or between them).
    CommandLineCase(name: "a cut inside an escaped payload keeps whole groups (cut at byte \(777 + shift))", arguments: ["convert", "$/cut.jsonl", "-o", "$/a.wav", "-q"],
                    prepare: { folder in
                        let lines = try String(contentsOfFile: GeneratedSessions.log("escaped-slashes"), encoding: .utf8).split(separator: "\n")
                        let cutAt = try #require(lines.indices.filter { lines[$0].contains("response.output_audio.delta") && lines[$0].contains("\\/") }.dropFirst(5).first)
                        let text = lines[..<cutAt].joined(separator: "\n") + "\n" + String(lines[cutAt].utf8.prefix(777 + shift))!
                        try text.write(to: folder.appendingPathComponent("cut.jsonl"), atomically: true, encoding: .utf8)
                    }) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == pythonAssistantPCM(run.path("cut.jsonl")))
    }
}
