import DeltaTapeCodecs
import DeltaTapeContainers
import Foundation
import Testing
import TestSupport

/// The Ogg Opus writer alone, fed the encoder's packets: its pages read back by a parser written here from RFC 3533
/// and RFC 7845 (capture pattern, CRC, flags, serial, sequence, granules, packets), then by opusinfo and ffmpeg.
@Suite struct OggOpusWriterTests {
    struct Page {
        var headerType: UInt8
        var granulePosition: Int64
        var serialNumber: UInt32
        var sequenceNumber: UInt32
        var crcValid: Bool
        var lacing: [UInt8]
        var body: [UInt8]
        var isContinued: Bool { headerType & 1 != 0 }
        var isBeginning: Bool { headerType & 2 != 0 }
        var isEnd: Bool { headerType & 4 != 0 }
        /// Packets that end on this page (a lacing value below 255 ends one).
        var completedPacketCount: Int { lacing.filter { $0 < 255 }.count }
    }

    /// Ogg's CRC-32 (RFC 3533 §6): polynomial 0x04C11DB7, not reflected, initial value 0, no final XOR.
    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0
        for byte in bytes {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? crc << 1 ^ 0x04C1_1DB7 : crc << 1 }
        }
        return crc
    }

    static func littleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Splits a whole stream into pages; `nil` when something is not a page where one should start.
    static func pages(_ bytes: [UInt8]) -> [Page]? {
        var pages: [Page] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 27, Array(bytes[offset..<(offset + 4)]) == Array("OggS".utf8), bytes[offset + 4] == 0 else { return nil }
            let segmentCount = Int(bytes[offset + 26])
            guard bytes.count - offset >= 27 + segmentCount else { return nil }
            let lacing = Array(bytes[(offset + 27)..<(offset + 27 + segmentCount)])
            let bodyStart = offset + 27 + segmentCount, end = bodyStart + lacing.reduce(0) { $0 + Int($1) }
            guard end <= bytes.count else { return nil }
            var zeroed = bytes[offset..<end]
            zeroed.replaceSubrange((offset + 22)..<(offset + 26), with: [0, 0, 0, 0])
            pages.append(Page(headerType: bytes[offset + 5],
                              granulePosition: Int64(bitPattern: littleEndian(bytes[(offset + 6)..<(offset + 14)])),
                              serialNumber: UInt32(littleEndian(bytes[(offset + 14)..<(offset + 18)])),
                              sequenceNumber: UInt32(littleEndian(bytes[(offset + 18)..<(offset + 22)])),
                              crcValid: crc(zeroed) == UInt32(littleEndian(bytes[(offset + 22)..<(offset + 26)])),
                              lacing: lacing, body: Array(bytes[bodyStart..<end])))
            offset = end
        }
        return pages
    }

    /// The packets the pages carry, joined across segments and pages.
    static func packets(_ pages: [Page]) -> [[UInt8]] {
        var packets: [[UInt8]] = [], current: [UInt8] = []
        for page in pages {
            var offset = 0
            for value in page.lacing {
                current += page.body[offset..<(offset + Int(value))]
                offset += Int(value)
                if value < 255 { packets.append(current); current = [] }
            }
        }
        return packets
    }

    static func write(_ stream: EncodedStream, to sink: any ByteSink, serialNumber: Int32) throws(OutputError) {
        let writer = try OggOpusWriter(sink: sink, channelCount: stream.channelCount, inputSampleRate: stream.sampleRate,
                                       preSkip48k: stream.preSkip48k, vendor: OpusStreamEncoder.libraryVersion, serialNumber: serialNumber)
        try stream.forEachPacket(writer.write)
        try writer.finish()
    }

    @Test(arguments: [(24_000, 1, 20.0), (8_000, 1, 60), (16_000, 2, 2.5), (48_000, 1, 10)])
    func pagesFollowRFC3533And7845(_ rate: Int, _ channels: Int, _ frameMilliseconds: Double) throws {
        let stream = try EncodedStream(sampleRate: rate, channelCount: channels, seconds: 2.3, seed: testSeed(UInt64(rate + channels)),
                                       frameMilliseconds: frameMilliseconds)
        let serial = Int32(bitPattern: 0xDE17_A7A9)
        let sink = MemorySink()
        try Self.write(stream, to: sink, serialNumber: serial)
        let pages = try #require(Self.pages(sink.bytes), "not a sequence of Ogg pages")

        #expect(pages.allSatisfy { $0.crcValid })
        #expect(pages.allSatisfy { $0.serialNumber == 0xDE17_A7A9 })
        #expect(pages.map(\.sequenceNumber) == (0..<UInt32(pages.count)).map { $0 })
        #expect(pages.map(\.isBeginning) == [true] + [Bool](repeating: false, count: pages.count - 1))
        #expect(pages.map(\.isEnd) == [Bool](repeating: false, count: pages.count - 1) + [true])
        // OpusHead alone on the first page, OpusTags alone from the second, both granule 0 (RFC 7845 §3).
        #expect(pages[0].lacing.count == 1 && pages[0].granulePosition == 0)
        #expect(pages[1].completedPacketCount == 1 && pages[1].granulePosition == 0 && !pages[2].isContinued)

        let packets = Self.packets(pages)
        #expect(packets.count == 2 + stream.packets.count)
        #expect(firstDifference(packets.dropFirst(2), stream.packets.map { $0.bytes }) == nil)
        // OpusHead (RFC 7845 §5.1): magic, version 1, channels, pre-skip, input rate, gain 0, mapping family 0.
        let head = packets[0]
        #expect(head.count == 19 && Array(head[0..<8]) == Array("OpusHead".utf8) && head[8] == 1 && Int(head[9]) == channels)
        #expect(Int(Self.littleEndian(head[10..<12])) == 312 && Int(Self.littleEndian(head[12..<16])) == rate)
        #expect(Self.littleEndian(head[16..<18]) == 0 && head[18] == 0)
        // OpusTags (§5.2): magic, the vendor string.
        let tags = packets[1]
        let vendorLength = Int(Self.littleEndian(tags[8..<12]))
        #expect(Array(tags[0..<8]) == Array("OpusTags".utf8))
        #expect(String(decoding: tags[12..<(12 + vendorLength)], as: UTF8.self) == OpusStreamEncoder.libraryVersion)

        // Granules: each page's is the sum of the durations of the packets completed so far, -1 when none completes
        // on it; the last is pre-skip + the input's exact length, which trims the padding.
        var completed = 0
        var previous: Int64 = 0
        for (index, page) in pages.enumerated().dropFirst(2) {
            completed += page.completedPacketCount
            guard page.completedPacketCount > 0 else {
                #expect(page.granulePosition == -1)
                continue
            }
            let sum = Int64(stream.packets.prefix(completed).reduce(0) { $0 + $1.sampleCount48k })
            if index == pages.count - 1 {
                #expect(page.granulePosition == Int64(stream.preSkip48k + stream.length48k))
                #expect(page.granulePosition <= sum && page.granulePosition > sum - Int64(stream.packets.last!.sampleCount48k))
            } else {
                #expect(page.granulePosition == sum)
            }
            #expect(page.granulePosition >= previous)
            // A page at least every second of audio, so a killed process loses at most that.
            #expect(page.granulePosition - previous <= 48_000 + Int64(stream.packets[0].sampleCount48k))
            previous = page.granulePosition
        }
        #expect(completed == stream.packets.count)
    }

    /// Through a file sink: the same bytes as in memory, and opusinfo and ffmpeg read it to the exact length.
    @Test(arguments: [(24_000, 1), (16_000, 2)])
    func theToolsReadItToTheExactLength(_ rate: Int, _ channels: Int) throws {
        let stream = try EncodedStream(sampleRate: rate, channelCount: channels, seconds: 1.7, seed: testSeed(UInt64(rate * 3 + channels)))
        let memory = MemorySink()
        try Self.write(stream, to: memory, serialNumber: 42)
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("writer.opus").path
        let file = try FileDescriptorSink(path: path)
        try Self.write(stream, to: file, serialNumber: 42)
        try file.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(memory.bytes))

        // opusinfo exits 1 on any warning (granules, EOS, headers).
        let info = try run("opusinfo", [path])
        #expect(info.status == 0 && !text(info).contains("WARNING"), "\(text(info))")
        #expect(text(info).contains("Pre-skip: 312"), "\(text(info))")
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,channels,sample_rate", "-of", "compact=p=0", path])
        #expect(text(probe).trimmingCharacters(in: .whitespacesAndNewlines) == "codec_name=opus|sample_rate=48000|channels=\(channels)")
        let decoded = try ffmpegDecodeToPCM16(path)
        #expect(decoded.count == stream.length48k * channels * 2)
    }

    /// A process killed between two writes leaves whole pages, and never headers alone: nothing is written until
    /// the first audio page, which goes out in one write with the two header pages; every later write ends on a
    /// page's end. After each write, what a reader had parses as pages with valid CRCs (the parser above), and the
    /// first write alone is a stream ffprobe reads as Opus (headers alone, which a kill once left, ffmpeg calls "End
    /// of file").
    @Test func everyWriteEndsOnAPageAndTheHeadersComeWithTheFirstAudio() throws {
        let stream = try EncodedStream(sampleRate: 24_000, seconds: 3.3, seed: testSeed(11))
        let sink = MemorySink()
        let writer = try OggOpusWriter(sink: sink, channelCount: 1, inputSampleRate: 24_000, preSkip48k: stream.preSkip48k,
                                       vendor: OpusStreamEncoder.libraryVersion, serialNumber: 5)
        #expect(sink.appendEnds.isEmpty, "the header pages were written before any audio")
        var packetCount = 0
        try stream.forEachPacket { (packet) throws(OutputError) in
            try writer.write(packet)
            packetCount += 1
            if packetCount == 3 {
                try writer.flush()
                let first = Array(sink.bytes)
                #expect(Self.pages(first).map { $0.count >= 3 && $0.allSatisfy(\.crcValid) } == true, "the first write is not whole pages")
                if let path = try? TestEnvironment.temporaryDirectory().appendingPathComponent("first-write.opus").path {
                    try? Data(first).write(to: URL(fileURLWithPath: path))
                    let probe = try? run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name", "-of", "compact=p=0", path])
                    #expect(probe.map { $0.status == 0 && text($0).contains("codec_name=opus") } == true, "\(probe.map(text) ?? "")")
                }
            }
            if packetCount % 40 == 7 { try writer.flush() }
        }
        try writer.finish()
        #expect(sink.appendEnds.count > 4)
        for end in sink.appendEnds {
            #expect(Self.pages(Array(sink.bytes[..<end])).map { $0.allSatisfy(\.crcValid) } == true, "a write ends inside a page, at byte \(end)")
        }
    }

    /// A stream that ends without audio still gets its header pages, at the end: a valid, empty Ogg Opus stream.
    @Test func aStreamWithoutAudioIsItsHeaderPages() throws {
        let sink = MemorySink()
        let writer = try OggOpusWriter(sink: sink, channelCount: 2, inputSampleRate: 16_000, preSkip48k: 312,
                                       vendor: OpusStreamEncoder.libraryVersion, serialNumber: 9)
        try writer.finish()
        let pages = Self.pages(sink.bytes)
        #expect(pages?.count == 2 && pages?.first?.isBeginning == true && pages?.allSatisfy(\.crcValid) == true)
        #expect(pages.map { Array($0[0].body.prefix(8)) == Array("OpusHead".utf8) && Array($0[1].body.prefix(8)) == Array("OpusTags".utf8) } == true)
    }

    /// A sink that fails on its Nth write, whichever N: the writer throws the sink's `OutputError` and does not trap.
    @Test func aFailingSinkIsAnOutputErrorAtEveryWrite() throws {
        let stream = try EncodedStream(sampleRate: 24_000, seconds: 2.5, seed: testSeed(7))
        let counting = MemorySink()
        try Self.write(stream, to: counting, serialNumber: 1)
        #expect(counting.writeCount > 2)
        for failing in 1...counting.writeCount {
            let sink = MemorySink(name: "sink-failing-at-\(failing)", failingWrite: failing)
            #expect(throws: OutputError(path: sink.name, reason: "planned failure at write \(failing)", code: 28)) {
                try Self.write(stream, to: sink, serialNumber: 1)
            }
            #expect(sink.writeCount == failing)
        }
    }
}
