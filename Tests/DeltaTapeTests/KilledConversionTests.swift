import Foundation
import TestSupport
import Testing

/// Conversions killed (SIGKILL) at random points leave files that open and hold all the audio up to the last flush
/// (SPEC §5), in every format, to a file and through a pipe. The session arrives on standard input in random pieces
/// at random pauses (a live session), and the kill comes at a random moment, so it lands anywhere relative to the
/// writers' flushes. The seed picks the plan (the timing still varies from run to run).
///
/// What "the last flush" covered is read from the file by parsers written here (Python, from the formats' specs):
/// every whole WAV frame after the header, the granule position of the last whole Ogg page, the durations of the
/// whole WebM blocks. Readers must give at least that, and WAV exactly the fixture script's PCM.
@Suite struct KilledConversionTests {
    enum Target: String, Sendable, CaseIterable { case file, pipe }

    static let killsPerCase = 5

    /// The granule position of the last whole Ogg page (0 when none carries audio), the pre-skip, and how many bytes of
    /// a page cut short follow the whole pages.
    static let oggPages = #"""
    import struct, sys
    b = open(sys.argv[1], "rb").read()
    pos, pre, last = 0, 0, 0
    while pos + 27 <= len(b) and b[pos:pos + 4] == b"OggS":
        count = b[pos + 26]
        if pos + 27 + count > len(b): break
        end = pos + 27 + count + sum(b[pos + 27:pos + 27 + count])
        if end > len(b): break
        body = b[pos + 27 + count:end]
        if body.startswith(b"OpusHead"): pre = struct.unpack("<H", body[10:12])[0]
        elif not body.startswith(b"OpusTags"): last = struct.unpack("<q", b[pos + 6:pos + 14])[0]
        pos = end
    assert b"OggS".startswith(b[pos:pos + 4]), "not a page at byte %d" % pos
    print(last, pre, len(b) - pos)
    """#

    /// The 48 kHz samples of every whole block (from each packet's TOC byte, RFC 6716 §3.1), the pre-skip, and how
    /// many bytes of an element cut short follow the whole ones.
    static let webmBlocks = #"""
    import struct, sys
    b = open(sys.argv[1], "rb").read()
    at = b.index(b"OpusHead")
    pre = struct.unpack("<H", b[at + 10:at + 12])[0]
    def vint(p, marker):
        first, n, mask = b[p], 1, 0x80
        while not first & mask: mask >>= 1; n += 1
        value = first if marker else first & (mask - 1)
        for i in range(1, n): value = value << 8 | b[p + i]
        return value, n
    def duration(packet):
        config = packet[0] >> 3
        size = [480, 960, 1920, 2880][config % 4] if config < 12 else [480, 960][config % 2] if config < 16 else [120, 240, 480, 960][config % 4]
        code = packet[0] & 3
        return size * (1 if code == 0 else 2 if code < 3 else packet[1] & 0x3F)
    pos, samples = 0, 0
    while pos < len(b):
        try:
            element, idn = vint(pos, True)
            size, sizen = vint(pos + idn, False)
        except IndexError:
            break
        head = idn + sizen
        if element in (0x18538067, 0x1F43B675, 0xA0):  # Segment, Cluster, BlockGroup: their children follow
            pos += head
            continue
        if pos + head + size > len(b): break
        if element in (0xA3, 0xA1): samples += duration(b[pos + head + 4:pos + head + size])  # SimpleBlock, Block
        pos += head + size
    print(samples, pre, len(b) - pos)
    """#

    /// Feeds ga-basic's log to `deltatape convert -` in random pieces and kills it at a random moment; returns the
    /// output's bytes.
    static func convertAndKill(format: String, target: Target, folder: URL, late: Bool = false,
                               generator: inout SeededGenerator) throws -> (Data, killed: Bool) {
        let output = folder.appendingPathComponent("killed.\(format)").path
        let process = Process()
        process.executableURL = TestEnvironment.deltatapeExecutable
        process.arguments = ["convert", "-", "-o", target == .file ? output : "-", "--format", format] + (format == "wav" ? [] : ["--complexity", "0"])
        let input = Pipe(), piped = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        if target == .pipe { process.standardOutput = piped }
        try process.run()
        // The pipe is read as it fills (a full pipe would stall the writer), to its end once the process is dead.
        nonisolated(unsafe) var pipedBytes = Data()
        let reading = DispatchGroup()
        if target == .pipe {
            reading.enter()
            DispatchQueue.global().async {
                pipedBytes = piped.fileHandleForReading.readDataToEndOfFile()
                reading.leave()
            }
        }
        signal(SIGPIPE, SIG_IGN)
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))
        // Somewhere from a tenth of the session to all of it, in pieces of 1 to 64 kB, 0 to 40 ms apart.
        let fed = late ? log.count : Int.random(in: log.count / 10...log.count, using: &generator)
        var offset = 0
        while offset < fed {
            let piece = min(fed - offset, Int.random(in: 1_000...64_000, using: &generator))
            try? input.fileHandleForWriting.write(contentsOf: log[offset..<(offset + piece)])
            offset += piece
            Thread.sleep(forTimeInterval: Double(Int.random(in: 0...40, using: &generator)) / 1000)
        }
        // Then 0 to 1.2 s more (the input's end included sometimes, the pipe held open otherwise), and the kill.
        if Int.random(in: 0..<4, using: &generator) == 0, fed == log.count, !late { try? input.fileHandleForWriting.close() }
        Thread.sleep(forTimeInterval: late ? 1.5 : Double(Int.random(in: 0...1_200, using: &generator)) / 1000)
        kill(process.processIdentifier, SIGKILL)
        waitForExit(process)
        try? input.fileHandleForWriting.close()
        reading.wait()
        let killed = process.terminationReason == .uncaughtSignal
        if target == .pipe {
            try pipedBytes.write(to: URL(fileURLWithPath: output))
            return (pipedBytes, killed)
        }
        return ((try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data(), killed)
    }

    @Test(arguments: ["wav", "ogg", "webm"], Target.allCases)
    func aKilledConversionLeavesAFileHoldingEverythingFlushed(_ format: String, _ target: Target) throws {
        // Each case its own numbers: the generator is named after the case, not only the test.
        var generator = SeededGenerator(name: "\(#function) \(format) \(target)")
        let pcm = try GeneratedSessions.expectedAssistant("ga-basic")
        let expected48k = try expectedAssistantAt48kHz("ga-basic", rate: 24_000)
        var heldAudio = 0
        for kill in 0..<Self.killsPerCase {
            let folder = try TestEnvironment.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: folder) }
            // The last kill of each case comes late (the whole log fed, the input held open, 1.5 s more), so that every case checks some
            // audio even on a loaded machine (under the whole suite, all five random kills of WebM to a pipe once came
            // before its first cluster).
            let (bytes, killed) = try Self.convertAndKill(format: format, target: target, folder: folder, late: kill == Self.killsPerCase - 1,
                                                          generator: &generator)
            let file = folder.appendingPathComponent("killed.\(format)").path
            let context = "kill \(kill) of \(format) to a \(target): \(bytes.count) bytes, \(killed ? "killed" : "finished first"), \(generator)"
            // Killed before the first audio arrived: there is no output yet (the file is made at the first audio).
            guard !bytes.isEmpty else { continue }

            switch format {
            case "wav":
                let headerByteCount = target == .file ? 80 : 44  // the JUNK chunk reserved for ds64 on files
                let onDisk = max(0, bytes.count - headerByteCount) / 2 * 2
                #expect(onDisk >= 0 && bytes.prefix(headerByteCount - 8 + 4).suffix(4) == Data("data".utf8), "\(context)")
                if target == .file {
                    // The header is kept current: Python's wave opens the file as it was left, and reads audio up to at
                    // most one block (1 MiB) before the end of what is on disk, bit for bit.
                    let read = try python(WAVRepairTests.readWAV, [file])
                    let frames = Int(read.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                    #expect(read.dropFirst(8) == pcm.prefix(frames * 2), "\(firstDifference(read.dropFirst(8), pcm.prefix(frames * 2)) ?? "") \(context)")
                    #expect(frames * 2 <= onDisk && onDisk - frames * 2 <= 1 << 20, "header \(frames) frames, \(onDisk / 2) on disk, \(context)")
                }
                // The header repair of what is on disk: the journal a kill leaves (InputJournalTests rebuilds from it)
                // is put away first.
                try? FileManager.default.removeItem(atPath: file + ".journal")
                let repair = try run(TestEnvironment.deltatapeExecutable.path, ["repair", file])
                #expect(repair.status == 0, "\(repair.standardError) \(context)")
                if target == .pipe {
                    #expect(String(decoding: repair.standardOutput, as: UTF8.self).contains("data size was 0xFFFFFFFF"), "\(context)")
                }
                // Repaired, every reader has every whole frame on disk, bit for bit: all that was written.
                let expected = pcm.prefix(onDisk)
                #expect(expected.count == onDisk, "more audio than the session holds: \(context)")
                let read = try python(WAVRepairTests.readWAV, [file])
                #expect(read.dropFirst(8) == expected, "Python's wave: \(firstDifference(read.dropFirst(8), expected) ?? "") \(context)")
                #expect(try ffmpegDecodeToPCM16(file) == expected, "ffmpeg, \(context)")
                #expect(try soxDecodeToPCM16(file) == expected, "sox, \(context)")
                heldAudio += onDisk > 0 ? 1 : 0
            default:
                let parsed = String(decoding: try python(format == "ogg" ? Self.oggPages : Self.webmBlocks, [file]), as: UTF8.self)
                let numbers = parsed.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
                try #require(numbers.count == 3, "\(parsed) \(context)")
                let flushed48k = max(0, numbers[0] - numbers[1]), cutShort = numbers[2]
                let decoded = try run("ffmpeg", ["-v", "error", "-i", file, "-f", "s16le", "-ar", "48000", "-ac", "1", "-"])
                #expect(decoded.status == 0, "\(decoded.standardError) \(context)")
                // A write cut short by the kill leaves part of a cluster, which ffmpeg names; nothing else may be said.
                let allowed = cutShort > 0 && format == "webm" ? "File ended prematurely" : nil
                #expect(decoded.standardError.isEmpty || allowed.map { decoded.standardError.contains($0) } == true,
                        "\(decoded.standardError) \(context)")
                let samples = pcm16Samples(decoded.standardOutput)
                #expect(samples.count >= flushed48k, "decoded \(samples.count) of the \(flushed48k) samples flushed at 48 kHz, \(context)")
                #expect(samples.count <= expected48k.count + 960, "decoded \(samples.count), \(context)")
                // Lag 0 against sox's 48 kHz resampling of the fixture's PCM.
                if samples.count >= 48_000 {
                    #expect(correlationPeakLag(samples, Array(expected48k.prefix(samples.count))) == 0, "\(context)")
                }
                heldAudio += flushed48k > 0 ? 1 : 0
                try Self.checkRepair(file, format: format, target: target, flushed48k: flushed48k, expected48k: expected48k, context: context)
            }
        }
        // The plan kills late enough that some kills leave audio: otherwise the test checked nothing.
        #expect(heldAudio > 0, "no kill left any audio, \(generator)")
    }

    /// `deltatape repair` on what the kill left (issue 27, item 3): the audio flushed stays, and the file ends cleanly:
    /// ffmpeg says nothing (no "File ended prematurely") and decodes exactly what the pages' granule or the blocks
    /// hold; opusinfo warns of nothing (EOS set); a WebM file has its Duration; a second repair changes nothing.
    static func checkRepair(_ file: String, format: String, target: Target, flushed48k: Int, expected48k: [Int16], context: String) throws {
        // The repair of what is on disk: the journal a kill to a file leaves (InputJournalTests rebuilds from it) is
        // put away first.
        try? FileManager.default.removeItem(atPath: file + ".journal")
        let repair = try run(TestEnvironment.deltatapeExecutable.path, ["repair", file])
        guard flushed48k > 0 else {
            #expect(repair.status == 65, "\(repair.standardError) \(context)")
            return
        }
        #expect(repair.status == 0, "repair: \(repair.standardError) \(context)")
        let parsed = String(decoding: try python(format == "ogg" ? oggPages : webmBlocks, [file]), as: UTF8.self)
        let numbers = parsed.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(numbers.count == 3, "\(parsed) \(context)")
        let kept48k = max(0, numbers[0] - numbers[1])
        #expect(numbers[2] == 0 && kept48k == flushed48k, "repaired: \(parsed), \(flushed48k) flushed, \(context)")
        let decoded = try run("ffmpeg", ["-v", "error", "-i", file, "-f", "s16le", "-ar", "48000", "-ac", "1", "-"])
        #expect(decoded.status == 0 && decoded.standardError.isEmpty, "repaired: \(decoded.standardError) \(context)")
        let samples = pcm16Samples(decoded.standardOutput)
        #expect(samples.count == kept48k, "repaired: decoded \(samples.count) of \(kept48k), \(context)")
        if samples.count >= 48_000 {
            #expect(correlationPeakLag(samples, Array(expected48k.prefix(samples.count))) == 0, "repaired, \(context)")
        }
        if format == "ogg" {
            let info = try run("opusinfo", [file])
            #expect(info.status == 0 && !String(decoding: info.standardOutput, as: UTF8.self).contains("WARNING"), "opusinfo, \(context)")
        } else if target == .file {
            let duration = try run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", file])
            let seconds = Double(String(decoding: duration.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(seconds.map { abs($0 - Double(kept48k) / 48_000) < 0.0006 } == true, "ffprobe duration \(seconds ?? -1), \(context)")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        let again = try run(TestEnvironment.deltatapeExecutable.path, ["repair", file])
        #expect(again.status == 0 && String(decoding: again.standardOutput, as: UTF8.self).contains("nothing to fix"), "\(context)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "a second repair changed the file, \(context)")
    }
}
