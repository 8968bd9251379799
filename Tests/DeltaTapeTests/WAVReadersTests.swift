import Foundation
import TestSupport
import Testing

/// Every kind of WAV the command line writes, read by every reader users have: Python's `wave` (16-bit), libsndfile,
/// sox and ffmpeg, each giving the exact frame count (SPEC §5). Expected counts come from the fixture script's PCM,
/// or from the rate arithmetic for resampled output.
@Suite struct WAVReadersTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// Arguments after `convert INPUT`; `$out` is the output path.
        var arguments: [String]
        /// The input: a fixture's name, `speech-stereo` (TestAudio's speech, as a 2-channel raw PCM stream), or
        /// `twilio-both` (the Twilio fork with both tracks, converted with `--track both`).
        var input = "ga-basic"
        /// Written through a shell redirection (`-o - > file`, or a pipe into `cat > file`).
        var redirect: Redirect = .none
        var channels = 1
        var rate = 24_000
        /// The input's rate, when it is not 24 kHz.
        var sourceRate = 24_000
        var isFloat = false
        var testDescription: String { name }
    }

    enum Redirect: Sendable { case none, toFile, throughPipe }

    static let cases: [Case] = [
        Case(name: "mono s16 file", arguments: ["-o", "$out"]),
        Case(name: "mono f32 file", arguments: ["-o", "$out", "--sample-format", "f32"], isFloat: true),
        Case(name: "mono s16 resampled to 16 kHz", arguments: ["-o", "$out", "--rate", "16000"], rate: 16_000),
        Case(name: "mono s16 to stdout redirected to a file (finalized)", arguments: ["-o", "-", "--format", "wav"], redirect: .toFile),
        Case(name: "mono s16 to a pipe", arguments: ["-o", "-", "--format", "wav"], redirect: .throughPipe),
        Case(name: "mono f32 to a pipe", arguments: ["-o", "-", "--format", "wav", "--sample-format", "f32"], redirect: .throughPipe,
             isFloat: true),
        Case(name: "stereo s16 file", arguments: ["-o", "$out", "--input-format", "s16le", "--input-rate", "24000", "--input-channels", "2"],
             input: "speech-stereo", channels: 2),
        Case(name: "stereo s16 to a pipe", arguments: ["-o", "-", "--format", "wav", "--input-format", "s16le", "--input-rate", "24000",
                                                     "--input-channels", "2"], input: "speech-stereo", redirect: .throughPipe, channels: 2),
        // Both tracks of a conversation on one clock: the stereo layout and the mono mix, to a file and to a pipe.
        Case(name: "stereo s16, --track both, file", arguments: ["-o", "$out", "--track", "both"], input: "twilio-both", channels: 2,
             rate: 8_000, sourceRate: 8_000),
        Case(name: "stereo s16, --track both, to a pipe", arguments: ["-o", "-", "--format", "wav", "--track", "both"], input: "twilio-both",
             redirect: .throughPipe, channels: 2, rate: 8_000, sourceRate: 8_000),
        Case(name: "mono mix, --track both --layout mono, file", arguments: ["-o", "$out", "--track", "both", "--layout", "mono"],
             input: "twilio-both", rate: 8_000, sourceRate: 8_000),
    ]

    @Test(arguments: cases) func everyReaderGivesTheExactFrameCount(_ test: Case) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let output = folder.appendingPathComponent("out.wav").path
        let (input, inputFrames) = try Self.input(test.input, in: folder)
        let expectedFrames = test.rate == test.sourceRate ? inputFrames
            : Int((Double(inputFrames) * Double(test.rate) / Double(test.sourceRate)).rounded())

        let command = ([TestEnvironment.deltatapeExecutable.path, "convert", input] + test.arguments.map { $0 == "$out" ? output : $0 })
            .map { "'\($0)'" }.joined(separator: " ")
        let shell = switch test.redirect {
        case .none: command
        case .toFile: "\(command) > '\(output)'"
        case .throughPipe: "\(command) | cat > '\(output)'"
        }
        let result = try run("/bin/bash", ["-c", "set -o pipefail; " + shell])
        try #require(result.status == 0, "\(result.standardError)")

        // The header says how it was written: real sizes on a file, unknown (0xFFFFFFFF) on a pipe.
        let header = try Data(contentsOf: URL(fileURLWithPath: output)).prefix(8)
        let riffSize = header.suffix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((riffSize == 0xFFFF_FFFF) == (test.redirect == .throughPipe), "RIFF size \(riffSize)")

        if !test.isFloat {
            let wave = try python("""
                import sys, wave
                w = wave.open(sys.argv[1])
                print(w.getnframes(), w.getnchannels(), w.getframerate(), len(w.readframes(w.getnframes())) // (2 * w.getnchannels()))
                """, [output])
            // Python's wave takes the header's count; on a pipe that is "unknown", and it reads what is there.
            let fields = String(decoding: wave, as: UTF8.self).split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(fields[1] == test.channels && fields[2] == test.rate && fields[3] == expectedFrames, "\(fields)")
            if test.redirect != .throughPipe { #expect(fields[0] == expectedFrames) }
        }
        let info = try run("sndfile-info", [output])
        #expect(info.status == 0)
        let infoText = String(decoding: info.standardOutput, as: UTF8.self)
        if test.redirect != .throughPipe {
            #expect(infoText.contains("Frames      : \(expectedFrames)\n") && !infoText.contains("should be"), "\(infoText)")
        }
        let sox = try run("sox", [output, "-t", "raw", "-e", "signed-integer", "-b", "16", "-"])
        #expect(sox.status == 0 && sox.standardOutput.count == expectedFrames * 2 * test.channels, "\(sox.standardError)")
        let ffmpeg = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-"])
        #expect(ffmpeg.status == 0 && ffmpeg.standardOutput.count == expectedFrames * 2 * test.channels, "\(ffmpeg.standardError)")
    }

    /// The input's path and its frame count (from the fixture script's PCM, or the raw file's size).
    static func input(_ name: String, in folder: URL) throws -> (String, Int) {
        if name == "twilio-both" {
            // Both tracks sit at their media timestamps (20 ms chunks from 0) and end together: as long as the longer.
            let frames = max(try GeneratedSessions.expectedAssistant("twilio").count, try GeneratedSessions.expectedUser("twilio").count) / 2
            return (try GeneratedSessions.log("twilio"), frames)
        }
        guard name == "speech-stereo" else {
            return (try GeneratedSessions.log(name), try GeneratedSessions.expectedAssistant(name).count / 2)
        }
        let speech = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/assistant-speech.wav").path
        let raw = folder.appendingPathComponent("speech-stereo.raw")
        let made = try run("sox", [speech, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-r", "24000", "-c", "2", raw.path])
        try #require(made.status == 0, "\(made.standardError)")
        return (raw.path, try Data(contentsOf: raw).count / 4)
    }
}
