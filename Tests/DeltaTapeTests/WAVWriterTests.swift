import DeltaTape
import Foundation
import TestSupport
import Testing

/// WAVWriter read back by readers that share none of its code: Python's standard `wave` module, libsndfile
/// (`sndfile-info`), sox and ffmpeg. Every expectation comes from the seeded input or from the format's rules
/// (EBU Tech 3306, the RIFF header layout), never from the writer.
@Suite struct WAVWriterTests {
    /// Seeded samples (SplitMix64), full range, so a byte out of place anywhere changes the comparison.
    static func samples(count: Int, seed: UInt64) -> [Int16] {
        var state = seed
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int16(truncatingIfNeeded: mixed ^ (mixed >> 31))
        }
    }

    static func bytes(_ samples: [Int16]) -> Data {
        samples.withUnsafeBytes { Data($0) }
    }

    /// Writes `samples` through a WAVWriter on a new file; returns its path. The writer is closed unless told not to.
    static func writeFile(_ samples: [Int16], rate: Int, channels: Int, format: PCMSampleFormat, name: String) throws -> String {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent(name).path
        let writer = try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: rate, channelCount: channels, sampleFormat: format)
        #expect(writer.keepsHeaderCurrent)
        // In uneven pieces, as a session's deltas come.
        var offset = 0, piece = 1
        while offset < samples.count {
            let count = min(samples.count - offset, channels * (piece * 977 % 5_000 + 1))
            try samples.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[offset..<(offset + count)])) }
            offset += count
            piece += 1
        }
        try writer.close()
        return path
    }

    /// Writes `samples` through a WAVWriter into a pipe, collects what comes out the other end, saves it to a file.
    static func writePipe(_ samples: [Int16], rate: Int, channels: Int, format: PCMSampleFormat, name: String) throws -> String {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TestSupportError("pipe failed") }
        let reading = FileHandle(fileDescriptor: ends[0], closeOnDealloc: true)
        nonisolated(unsafe) var received = Data()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { received = reading.readDataToEndOfFile(); done.signal() }
        let sink = FileDescriptorSink(descriptor: ends[1], name: "pipe")
        let writer = try WAVWriter(sink: sink, sampleRate: rate, channelCount: channels, sampleFormat: format)
        #expect(!writer.keepsHeaderCurrent)
        try samples.withUnsafeBufferPointer { try writer.write($0) }
        try writer.close()
        close(ends[1])
        done.wait()
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent(name).path
        try received.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Python's `wave`: (channels, sample width, rate, frame count from the header) and the frames it reads.
    static func pythonWave(_ path: String) throws -> (parameters: [Int], frames: Data) {
        let script = """
        import sys, wave
        w = wave.open(sys.argv[1], 'rb')
        sys.stdout.buffer.write(b'%d %d %d %d\\n' % (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()))
        sys.stdout.buffer.write(w.readframes(w.getnframes()))
        """
        let output = try python(script, [path])
        guard let newline = output.firstIndex(of: 0x0A) else { throw TestSupportError("no parameters from Python") }
        let parameters = String(decoding: output[..<newline], as: UTF8.self).split(separator: " ").compactMap { Int($0) }
        return (parameters, output[(newline + 1)...])
    }

    static func text(_ result: ProcessResult) -> String {
        String(decoding: result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// libsndfile's frame count, and its complaints ("should be" whenever a size disagrees with the file).
    static func sndfileInfo(_ path: String) throws -> (frames: Int?, output: String, status: Int32) {
        let result = try run("sndfile-info", [path])
        let output = String(decoding: result.standardOutput, as: UTF8.self) + result.standardError
        let frames = output.split(separator: "\n").first { $0.hasPrefix("Frames") }
            .flatMap { $0.split(separator: ":").last }.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (frames, output, result.status)
    }

    static func soxFrameCount(_ path: String) throws -> (frames: Int?, warnings: String) {
        let result = try run("soxi", ["-s", path])
        return (Int(text(result)), result.standardError)
    }

    /// sox's decoding to 16 bits without the dither it adds when floats are narrowed.
    static func soxDecodeUndithered(_ path: String) throws -> Data {
        let result = try run("sox", ["-D", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"])
        guard result.status == 0 else { throw TestSupportError("sox failed on \(path): \(result.standardError)") }
        return result.standardOutput
    }

    static func ffprobeFrameCount(_ path: String) throws -> Int? {
        Int(text(try run("ffprobe", ["-v", "error", "-show_entries", "stream=duration_ts", "-of", "default=nw=1:nk=1", path])))
    }

    /// The header's chunks in order (the RIFF/RF64 form first), read by the RIFF rules: an ID, a 32-bit
    /// little-endian size, the payload.
    static func chunks(_ path: String) throws -> [(id: String, size: UInt32)] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let head = [UInt8](try handle.read(upToCount: 200) ?? Data())
        func size(_ at: Int) -> UInt32 { UInt32(head[at]) | UInt32(head[at + 1]) << 8 | UInt32(head[at + 2]) << 16 | UInt32(head[at + 3]) << 24 }
        var found = [(String(decoding: head[0..<4], as: UTF8.self), size(4))]
        var offset = 12
        while offset + 8 <= head.count {
            let id = String(decoding: head[offset..<(offset + 4)], as: UTF8.self)
            found.append((id, size(offset + 4)))
            if id == "data" { break }
            offset += 8 + Int(size(offset + 4))
        }
        return found
    }

    static func chunkIDs(_ path: String) throws -> [String] {
        try chunks(path).map(\.id)
    }

    static func fmtTag(_ path: String) throws -> Int {
        let head = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)).prefix(200))
        guard let at = (0..<(head.count - 4)).first(where: { head[$0..<($0 + 4)].elementsEqual("fmt ".utf8) }) else { return -1 }
        return Int(head[at + 8]) | Int(head[at + 9]) << 8
    }

    // MARK: - Files and pipes, every reader

    @Test(arguments: [(1, PCMSampleFormat.s16), (2, .s16), (3, .s16), (1, .f32), (2, .f32), (3, .f32)])
    func everyReaderReadsTheExactFile(_ channels: Int, _ format: PCMSampleFormat) throws {
        let rate = 24_000, frames = 54_321
        let input = Self.samples(count: frames * channels, seed: UInt64(channels * 10 + (format == .s16 ? 1 : 2)))
        let path = try Self.writeFile(input, rate: rate, channels: channels, format: format, name: "\(channels)-\(format).wav")

        // The plainest header the format allows, as SPEC §5 names them.
        let expectedTag = channels > 2 ? 0xFFFE : format == .s16 ? 1 : 3
        #expect(try Self.fmtTag(path) == expectedTag)
        #expect(try Self.chunkIDs(path) == ["RIFF", "JUNK", "fmt "] + (expectedTag == 1 ? [] : ["fact"]) + ["data"])

        if format == .s16 && channels <= 2 {
            // Python 3.11's wave reads only WAVE_FORMAT_PCM: exactly what this form is for.
            let (parameters, pythonFrames) = try Self.pythonWave(path)
            #expect(parameters == [channels, 2, rate, frames])
            #expect(pythonFrames == Self.bytes(input))
        }
        let sndfile = try Self.sndfileInfo(path)
        #expect(sndfile.status == 0 && sndfile.frames == frames)
        #expect(!sndfile.output.contains("should be"), "\(sndfile.output)")
        let sox = try Self.soxFrameCount(path)
        #expect(sox.frames == frames)
        // sox 14.4.2 swaps an EXTENSIBLE tag for its SubFormat before it looks for cbSize, finds the fmt chunk
        // used up and warns "missing extended part" for every EXTENSIBLE float file (wav.c, startread).
        if !(channels > 2 && format == .f32) { #expect(sox.warnings.isEmpty, "\(sox.warnings)") }
        #expect(try Self.ffprobeFrameCount(path) == frames)
        // Decoded samples: 16-bit exactly; floats (s/32768) come back to the same 16-bit values in ffmpeg and sox.
        #expect(try ffmpegDecodeToPCM16(path) == Self.bytes(input))
        #expect(try Self.soxDecodeUndithered(path) == Self.bytes(input))
    }

    @Test(arguments: [(1, PCMSampleFormat.s16), (2, .s16), (3, .s16), (1, .f32), (3, .f32)])
    func everyReaderReadsThePipeStream(_ channels: Int, _ format: PCMSampleFormat) throws {
        let rate = 16_000, frames = 40_000
        let input = Self.samples(count: frames * channels, seed: UInt64(100 + channels))
        let path = try Self.writePipe(input, rate: rate, channels: channels, format: format, name: "pipe-\(channels)-\(format).wav")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // ffmpeg's form for a stream: both sizes 0xFFFFFFFF ("until the end"), no JUNK to grow into, no fact count.
        #expect(try Self.chunkIDs(path) == ["RIFF", "fmt ", "data"])
        #expect(try Self.chunks(path).filter { $0.id != "fmt " }.map(\.size) == [0xFFFF_FFFF, 0xFFFF_FFFF])
        // Header, then every sample: 2 or 4 bytes each.
        let fmtSize = channels > 2 ? 40 : format == .s16 ? 16 : 18
        #expect(data.count == 12 + 8 + fmtSize + 8 + input.count * (format == .s16 ? 2 : 4))

        if format == .s16 && channels <= 2 {
            // The header cannot know the count; Python reads to the end of the stream and gets every frame.
            let (parameters, pythonFrames) = try Self.pythonWave(path)
            #expect(parameters.prefix(3) == [channels, 2, rate])
            #expect(pythonFrames == Self.bytes(input))
        }
        // libsndfile measures the stream against the file (and says the header's size "should be" that).
        let sndfile = try Self.sndfileInfo(path)
        #expect(sndfile.status == 0 && sndfile.frames == frames, "\(sndfile.output)")
        #expect(try Self.ffprobeFrameCount(path) == frames)
        #expect(try ffmpegDecodeToPCM16(path) == Self.bytes(input))
        #expect(try Self.soxDecodeUndithered(path) == Self.bytes(input))
    }

    // MARK: - The header kept current

    /// A process killed mid-write never closes its writer: the file must already hold what was flushed.
    @Test func anUnclosedFileIsReadableUpToTheLastBlock() throws {
        let rate = 24_000, total = 1_500_000
        let input = Self.samples(count: total, seed: 7)
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("unclosed.wav").path
        let writer = try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: rate)
        try input.withUnsafeBufferPointer { try writer.write($0) }

        // Not closed: what is on disk is a prefix of the input, every reader agrees on its length, and it is most of it.
        let header = 80  // RIFF 12 + JUNK 8+28 + fmt 8+16 + data 8
        func checkOnDisk(atLeast minimum: Int) throws -> Int {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let frames = (size - header) / 2
            let (parameters, pythonFrames) = try Self.pythonWave(path)
            #expect(parameters == [1, 2, rate, frames])
            #expect(pythonFrames == Self.bytes(Array((input + input.prefix(10)).prefix(frames))))
            let sndfile = try Self.sndfileInfo(path)
            #expect(sndfile.frames == frames && !sndfile.output.contains("should be"), "\(sndfile.output)")
            #expect(try Self.soxFrameCount(path).frames == frames)
            #expect(try Self.ffprobeFrameCount(path) == frames)
            #expect(frames >= minimum, "only \(frames) frames on disk")
            return frames
        }
        // Blocks are at most 1 MiB (512 Ki samples): all but the last one are on disk.
        _ = try checkOnDisk(atLeast: total - 512 * 1024)
        // flush() (what a caller does while its input stalls) puts everything there.
        try writer.flush()
        #expect(try checkOnDisk(atLeast: total) == total)
        // Half a second after the last block, the next write goes to disk however small it is.
        Thread.sleep(forTimeInterval: 0.6)
        try input.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[0..<10])) }
        #expect(try checkOnDisk(atLeast: total + 10) == total + 10)
        try writer.close()
    }

    /// Large pieces with nothing gathered before them (an encoder thread's blocks) go to the file as they come, the
    /// header counting them at once; a large piece after a small one is gathered behind it, in order. Python's `wave`
    /// reads exactly what was written at each step.
    @Test func largePiecesGoStraightToTheFileInOrder() throws {
        let rate = 24_000
        let input = Self.samples(count: 400_000, seed: 11)
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("large-pieces.wav").path
        let writer = try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: rate)
        var written = 0
        func write(_ count: Int) throws {
            try input.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[written..<(written + count)])) }
            written += count
        }
        func onDisk() throws -> Data {
            let (parameters, frames) = try Self.pythonWave(path)
            #expect(parameters[3] * 2 == frames.count)
            return frames
        }
        try write(100_000)  // nothing gathered: written at once
        #expect(try onDisk() == Self.bytes(Array(input[..<100_000])))
        try write(10)  // gathered
        try write(100_000)  // behind the gathered samples: gathered too (flushed only if half a second has passed)
        let partly = try onDisk()
        #expect(partly.count >= 200_000 && Self.bytes(Array(input[..<written])).starts(with: partly), "\(partly.count) bytes")
        try writer.flush()
        #expect(try onDisk() == Self.bytes(Array(input[..<200_010])))
        try write(150_000)
        #expect(try onDisk() == Self.bytes(Array(input[..<350_010])))
        try write(3)
        try writer.close()
        #expect(try onDisk() == Self.bytes(Array(input[..<350_013])))
        #expect(try Self.soxFrameCount(path).frames == 350_013)
    }

    // MARK: - Descriptors handed over: standard output redirected

    /// `deltatape … > s.wav`: standard output is a regular file, so it gets the finalized form.
    @Test func aRedirectedDescriptorGetsTheFinalizedForm() throws {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("redirected.wav").path
        let input = Self.samples(count: 30_000, seed: 11)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = try WAVWriter(sink: FileDescriptorSink(descriptor: descriptor, name: "stdout"), sampleRate: 8_000)
        #expect(writer.keepsHeaderCurrent)
        try input.withUnsafeBufferPointer { try writer.write($0) }
        try writer.close()
        close(descriptor)
        let (parameters, frames) = try Self.pythonWave(path)
        #expect(parameters == [1, 2, 8_000, 30_000] && frames == Self.bytes(input))
        #expect(try Self.soxFrameCount(path).frames == 30_000)
    }

    /// `(echo …; deltatape …) > f`: the header is rewritten where this WAV starts, never over the bytes before it.
    @Test func aDescriptorPartWayIntoAFileKeepsWhatCameBefore() throws {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("prefixed").path
        let prefix = Data("written before us\n".utf8)
        try prefix.write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_WRONLY)
        lseek(descriptor, off_t(prefix.count), SEEK_SET)
        let input = Self.samples(count: 20_000, seed: 12)
        let writer = try WAVWriter(sink: FileDescriptorSink(descriptor: descriptor, name: "stdout"), sampleRate: 16_000)
        try input.withUnsafeBufferPointer { try writer.write($0) }
        try writer.close()
        close(descriptor)
        let all = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(all.prefix(prefix.count) == prefix)
        let wav = try TestEnvironment.temporaryDirectory().appendingPathComponent("cut.wav")
        try all.dropFirst(prefix.count).write(to: wav)
        let (parameters, frames) = try Self.pythonWave(wav.path)
        #expect(parameters == [1, 2, 16_000, 20_000] && frames == Self.bytes(input))
    }

    /// `deltatape … >> f`: Linux's pwrite appends on an O_APPEND descriptor, so the stream form is written instead.
    @Test func anAppendingDescriptorGetsTheStreamForm() throws {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("appended.wav").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let input = Self.samples(count: 20_000, seed: 13)
        let writer = try WAVWriter(sink: FileDescriptorSink(descriptor: descriptor, name: "stdout"), sampleRate: 16_000)
        #expect(!writer.keepsHeaderCurrent)
        try input.withUnsafeBufferPointer { try writer.write($0) }
        try writer.close()
        close(descriptor)
        #expect(try Self.chunkIDs(path) == ["RIFF", "fmt ", "data"])
        #expect(try ffmpegDecodeToPCM16(path) == Self.bytes(input))
    }

    // MARK: - RF64 past 4 GiB

    /// Keeps the first bytes of what is written (the header, rewritten in place) and counts the rest.
    final class HeaderImageSink: PositionalByteSink {
        let name = "header image"
        let isSeekable = true
        private(set) var byteCount = 0
        private(set) var head: [UInt8] = []

        func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
            if head.count < 128 { head.append(contentsOf: bytes.prefix(128 - head.count)) }
            byteCount += bytes.count
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
            for (index, byte) in bytes.enumerated() where offset + index < head.count { head[offset + index] = byte }
        }

        func close() throws(OutputError) {}

        func u32(_ at: Int) -> UInt64 { (0..<4).reduce(0) { $0 | UInt64(head[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(head[at + $1]) << (8 * $1) } }
        func ascii(_ at: Int) -> String { String(decoding: head[at..<(at + 4)], as: UTF8.self) }
    }

    /// The last RIFF size is 0xFFFFFFFE (0xFFFFFFFF means "unknown" to readers); one more sample makes it RF64.
    @Test func theSwitchToRF64HappensExactlyWhereRIFFSizesEnd() throws {
        let sink = HeaderImageSink()
        let writer = try WAVWriter(sink: sink, sampleRate: 48_000)
        // Mono 16-bit header (RIFF 12, JUNK 36, fmt 24, data 8 = 80 bytes): RIFF size = 72 + data bytes.
        let lastRIFFDataBytes = 0xFFFF_FFFE - 72
        let block = [Int16](repeating: 0, count: 1 << 22)
        var samples = 0
        while samples < lastRIFFDataBytes / 2 {
            let count = min(block.count, lastRIFFDataBytes / 2 - samples)
            try block.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[0..<count])) }
            samples += count
        }
        try writer.flush()
        #expect(sink.byteCount == 80 + lastRIFFDataBytes)
        #expect(sink.ascii(0) == "RIFF" && sink.u32(4) == 0xFFFF_FFFE && sink.ascii(12) == "JUNK" && sink.u32(16) == 28)
        #expect(sink.ascii(72) == "data" && sink.u32(76) == UInt64(lastRIFFDataBytes))

        try block.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[0..<1])) }
        try writer.close()
        // EBU Tech 3306: RF64, 32-bit sizes 0xFFFFFFFF, ds64 where JUNK was, with the 64-bit sizes and frame count.
        let dataBytes = UInt64(lastRIFFDataBytes + 2)
        #expect(sink.ascii(0) == "RF64" && sink.u32(4) == 0xFFFF_FFFF && sink.ascii(8) == "WAVE")
        #expect(sink.ascii(12) == "ds64" && sink.u32(16) == 28)
        #expect(sink.u64(20) == dataBytes + 72 && sink.u64(28) == dataBytes && sink.u64(36) == dataBytes / 2 && sink.u32(44) == 0)
        #expect(sink.ascii(48) == "fmt " && sink.ascii(72) == "data" && sink.u32(76) == 0xFFFF_FFFF)
    }

    /// A real file past 4 GiB, written by the command line from raw PCM on standard input (SPEC §5): sox, libsndfile
    /// and ffmpeg read its exact length from ds64 and its last samples.
    @Test func aFilePast4GiBIsRF64AndEveryReaderFindsItsEnd() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("past-4GiB.wav").path
        // A seeded pattern of a length that divides nothing here, so a sample read from the wrong place shows.
        let pattern = Self.samples(count: 1_000_003, seed: 4)
        let repeats = 2_148  // 2 148 006 444 frames: 4 296 012 888 data bytes, 1 MB past 4 GiB
        let frames = pattern.count * repeats
        let patternFile = folder.appendingPathComponent("pattern.raw")
        try Self.bytes(pattern).write(to: patternFile)
        let convert = try run("/bin/bash", ["-c", "set -o pipefail; for _ in $(seq \(repeats)); do cat '\(patternFile.path)'; done | "
            + "'\(TestEnvironment.deltatapeExecutable.path)' convert - -o '\(path)' --input-format s16le --input-rate 48000"])
        try #require(convert.status == 0, "\(convert.standardError)")
        func expected(_ range: Range<Int>) -> Data { Self.bytes(range.map { pattern[$0 % pattern.count] }) }

        let chunks = try Self.chunks(path)
        #expect(chunks.map(\.id) == ["RF64", "ds64", "fmt ", "data"])
        #expect(chunks[0].size == 0xFFFF_FFFF && chunks[3].size == 0xFFFF_FFFF)
        let sox = try Self.soxFrameCount(path)
        #expect(sox.frames == frames && sox.warnings.isEmpty, "\(sox.warnings)")
        let sndfile = try Self.sndfileInfo(path)
        #expect(sndfile.status == 0 && sndfile.frames == frames && !sndfile.output.contains("should be"), "\(sndfile.output)")
        #expect(try Self.ffprobeFrameCount(path) == frames)

        // The last 4800 frames, from sox (trim seeks by samples) and ffmpeg (seeking to a whole second).
        let soxTail = try run("sox", [path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-", "trim", "\(frames - 4_800)s"])
        #expect(soxTail.status == 0 && soxTail.standardOutput == expected((frames - 4_800)..<frames), "\(soxTail.standardError)")
        let lastSecond = frames / 48_000 - 1
        let ffmpegTail = try run("ffmpeg", ["-v", "error", "-ss", "\(lastSecond)", "-i", path, "-f", "s16le", "-"])
        #expect(ffmpegTail.status == 0 && ffmpegTail.standardError.isEmpty, "\(ffmpegTail.standardError)")
        #expect(ffmpegTail.standardOutput == expected((lastSecond * 48_000)..<frames))
    }

    // MARK: - Limits

    @Test(arguments: [(0, 1), (-8_000, 1), (5_000_000_000, 1), (24_000, 0), (24_000, 20_000), (2_000_000_000, 2)])
    func impossibleHeadersAreErrors(_ rate: Int, _ channels: Int) throws {
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("bad.wav").path
        #expect(throws: OutputError.self) {
            try WAVWriter(sink: FileDescriptorSink(path: path), sampleRate: rate, channelCount: channels)
        }
    }
}
