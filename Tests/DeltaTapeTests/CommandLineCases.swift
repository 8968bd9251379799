import Foundation
import TestSupport
import Testing

/// Converting `stereo.raw` (see ``makeRawInputs``) to `output`.
private func stereoRaw(to output: String) -> [String] {
    ["convert", "$/stereo.raw", "-o", output, "--input-format", "s16le", "--input-rate", "16000", "--input-channels", "2"]
}

/// Flags that must have their effect.
let flagCases: [CommandLineCase] = [
    CommandLineCase(name: "--frame-ms 2.5 makes 2.5 ms packets", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--frame-ms", "2.5", "-q"]) { run throws in
        let durations = try packetDurations(run.path("a.ogg"))
        #expect(durations.count > 1000 && durations.dropLast().allSatisfy { $0 == 2.5 }, "\(durations.prefix(8))")
    },
    CommandLineCase(name: "--frame-ms 60 makes 60 ms blocks", arguments: ["convert", "@ga-basic", "-o", "$/a.webm", "--frame-ms", "60", "-q"]) { run throws in
        let durations = try packetDurations(run.path("a.webm"))
        #expect(durations.count > 10 && durations.dropLast().allSatisfy { $0 == 60 }, "\(durations.prefix(8))")
    },
    CommandLineCase(name: "--complexity changes the encoding", arguments: ["convert", "@ga-basic", "-o", "$/c0.ogg", "--complexity", "0", "-q"]) { run throws in
        #expect(try run.deltatape(["convert", "@ga-basic", "-o", "$/c10.ogg", "--complexity", "10", "-q"]).status == 0)
        // The decoded audio differs (the files always do: each Ogg stream has a random serial number), in content
        // only: both hold the whole session.
        let low = try ffmpegDecodeToPCM16(run.path("c0.ogg")), high = try ffmpegDecodeToPCM16(run.path("c10.ogg"))
        #expect(low.count == high.count)
        #expect(low != high)
    },
    CommandLineCase(name: "--application voip high-passes", arguments: ["convert", "$/tones.wav", "-o", "$/voip.ogg", "--application", "voip", "-q"],
                    prepare: makeTones) { run throws in
        #expect(try lowToneRetention(run.path("voip.ogg")) < 0.6)
    },
    CommandLineCase(name: "--application audio (the default) keeps low tones", arguments: ["convert", "$/tones.wav", "-o", "$/audio.ogg", "-q"],
                    prepare: makeTones) { run throws in
        #expect(try lowToneRetention(run.path("audio.ogg")) > 0.9)
    },
    CommandLineCase(name: "--quiet prints nothing, even warnings", arguments: ["convert", "@malformed", "-o", "$/a.wav", "--quiet"]) { run throws in
        #expect(run.result.standardError.isEmpty, "\(run.result.standardError)")
        #expect(run.result.standardOutput.isEmpty)
        #expect(try run.deltatape(["convert", "@malformed", "-o", "$/b.wav"]).standardError.contains("warning"))
    },
    CommandLineCase(name: "--track user to WAV", arguments: ["convert", "@ga-basic", "-o", "$/u.wav", "--track", "user"]) { run throws in
        #expect(try soxDecodeToPCM16(run.path("u.wav")) == GeneratedSessions.expectedUser("ga-basic"))
        #expect(run.result.standardError.contains("user"))
    },
    CommandLineCase(name: "--track user to Opus", arguments: ["convert", "@gemini", "-o", "$/u.ogg", "--track", "user", "-q"]) { run throws in
        try expectCleanOpusinfo(run.path("u.ogg"))
        #expect(try probe(run.path("u.ogg"), "stream=channels") == "1")
        // The user side is 16 kHz: decoded at 48 kHz it is three times as many samples.
        #expect(try ffmpegDecodeToPCM16(run.path("u.ogg")).count == GeneratedSessions.expectedUser("gemini").count * 3)
    },
    CommandLineCase(name: "--rate 16000", arguments: ["convert", "@odd-splits", "-o", "$/r.wav", "--rate", "16000"]) { run throws in
        #expect(try probe(run.path("r.wav"), "stream=sample_rate") == "16000")
        #expect(run.result.standardError.contains("16000 Hz"))
        try expectAgreesWithSox(run.path("r.wav"), session: "odd-splits", rate: 16_000, minimumSNR: 50)
    },
    CommandLineCase(name: "--resampler libsamplerate", arguments: ["convert", "@odd-splits", "-o", "$/lsr.wav", "--rate", "16000", "--resampler", "libsamplerate"]) { run throws in
        try expectAgreesWithSox(run.path("lsr.wav"), session: "odd-splits", rate: 16_000, minimumSNR: 35)  // measured 41.7 dB
        #expect(try run.deltatape(["convert", "@odd-splits", "-o", "$/soxr.wav", "--rate", "16000", "--resampler", "soxr"]).status == 0)
        #expect(try soxDecodeToPCM16(run.path("lsr.wav")) != soxDecodeToPCM16(run.path("soxr.wav")))
    },
    CommandLineCase(name: "--quality low", arguments: ["convert", "@odd-splits", "-o", "$/low.wav", "--rate", "16000", "--quality", "low"]) { run throws in
        try expectAgreesWithSox(run.path("low.wav"), session: "odd-splits", rate: 16_000, minimumSNR: 20)
        #expect(try run.deltatape(["convert", "@odd-splits", "-o", "$/best.wav", "--rate", "16000", "--quality", "very-high"]).status == 0)
        try expectAgreesWithSox(run.path("best.wav"), session: "odd-splits", rate: 16_000, minimumSNR: 50)
        #expect(try soxDecodeToPCM16(run.path("low.wav")) != soxDecodeToPCM16(run.path("best.wav")))
    },
    CommandLineCase(name: "--sample-format f32", arguments: ["convert", "@ga-basic", "-o", "$/f.wav", "--sample-format", "f32"]) { run throws in
        #expect(try probe(run.path("f.wav"), "stream=codec_name") == "pcm_f32le")
        #expect(try ffmpegDecodeToPCM16(run.path("f.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
    CommandLineCase(name: "f32 to standard output", arguments: ["convert", "-", "-o", "-", "--format", "wav", "--sample-format", "f32"], input: "@ga-basic") { run throws in
        let bytes = run.result.standardOutput
        #expect(bytes.prefix(4) == Data("RIFF".utf8) && bytes.count > 44)
        #expect(bytes.count > 22 && bytes[20] == 3 && bytes[21] == 0, "WAVE_FORMAT_IEEE_FLOAT")
        try bytes.write(to: URL(fileURLWithPath: run.path("stream.wav")))
        #expect(try ffmpegDecodeToPCM16(run.path("stream.wav")) == GeneratedSessions.expectedAssistant("ga-basic"))
    },
    CommandLineCase(name: "--input-format mulaw", arguments: ["convert", "$/speech.mulaw", "-o", "$/m.wav", "--input-format", "mulaw", "--input-rate", "8000"],
                    prepare: makeRawInputs) { run throws in
        #expect(try soxDecodeToPCM16(run.path("m.wav")) == soxDecodeG711(run.path("speech.mulaw"), encoding: "mu-law"))
    },
    CommandLineCase(name: "--input-format alaw", arguments: ["convert", "$/speech.alaw", "-o", "$/a.wav", "--input-format", "alaw", "--input-rate", "8000"],
                    prepare: makeRawInputs) { run throws in
        #expect(try soxDecodeToPCM16(run.path("a.wav")) == soxDecodeG711(run.path("speech.alaw"), encoding: "a-law"))
        #expect(try probe(run.path("a.wav"), "stream=sample_rate") == "8000")
    },
    CommandLineCase(name: "--input-format s16le --input-channels 2", arguments: ["convert", "$/stereo.raw", "-o", "$/s.wav", "--input-format", "s16le",
                                                                                   "--input-rate", "16000", "--input-channels", "2"], prepare: makeRawInputs) { run throws in
        #expect(try soxDecodeToPCM16(run.path("s.wav")) == Data(contentsOf: URL(fileURLWithPath: run.path("stereo.raw"))))
        #expect(try probe(run.path("s.wav"), "stream=channels") == "2")
        #expect(run.result.standardError.contains("stereo"))
    },
    CommandLineCase(name: "stereo Ogg Opus", arguments: stereoRaw(to: "$/s.ogg"), prepare: makeRawInputs) { run throws in
        try expectCleanOpusinfo(run.path("s.ogg"))
        #expect(try probe(run.path("s.ogg"), "stream=channels") == "2")
        let frames = try Data(contentsOf: URL(fileURLWithPath: run.path("stereo.raw"))).count / 4
        let decoded = pcm16Samples(try ffmpegDecodeToPCM16(run.path("s.ogg")))
        #expect(decoded.count == frames * 3 * 2)
        // Right is the inverse of left: the channels were kept apart.
        #expect(leastSquaresGain(stride(from: 1, to: decoded.count, by: 2).map { decoded[$0] }, stride(from: 0, to: decoded.count, by: 2).map { decoded[$0] }) < -0.9)
    },
    CommandLineCase(name: "stereo WebM Opus", arguments: stereoRaw(to: "$/s.webm"), prepare: makeRawInputs) { run throws in
        #expect(try probe(run.path("s.webm"), "stream=channels") == "2")
        let frames = try Data(contentsOf: URL(fileURLWithPath: run.path("stereo.raw"))).count / 4
        #expect(try ffmpegDecodeToPCM16(run.path("s.webm")).count == frames * 3 * 2 * 2)
    },
    CommandLineCase(name: "the .opus extension writes Ogg Opus", arguments: ["convert", "@ga-basic", "-o", "$/a.opus"]) { run throws in
        #expect(try Data(contentsOf: URL(fileURLWithPath: run.path("a.opus"))).prefix(4) == Data("OggS".utf8))
        try expectCleanOpusinfo(run.path("a.opus"))
        #expect(run.result.standardError.contains("Ogg Opus"))
    },
    CommandLineCase(name: "inspect - reads standard input", arguments: ["inspect", "-"], input: "@ga-basic") { run throws in
        let text = String(decoding: run.result.standardOutput, as: UTF8.self)
        #expect(text.hasPrefix("stdin: "), "\(text)")
        #expect(text.contains("vocabulary: OpenAI Realtime GA"))
    },
    CommandLineCase(name: "inspect --input-kind jsonl reads past a damaged start", arguments: ["inspect", "$/damaged.log", "--input-kind", "jsonl", "--json"],
                    prepare: { folder in
                        let garbage = Data(String(repeating: "<<< garbage line >>>\n", count: 20).utf8)
                        try (garbage + Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))).write(to: folder.appendingPathComponent("damaged.log"))
                    }) { run throws in
        let report = try JSONSerialization.jsonObject(with: run.result.standardOutput) as? [String: Any]
        #expect(report?["vocabulary"] as? String == "openai-ga")
        // All 20 counted; listed as five examples and one line saying how many more (a bounded report).
        #expect(report?["problemCount"] as? Int == 20)
        #expect((report?["problems"] as? [[String: Any]])?.map { $0["line"] as? Int } == [1, 2, 3, 4, 5, 20])
        // Without the flag, the start decides: not a recognized input.
        let detected = try run.deltatape(["inspect", "$/damaged.log"])
        #expect(detected.status == 65 && detected.standardError.contains("not a recognized input"), "\(detected.standardError)")
    },
]

