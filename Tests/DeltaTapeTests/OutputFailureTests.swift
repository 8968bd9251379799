import DeltaTape
import Foundation
import TestSupport
import Testing

/// An output that fails part-way (a full disk, a file-size limit, a reader gone) says how much audio it holds, and
/// that claim is what independent readers decode from the bytes that did arrive: Python's `wave` for WAV (the header's
/// count on a file, every whole frame on a stream), ffmpeg for Ogg and WebM (at 48 kHz, whose samples the claim at
/// 24 kHz counts rounded down). The bytes that arrived, not the samples the writer took: those run ahead by what it
/// still buffered (a WAV block, an open Ogg page or WebM cluster).
@Suite struct OutputFailureTests {
    /// Takes the first `limit` bytes appended and fails the append that passes it after taking what fits, as a full
    /// disk does; overwrites of bytes already there succeed, as they do on a full disk. Seekable (a file) or not (a pipe).
    final class LimitedSink: PositionalByteSink {
        let name = "limited"
        let isSeekable: Bool
        let limit: Int
        private(set) var bytes: [UInt8] = []

        init(limit: Int, seekable: Bool) {
            self.limit = limit
            isSeekable = seekable
        }

        var byteCount: Int { bytes.count }

        func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
            let taken = min(bytes.count, limit - self.bytes.count)
            self.bytes.append(contentsOf: bytes.prefix(taken))
            if taken < bytes.count {
                throw OutputError(path: name, reason: "No space left on device", code: 28, writtenByteCount: self.bytes.count)
            }
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
            precondition(isSeekable && offset + bytes.count <= self.bytes.count, "overwrite of a non-seekable sink or past its end")
            self.bytes.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }

        func close() throws(OutputError) {}
    }

    /// Converts `session` through ``SessionPipeline`` into `sink`; returns the output error it ended with, if any.
    static func convert(_ session: String, to format: OutputFormat, into sink: LimitedSink) throws -> OutputError? {
        var options = ConversionOptions()
        options.format = format
        options.opus.complexity = 0
        let pipeline = SessionPipeline(options: options, inputName: session, makeSink: { _ in sink }, problem: { _ in })
        defer { pipeline.closeQuietly() }
        let log = try SessionLog.openSession(path: GeneratedSessions.log(session))
        do {
            while let (line, event) = try log.nextEvent(problem: { (found) throws(ConversionError) in try pipeline.note(found) }) {
                try pipeline.take(event, line: line)
            }
            try pipeline.finish(line: log.lineCount) { _ in "no audio" }
        } catch ConversionError.output(let error) {
            return error
        }
        return nil
    }

    /// Whole frames Python's `wave` reads from a WAV file: the header's count (a streaming header's 0xFFFFFFFF reads to
    /// the end), then the samples themselves.
    static let readWAV = #"""
    import sys, wave
    w = wave.open(sys.argv[1])
    data = w.readframes(w.getnframes())
    sys.stdout.buffer.write(data)
    """#

    /// Samples ffmpeg decodes from an Opus file at 48 kHz (mono), however the file ends.
    static func ffmpegFrameCount48k(_ path: String) throws -> Int {
        try run("ffmpeg", ["-v", "quiet", "-i", path, "-f", "s16le", "-ar", "48000", "-ac", "1", "-"]).standardOutput.count / 2
    }

    @Test(arguments: [OutputFormat.wav, .ogg, .webm], [true, false])
    func theClaimedAudioIsWhatReadersDecodeFromTheBytesThatArrived(_ format: OutputFormat, _ seekable: Bool) throws {
        var generator = SeededGenerator()
        let whole = LimitedSink(limit: .max, seekable: seekable)
        #expect(try Self.convert("ga-basic", to: format, into: whole) == nil)
        let pcm = try GeneratedSessions.expectedAssistant("ga-basic")
        let folder = try TestEnvironment.temporaryDirectory()
        for attempt in 0..<4 {
            // Past the headers (under 400 bytes), anywhere in the audio.
            let limit = Int.random(in: 400..<whole.bytes.count, using: &generator)
            let context = "\(format) \(seekable ? "file" : "pipe"), \(limit) of \(whole.bytes.count) bytes, \(generator)"
            let sink = LimitedSink(limit: limit, seekable: seekable)
            let error = try #require(try Self.convert("ga-basic", to: format, into: sink), "\(context)")
            #expect(error.writtenByteCount == limit && error.code == 28, "\(error), \(context)")
            let audio = try #require(error.writtenAudio, "\(error), \(context)")
            #expect(audio.sampleRate == 24_000, "\(context)")
            #expect(error.description == "writing limited failed after \(Self.seconds(audio.frameCount)) s of audio (\(limit) bytes): "
                + "No space left on device; the output holds the audio up to there", "\(context)")
            let file = folder.appendingPathComponent("\(attempt).\(format.rawValue)")
            try Data(sink.bytes).write(to: file)
            switch format {
            case .wav:
                let read = try python(Self.readWAV, [file.path])
                #expect(audio.frameCount == read.count / 2, "Python's wave reads \(read.count / 2) frames, \(context)")
                #expect(read == pcm.prefix(read.count), "\(firstDifference(read, pcm.prefix(read.count)) ?? ""), \(context)")
            case .ogg, .webm:
                let decoded48k = try Self.ffmpegFrameCount48k(file.path)
                #expect(audio.frameCount == decoded48k / 2, "ffmpeg decodes \(decoded48k) samples at 48 kHz, \(context)")
            }
        }
    }

    /// The command line, its output file cut by a file-size limit (`prlimit --fsize`: the write fails with EFBIG after
    /// taking what fits): exit 74, and the seconds it names are those readers decode from the file it left.
    @Test(arguments: ["wav", "ogg", "webm"]) func aFileSizeLimitIsReportedWithTheAudioTheFileHolds(_ format: String) throws {
        var generator = SeededGenerator()
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("cut.\(format)").path
        let limit = format == "wav" ? Int.random(in: 1_000..<400_000, using: &generator) : Int.random(in: 1_000..<30_000, using: &generator)
        let context = "\(limit) bytes, \(generator)"
        let result = try run("prlimit", ["--fsize=\(limit)", TestEnvironment.deltatapeExecutable.path, "convert",
                                         try GeneratedSessions.log("ga-basic"), "-o", file] + (format == "wav" ? [] : ["--complexity", "0"]))
        #expect(result.status == 74, "\(result.standardError), \(context)")
        let prefix = "deltatape: error: writing \(file) failed after "
        let suffix = " s of audio (\(limit) bytes): File too large; the output holds the audio up to there\n"
        #expect(result.standardError.hasPrefix(prefix) && result.standardError.hasSuffix(suffix), "\(result.standardError), \(context)")
        let claimed = String(result.standardError.dropFirst(prefix.count).dropLast(suffix.count))
        let decodedFrames = switch format {
        case "wav": try python(Self.readWAV, [file]).count / 2
        default: try Self.ffmpegFrameCount48k(file) / 2
        }
        #expect(claimed == Self.seconds(decodedFrames), "decoded \(decodedFrames) frames, \(context)")
    }

    /// Frames at 24 kHz as the message gives them: seconds rounded down to the millisecond, `3.412`.
    static func seconds(_ frameCount: Int) -> String {
        let milliseconds = frameCount * 1000 / 24_000
        return "\(milliseconds / 1000)." + String(format: "%03d", milliseconds % 1000)
    }
}
