import Foundation
import TestSupport
import Testing

/// A live session between turns: its log arrives on standard input, then nothing for a while, and the conversion is
/// killed (SIGKILL: no chance to finish). The file must hold all the audio received up to a second before the kill,
/// in every format (SPEC §5).
@Suite struct StalledInputTests {
    /// The first lines of `ga-basic` holding at least `seconds` of assistant audio, and that audio's PCM (from the
    /// fixture script's own PCM, cut where Foundation's base64 decoding of the lines says).
    static func firstLines(holding seconds: Double) throws -> (lines: Data, pcm: Data) {
        let text = try String(contentsOfFile: GeneratedSessions.log("ga-basic"), encoding: .utf8)
        var lines = Data(), byteCount = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(Data((line + "\n").utf8))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if object?["type"] as? String == "response.output_audio.delta", let delta = object?["delta"] as? String {
                byteCount += Data(base64Encoded: delta)?.count ?? 0
            }
            if Double(byteCount) / 2 / 24_000 >= seconds { break }
        }
        return (lines, try GeneratedSessions.expectedAssistant("ga-basic").prefix(byteCount))
    }

    /// Starts `deltatape convert - -o output` and writes `lines` to its standard input, which stays open: a live
    /// session that has gone quiet.
    static func startConverting(_ lines: Data, to output: String, format: String) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = TestEnvironment.deltatapeExecutable
        // --complexity is an Opus setting: a WAV output refuses it.
        process.arguments = ["convert", "-", "-o", output] + (format == "wav" ? [] : ["--complexity", "0"])
        let input = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: lines)
        return (process, input)
    }

    @Test(arguments: ["wav", "ogg", "webm"]) func aKilledConversionOfAStalledInputHoldsWhatItReceived(_ format: String) throws {
        let (lines, pcm) = try Self.firstLines(holding: 4)
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("stalled.\(format)").path
        let (process, input) = try Self.startConverting(lines, to: output, format: format)
        // The session goes quiet (the pipe stays open) for 2.5 s, then the process is killed.
        Thread.sleep(forTimeInterval: 2.5)
        kill(process.processIdentifier, SIGKILL)
        waitForExit(process)
        try input.fileHandleForWriting.close()
        #expect(process.terminationReason == .uncaughtSignal)

        let frames = pcm.count / 2
        switch format {
        case "wav":
            // Every sample, exactly: Python's wave (the strictest reader), sox and ffmpeg.
            let read = try python("import sys, wave\nw = wave.open(sys.argv[1])\nsys.stdout.buffer.write(w.readframes(w.getnframes()))", [output])
            #expect(read == pcm)
            #expect(try soxDecodeToPCM16(output) == pcm)
            #expect(try ffmpegDecodeToPCM16(output) == pcm)
        default:
            // Every whole Opus frame: at most one 20 ms frame waits for more samples, and the decoded start is the
            // received audio's (lag 0 within the codec's error).
            let result = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-ar", "24000", "-"])
            #expect(result.status == 0, "\(result.standardError)")
            let decoded = result.standardOutput.count / 2
            #expect(decoded >= frames - 480 - 24 && decoded <= frames + 480, "decoded \(decoded) of \(frames) frames")
        }
    }

    /// Standard output redirected to a file (`-o - > out.wav`) is locked as a named output is: a second process
    /// redirected to the same file exits 74 saying another process writes it, and writes nothing into it.
    @Test func aSecondWriterOfTheSameRedirectedStandardOutputIsRefused() throws {
        let (lines, _) = try Self.firstLines(holding: 2)
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("redirected.wav").path
        #expect(FileManager.default.createFile(atPath: output, contents: nil))
        let first = Process()
        first.executableURL = TestEnvironment.deltatapeExecutable
        first.arguments = ["convert", "-", "-o", "-", "--format", "wav"]
        let input = Pipe()
        first.standardInput = input
        // Unwrapped first: required straight into `standardOutput` (an `Any?`), the check would never fail.
        let outputHandle: FileHandle = try #require(FileHandle(forWritingAtPath: output))
        first.standardOutput = outputHandle
        first.standardError = FileHandle.nullDevice
        try first.run()
        try input.fileHandleForWriting.write(contentsOf: lines)
        for _ in 0..<500 where ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0) == 0 {
            Thread.sleep(forTimeInterval: 0.01)
        }
        // `>>`, so that the second's shell does not empty the first's file before the second process even starts.
        let second = try run("sh", ["-c", #""$0" convert "$1" -o - --format wav >> "$2""#, TestEnvironment.deltatapeExecutable.path,
                                    try GeneratedSessions.log("beta-basic"), output])
        #expect(second.status == 74 && second.standardError.contains("another process is writing"), "\(second.standardError)")
        try input.fileHandleForWriting.close()
        waitForExit(first)
        #expect(first.terminationStatus == 0)
        // The first's file alone: a WAV of the lines it was given, nothing appended by the second.
        let pcm = try Self.firstLines(holding: 2).pcm
        #expect(try ffmpegDecodeToPCM16(output) == pcm)
        let file = try Data(contentsOf: URL(fileURLWithPath: output))
        let data = try #require(file.range(of: Data("data".utf8)))
        #expect(file.count == data.upperBound + 4 + pcm.count, "\(file.count) bytes")
    }

    /// Two processes writing one output: the second is refused (exit 74, saying another process writes the file)
    /// before it touches the file, and the first goes on to a whole file.
    @Test(arguments: ["wav", "webm"]) func aSecondWriterOfTheSameFileIsRefused(_ format: String) throws {
        let (lines, pcm) = try Self.firstLines(holding: 2)
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("shared.\(format)").path
        let (first, input) = try Self.startConverting(lines, to: output, format: format)
        // Once the first has written something, it holds the file.
        for _ in 0..<500 where ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0) == 0 {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let second = try run(TestEnvironment.deltatapeExecutable.path, ["convert", try GeneratedSessions.log("beta-basic"), "-o", output])
        #expect(second.status == 74 && second.standardError.contains("another process is writing"), "\(second.standardError)")
        try input.fileHandleForWriting.close()
        waitForExit(first)
        #expect(first.terminationStatus == 0)
        // The first's file, whole: its audio alone.
        if format == "wav" {
            #expect(try ffmpegDecodeToPCM16(output) == pcm)
        } else {
            let decoded = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-ar", "24000", "-"]).standardOutput
            #expect(decoded.count == pcm.count, "decoded \(decoded.count / 2) of \(pcm.count / 2) frames")
        }
    }
}