/// Every `ValidationError` of `deltatape convert`, and values its options refuse: exit 64 with the sentence.
let validationCases: [CommandLineCase] = [
    CommandLineCase(name: "--complexity out of range", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--complexity", "11"], status: 64,
                    message: "--complexity must be 0...10."),
    CommandLineCase(name: "--frame-ms not an Opus frame", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--frame-ms", "30"], status: 64,
                    message: "--frame-ms must be one of 2.5, 5, 10, 20, 40, 60."),
    CommandLineCase(name: "--bitrate out of range", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--bitrate", "600k"], status: 64,
                    message: "--bitrate must be 500...512000 bits per second"),
    CommandLineCase(name: "--bitrate not a number", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--bitrate", "fast"], status: 64,
                    message: "--bitrate"),
    CommandLineCase(name: "--rate out of range", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--rate", "999"], status: 64,
                    message: "--rate 999 is outside 1000...384000 Hz."),
    CommandLineCase(name: "--input-format without --input-rate", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-format", "s16le"], status: 64,
                    message: "Headerless PCM input (--input-format) needs --input-rate in 1000...384000 Hz."),
    CommandLineCase(name: "--input-rate out of range", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-format", "alaw", "--input-rate", "800000"],
                    status: 64, message: "needs --input-rate in 1000...384000 Hz."),
    CommandLineCase(name: "--input-channels out of range", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-format", "s16le", "--input-rate", "8000",
                                                                         "--input-channels", "9"], status: 64, message: "--input-channels must be 1...8."),
    CommandLineCase(name: "--input-rate without --input-format", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-rate", "8000"], status: 64,
                    message: "--input-rate applies to headerless PCM input; add --input-format s16le, mulaw or alaw."),
    CommandLineCase(name: "--input-format with --input-kind", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-format", "s16le", "--input-rate", "8000",
                                                                            "--input-kind", "jsonl"], status: 64,
                    message: "--input-format already says the input is headerless PCM; leave out --input-kind."),
    CommandLineCase(name: "--input-kind audio from standard input", arguments: ["convert", "-", "-o", "$/a.wav", "--input-kind", "audio"], status: 64,
                    message: "Audio files are read from a path, not from standard input"),
    CommandLineCase(name: "-o - without --format", arguments: ["convert", "@ga-basic", "-o", "-"], status: 64,
                    message: "Writing to standard output ('-o -') needs --format"),
    CommandLineCase(name: "an output extension that names no format", arguments: ["convert", "@ga-basic", "-o", "$/a.mp3"], status: 64,
                    message: "Cannot tell the format of"),
    CommandLineCase(name: "--track all", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--track", "all"], status: 64, message: "--track"),
    CommandLineCase(name: "--layout without --track both", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--layout", "mono"], status: 64,
                    message: "add --track both"),
    CommandLineCase(name: "--layout separate to standard output", arguments: ["convert", "@ga-basic", "-o", "-", "--format", "wav",
                                                                               "--track", "both", "--layout", "separate"], status: 64,
                    message: "two files"),
    CommandLineCase(name: "--sample-format s24", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--sample-format", "s24"], status: 64, message: "--sample-format"),
    CommandLineCase(name: "--resampler ffmpeg", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--resampler", "ffmpeg"], status: 64, message: "--resampler"),
    CommandLineCase(name: "--quality ultra", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--quality", "ultra"], status: 64, message: "--quality"),
    CommandLineCase(name: "--application music", arguments: ["convert", "@ga-basic", "-o", "$/a.ogg", "--application", "music"], status: 64, message: "--application"),
    CommandLineCase(name: "--input-format flac", arguments: ["convert", "@ga-basic", "-o", "$/a.wav", "--input-format", "flac"], status: 64, message: "--input-format"),
    CommandLineCase(name: "inspect --input-kind xml", arguments: ["inspect", "@ga-basic", "--input-kind", "xml"], status: 64, message: "--input-kind"),
    CommandLineCase(name: "no subcommand argument", arguments: ["convert"], status: 64, message: "Missing expected argument"),
]

/// Bad data (65), inputs that cannot be read (66) and output failures (74).
let failureCases: [CommandLineCase] = [
    CommandLineCase(name: "an input that does not exist", arguments: ["convert", "$/missing.jsonl", "-o", "$/a.wav"], status: 66,
                    message: "missing.jsonl: cannot open for reading: No such file or directory"),
    CommandLineCase(name: "inspect of an input that does not exist", arguments: ["inspect", "$/missing.jsonl"], status: 66,
                    message: "missing.jsonl: cannot open for reading"),
    CommandLineCase(name: "an empty input file", arguments: ["convert", "$/empty.jsonl", "-o", "$/a.wav"], status: 65, message: "the input is empty",
                    prepare: { try Data().write(to: $0.appendingPathComponent("empty.jsonl")) }) { run throws in
        #expect(!FileManager.default.fileExists(atPath: run.path("a.wav")))
    },
    CommandLineCase(name: "empty standard input", arguments: ["convert", "-", "-o", "$/a.wav"], status: 65, message: "stdin: the input is empty"),
    CommandLineCase(name: "inspect of an empty input", arguments: ["inspect", "$/empty.jsonl"], status: 65, message: "the input is empty",
                    prepare: { try Data().write(to: $0.appendingPathComponent("empty.jsonl")) }),
    CommandLineCase(name: "a session without audio", arguments: ["convert", "@text-only", "-o", "$/a.wav"], status: 65, message: "response.output_audio.delta"),
    CommandLineCase(name: "--strict stops at the first bad line", arguments: ["convert", "@half-sample-end", "-o", "$/a.wav", "--strict"], status: 65,
                    message: "half a sample"),
    CommandLineCase(name: "an output folder that does not exist", arguments: ["convert", "@ga-basic", "-o", "$/missing/a.wav"], status: 74, message: "/missing/a.wav"),
]
