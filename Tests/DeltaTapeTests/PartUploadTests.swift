import DeltaTape
import Foundation
import TestSupport
import Testing

/// A session converted through the library into a ``PartByteSink`` (a multipart upload, with small parts), put back
/// together as a file: it decodes exactly (WAV bit-exact to the fixture script's PCM, Opus to the exact length), every
/// part but the last has the part size, and the writers chose their streaming forms.
@Suite struct PartUploadTests {
    /// The parts handed out, gathered by the closure.
    final class Parts: @unchecked Sendable {
        var parts: [PartByteSink.Part] = []
    }

    /// Converts `session` to `format` through ``SessionPipeline`` into a part sink of `partByteCount`-byte parts.
    static func convert(_ session: String, to format: OutputFormat, partByteCount: Int) throws -> [PartByteSink.Part] {
        let received = Parts()
        var options = ConversionOptions()
        options.format = format
        options.opus.complexity = 0
        let pipeline = SessionPipeline(options: options, inputName: session, makeSink: { _ in
            PartByteSink(name: "upload", partByteCount: partByteCount) { received.parts.append($0) }
        }, problem: { _ in })
        defer { pipeline.closeQuietly() }
        let log = try SessionLog.openSession(path: GeneratedSessions.log(session))
        while let (line, event) = try log.nextEvent(problem: { (found) throws(ConversionError) in try pipeline.note(found) }) {
            try pipeline.take(event, line: line)
        }
        try pipeline.finish(line: log.lineCount) { _ in "no audio" }
        return received.parts
    }

    @Test(arguments: [OutputFormat.wav, .ogg, .webm]) func partsReassembleIntoAFileThatDecodesExactly(_ format: OutputFormat) throws {
        var generator = SeededGenerator()
        // Small parts, so a 9.5 s session makes many; an odd size, so parts end anywhere in the stream's structures.
        let partByteCount = format == .wav ? Int.random(in: 20_000...60_000, using: &generator) : Int.random(in: 1_000...4_000, using: &generator)
        let parts = try Self.convert("ga-basic", to: format, partByteCount: partByteCount)
        let context = "\(parts.count) parts of \(partByteCount) bytes, \(generator)"
        #expect(parts.count > 3, "\(context)")
        #expect(parts.map(\.number) == Array(1...parts.count), "\(context)")
        #expect(parts.dropLast().allSatisfy { $0.bytes.count == partByteCount && !$0.isLast }, "\(context)")
        #expect(parts.last.map { $0.isLast && (1...partByteCount).contains($0.bytes.count) } == true, "\(context)")

        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("reassembled.\(format.rawValue)").path
        let bytes = Data(parts.flatMap(\.bytes))
        try bytes.write(to: URL(fileURLWithPath: file))
        let pcm = try GeneratedSessions.expectedAssistant("ga-basic")
        switch format {
        case .wav:
            // The streaming header: both sizes 0xFFFFFFFF, then every sample.
            #expect(bytes[4..<8] == Data([0xFF, 0xFF, 0xFF, 0xFF]) && bytes[40..<44] == Data([0xFF, 0xFF, 0xFF, 0xFF]), "\(context)")
            #expect(bytes.count == 44 + pcm.count, "\(context)")
            #expect(try ffmpegDecodeToPCM16(file) == pcm, "\(context)")
            // Repaired, Python's wave reads it exactly.
            #expect(try run(TestEnvironment.deltatapeExecutable.path, ["repair", file]).status == 0)
            let read = try python("import sys, wave\nw = wave.open(sys.argv[1])\nsys.stdout.buffer.write(w.readframes(w.getnframes()))", [file])
            #expect(read == pcm, "\(firstDifference(read, pcm) ?? "") \(context)")
        case .ogg:
            try expectCleanOpusinfo(file)
            let decoded = try run("ffmpeg", ["-v", "error", "-i", file, "-f", "s16le", "-ar", "24000", "-"])
            #expect(decoded.status == 0 && decoded.standardError.isEmpty, "\(decoded.standardError)")
            #expect(decoded.standardOutput.count == pcm.count, "decoded \(decoded.standardOutput.count / 2) of \(pcm.count / 2) frames, \(context)")
        case .webm:
            // The live form: the Segment's size is unknown (ID 18 53 80 67, then the 8-byte "unknown" size).
            let segment = try #require(bytes.range(of: Data([0x18, 0x53, 0x80, 0x67])), "\(context)")
            #expect(bytes[segment.upperBound..<(segment.upperBound + 8)] == Data([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), "\(context)")
            let decoded = try run("ffmpeg", ["-v", "error", "-i", file, "-f", "s16le", "-ar", "24000", "-"])
            #expect(decoded.status == 0 && decoded.standardError.isEmpty, "\(decoded.standardError)")
            #expect(decoded.standardOutput.count == pcm.count, "decoded \(decoded.standardOutput.count / 2) of \(pcm.count / 2) frames, \(context)")
        }
    }
}
