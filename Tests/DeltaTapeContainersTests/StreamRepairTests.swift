@testable @_spi(Blocks) import DeltaTapeContainers
import DeltaTapeCodecs
import Foundation
import Testing
import TestSupport

/// Repair of Ogg Opus and WebM files as a killed writer leaves them: the writers' own bytes, fed every packet but the
/// stream's last (the one that would have marked the end) and never finished, cut at every page or cluster boundary,
/// a few bytes either side, and at seeded random offsets. Each repaired cut is read back by a parser written here
/// from the specs (Python for Ogg, the tests' EBML reader for WebM), opusinfo, mkvinfo, ffprobe and ffmpeg.
@Suite struct StreamRepairTests {
    /// The packets a killed writer had taken: all but the last, which carries the stream's length.
    static func unfinished(_ stream: EncodedStream, count: Int? = nil) -> EncodedStream.Packets {
        EncodedStream.Packets(stream.packets.dropLast().prefix(count ?? stream.packets.count).map {
            EncodedStream.Packet(bytes: $0.bytes, sampleCount48k: $0.sampleCount48k, streamLength48k: nil)
        })
    }

    /// Cut points: every boundary in `boundaries`, 3 bytes either side, and `randomCount` seeded offsets.
    static func cuts(_ boundaries: [Int], byteCount: Int, randomCount: Int, generator: inout SeededGenerator) -> [Int] {
        var cuts = Set<Int>()
        for boundary in boundaries { for delta in -3...3 where (1..<byteCount).contains(boundary + delta) { cuts.insert(boundary + delta) } }
        for _ in 0..<randomCount { cuts.insert(Int.random(in: 1..<byteCount, using: &generator)) }
        return cuts.sorted()
    }

    /// Page by page from RFC 3533 §6, the CRC computed here: each page whole with a valid CRC, the EOS flag on the
    /// last page only; prints the last granule position, the pre-skip, the page count and the bytes after the pages.
    static let oggCheck = #"""
    import struct, sys
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8): c = ((c << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if c & 0x80000000 else (c << 1) & 0xFFFFFFFF
        table.append(c)
    def crc(data):
        c = 0
        for x in data: c = ((c << 8) & 0xFFFFFFFF) ^ table[(c >> 24) ^ x]
        return c
    b = open(sys.argv[1], "rb").read()
    pos, pre, granule, pages, eos = 0, 0, 0, 0, []
    while pos + 27 <= len(b) and b[pos:pos + 4] == b"OggS":
        count = b[pos + 26]
        end = pos + 27 + count + sum(b[pos + 27:pos + 27 + count])
        if end > len(b): break
        page = bytearray(b[pos:end]); stored = struct.unpack("<I", page[22:26])[0]; page[22:26] = b"\0\0\0\0"
        assert crc(page) == stored, "page %d: CRC mismatch" % pages
        body = b[pos + 27 + count:end]
        if body.startswith(b"OpusHead"): pre = struct.unpack("<H", body[10:12])[0]
        eos.append(b[pos + 5] & 4 != 0)
        granule = struct.unpack("<q", b[pos + 6:pos + 14])[0]
        pages += 1
        pos = end
    assert eos and eos[-1] and not any(eos[:-1]), "EOS flags %s" % eos
    print(granule, pre, pages, len(b) - pos)
    """#

    /// Page boundaries of an Ogg stream (ours: whole pages).
    static func pageEnds(_ bytes: [UInt8]) -> [Int] {
        var ends: [Int] = [], at = 0
        while at + 27 <= bytes.count {
            let count = Int(bytes[at + 26])
            guard at + 27 + count <= bytes.count else { break }
            at += 27 + count + bytes[(at + 27)..<(at + 27 + count)].reduce(0) { $0 + Int($1) }
            ends.append(at)
        }
        return ends
    }

    @Test func aCutOggOpusStreamKeepsItsWholePagesAndEndsOnAMarkedOne() throws {
        var generator = SeededGenerator()
        let stream = try EncodedStream(sampleRate: 24_000, seconds: 7.3, seed: testSeed(27))
        let sink = MemorySink()
        let writer = try OggOpusWriter(sink: sink, channelCount: 1, inputSampleRate: 24_000, preSkip48k: stream.preSkip48k, vendor: "test",
                                       serialNumber: 27)
        try Self.unfinished(stream).forEachPacket(writer.write)
        try writer.flush()  // what the kill found on disk: every page the writer had flushed
        let whole = sink.bytes
        let ends = Self.pageEnds(whole)
        #expect(ends.count > 8 && ends.last == whole.count)
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var repaired = 0
        for cut in Self.cuts(ends, byteCount: whole.count, randomCount: 20, generator: &generator) {
            let path = folder.appendingPathComponent("cut-\(cut).ogg").path
            try Data(whole.prefix(cut)).write(to: URL(fileURLWithPath: path))
            // The last whole page a packet ends on: what must remain (header pages and pages that continue one do not count).
            let audioEnds = ends.dropFirst(2).filter { $0 <= cut }
            guard let keptEnd = audioEnds.last else {
                #expect(throws: RepairError.self, "cut at \(cut): headers only") { try Repair.repair(path: path) }
                continue
            }
            let report = try Repair.repair(path: path)
            #expect(report.changed, "cut at \(cut): \(report)")
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(bytes.count == keptEnd, "cut at \(cut): \(bytes.count) bytes kept, the whole pages end at \(keptEnd)")
            let numbers = String(decoding: try python(Self.oggCheck, [path]), as: UTF8.self).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try #require(numbers.count == 4, "cut at \(cut)")
            #expect(numbers[3] == 0 && numbers[2] == ends.firstIndex(of: keptEnd)! + 1, "cut at \(cut): \(numbers)")
            // Only the flag and the CRC of the last page changed.
            let lastPage = (ends.firstIndex(of: keptEnd)! > 0 ? ends[ends.firstIndex(of: keptEnd)! - 1] : 0)
            #expect(bytes.prefix(lastPage + 5) == whole.prefix(lastPage + 5) && bytes[(lastPage + 26)...] == whole[(lastPage + 26)..<keptEnd])
            let info = try run("opusinfo", [path])
            #expect(info.status == 0 && !text(info).contains("WARNING"), "cut at \(cut): \(text(info))")
            let decoded = try ffmpegDecodeToPCM16(path)
            #expect(decoded.count / 2 == numbers[0] - numbers[1], "cut at \(cut): ffmpeg decoded \(decoded.count / 2), granule − pre-skip \(numbers[0] - numbers[1])")
            #expect(report.description.contains(formatSecondsForTest(Double(numbers[0] - numbers[1]) / 48_000)), "\(report)")
            // Repaired once, there is nothing left to fix.
            let again = try Repair.repair(path: path)
            #expect(!again.neededRepair && !again.changed && again.description.contains("nothing to fix"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
            repaired += 1
        }
        #expect(repaired > 40)
    }

    /// Block ends of our WebM file (the offsets after each SimpleBlock or BlockGroup), read with EBML's own header reader.
    static func blockEnds(_ bytes: [UInt8]) -> [Int] {
        var ends: [Int] = [], at = 0
        while let header = EBML.header(in: bytes[...], at: at) {
            let body = at + header.byteCount
            switch header.id {
            case EBML.ID.segment, EBML.ID.cluster: at = body  // their children follow
            default:
                guard let size = header.size, body + size <= bytes.count else { return ends }
                if header.id == EBML.ID.simpleBlock || header.id == EBML.ID.blockGroup { ends.append(body + size) }
                at = body + size
            }
        }
        return ends
    }

    static func writeWebM(_ packets: EncodedStream.Packets, _ stream: EncodedStream, finish: Bool) throws -> MemorySink {
        let sink = MemorySink(seekable: true)
        let writer = try WebMOpusWriter(sink: sink, channelCount: 1, inputSampleRate: stream.sampleRate, preSkip48k: stream.preSkip48k,
                                        trackUID: 27)
        try packets.forEachPacket(writer.write)
        if finish { try writer.finish() } else { try writer.flush() }
        return sink
    }

    /// A cut WebM file, repaired, is byte for byte what the writer finishes from the blocks the cut kept whole (no
    /// DiscardPadding: the input's length died with the process); its Duration, Cues and SeekHead read by ffprobe,
    /// mkvinfo, the tests' EBML reader and a seek in ffmpeg.
    @Test func aCutWebMFileIsWhatTheWriterWouldHaveFinished() throws {
        var generator = SeededGenerator()
        let stream = try EncodedStream(sampleRate: 24_000, seconds: 12.4, seed: testSeed(28))
        let killed = try Self.writeWebM(Self.unfinished(stream), stream, finish: false)
        let whole = killed.bytes
        let blocks = Self.blockEnds(whole)
        #expect(blocks.count == stream.packets.count - 1)
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var repaired = 0
        for cut in Self.cuts(killed.appendEnds + blocks.enumerated().filter { $0.offset % 97 == 0 }.map(\.element), byteCount: whole.count,
                             randomCount: 12, generator: &generator) {
            let path = folder.appendingPathComponent("cut-\(cut).webm").path
            try Data(whole.prefix(cut)).write(to: URL(fileURLWithPath: path))
            let kept = blocks.filter { $0 <= cut }.count
            guard kept > 0 else {
                #expect(throws: RepairError.self, "cut at \(cut): no whole block") { try Repair.repair(path: path) }
                continue
            }
            let dry = try Repair.repair(path: path, dryRun: true)
            let untouched = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(!dry.changed && dry.neededRepair && untouched == Array(whole.prefix(cut)))
            let report = try Repair.repair(path: path)
            #expect(report.changed)
            let expected = try Self.writeWebM(Self.unfinished(stream, count: kept), stream, finish: true).bytes
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(bytes == expected, "cut at \(cut) (\(kept) blocks): \(firstDifference(bytes, expected) ?? "") \(report)")
            let decoded48k = Self.unfinished(stream, count: kept).packets.reduce(0) { $0 + $1.sampleCount48k } - stream.preSkip48k
            let again = try Repair.repair(path: path)
            let twice = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(!again.neededRepair && twice == bytes)
            repaired += 1
            // The readers, on a few of the cuts (each costs four processes).
            guard repaired % 4 == 1 else { continue }
            let checked = try WebMChecker.read(path)
            #expect(checked.segmentSizeKnown && checked.clusterSizesKnown.allSatisfy { $0 })
            #expect(checked.seekEntriesValid == [0x1549_A966: true, 0x1654_AE6B: true, 0x1C53_BB6B: true], "cut at \(cut)")
            #expect(!checked.cuesPointAtClusters.isEmpty && checked.cuesPointAtClusters.allSatisfy { $0 })
            #expect(checked.durationMilliseconds == Double(decoded48k) / 48, "cut at \(cut)")
            #expect(try run("mkvinfo", [path]).status == 0)
            let duration = text(try run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path]))
            #expect(abs((Double(duration.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1) - Double(decoded48k) / 48_000) < 0.0006,
                    "cut at \(cut): \(duration)")
            #expect(try ffmpegDecodeToPCM16(path).count == decoded48k * 2, "cut at \(cut)")
            // A seek through the Cues: from 6 s, the rest.
            if decoded48k > 7 * 48_000 {
                let seek = try run("ffmpeg", ["-v", "error", "-ss", "6", "-i", path, "-f", "s16le", "-"])
                #expect(seek.status == 0 && seek.standardError.isEmpty, "\(text(seek))")
                #expect(abs(seek.standardOutput.count / 2 - (decoded48k - 6 * 48_000)) <= 960, "cut at \(cut): \(seek.standardOutput.count / 2)")
            }
        }
        #expect(repaired > 40)
    }
}

/// Seconds as the reports write them.
func formatSecondsForTest(_ seconds: Double) -> String {
    let milliseconds = Int((seconds * 1000).rounded())
    return String(format: "%d.%03d s", milliseconds / 1000, milliseconds % 1000)
}
