import COgg
package import DeltaTapeCodecs

/// Writes an Ogg Opus stream (RFC 7845) with libogg's paging, to any ``ByteSink`` (it never seeks).
///
/// OpusHead alone on the first page, OpusTags on its own page, then one Opus packet per Ogg packet with
/// granule positions in 48 kHz units counted from the first packet (so they include the pre-skip). A page is
/// flushed at least every second of audio, so a killed process loses at most that. The last page carries EOS
/// and a granule of exactly `input samples at 48 kHz + pre-skip`, which trims the encoder's padding.
///
/// Pages reach the sink whole, in one write per flush (never a page header in one write and its body in another).
/// The two header pages wait for the first audio page and go out in its write (or at ``finish()``, for a stream
/// without audio): a stream of headers alone is one ffmpeg refuses ("End of file"), and a process killed before its
/// first audio page so left a file no reader opened. Killed at any moment, it leaves nothing or a readable stream.
package final class OggOpusWriter {
    /// Where pages go.
    package let sink: any ByteSink
    private var stream = ogg_stream_state()
    private var packetNumber: Int64 = 0
    private var granule: Int64 = 0
    private var granuleAtLastFlush: Int64 = 0
    private let maximumPageDuration48k: Int64 = 48_000
    private let preSkip48k: Int
    /// The first failure of the sink: nothing more is written after it (a page cut short would hide the pages after it).
    private var failure: OutputError?
    /// The pages of one flush, gathered for a single write (kept between flushes: its storage is reused).
    private var pageBytes: [UInt8] = []
    /// Where each page in ``pageBytes`` ends, and its granule position.
    private var pageEnds: [(end: Int, granule: Int64)] = []
    /// The header pages held in ``pageBytes`` until the first audio page is ready (0 once they are written).
    private var heldHeaderPageCount = 0

    /// Samples at 48 kHz a reader decodes from the whole pages the sink accepted: the granule position of the last
    /// such page that ends a packet, less the pre-skip. A page cut short by a failure is not counted (readers check a
    /// page's CRC, and drop it), nor a packet continued onto a page that did not arrive.
    package private(set) var deliveredFrameCount48k = 0

    /// Starts a stream and writes its two header pages.
    ///
    /// - Parameters:
    ///   - sink: Where the pages go.
    ///   - channelCount: 1 or 2 (channel mapping family 0).
    ///   - inputSampleRate: The original PCM rate, recorded in OpusHead (informational).
    ///   - preSkip48k: The encoder's lookahead at 48 kHz.
    ///   - vendor: The encoding library, for OpusTags.
    ///   - serialNumber: The stream's serial number (random by default).
    /// - Throws: ``OutputError`` when the headers cannot be written.
    package init(
        sink: any ByteSink,
        channelCount: Int,
        inputSampleRate: Int,
        preSkip48k: Int,
        vendor: String,
        serialNumber: Int32 = Int32.random(in: .min ... .max)
    ) throws(OutputError) {
        self.sink = sink
        self.preSkip48k = preSkip48k
        ogg_stream_init(&stream, serialNumber)
        // OpusHead alone on the first page.
        try opusHead(channelCount: channelCount, inputSampleRate: inputSampleRate, preSkip48k: preSkip48k)
            .withUnsafeBytes { submit($0, granule: 0, beginning: true, end: false) }.get()
        gatherPages(force: true)
        // OpusTags (§5.2): on its own page(s); no framing bit.
        var tags: [UInt8] = Array("OpusTags".utf8)
        appendLittleEndian(UInt32(vendor.utf8.count), to: &tags)
        tags.append(contentsOf: vendor.utf8)
        let comment = Array("ENCODER=DeltaTape".utf8)
        appendLittleEndian(UInt32(1), to: &tags)
        appendLittleEndian(UInt32(comment.count), to: &tags)
        tags.append(contentsOf: comment)
        try tags.withUnsafeBytes { submit($0, granule: 0, beginning: false, end: false) }.get()
        gatherPages(force: true)
        heldHeaderPageCount = pageEnds.count
    }

    deinit {
        ogg_stream_clear(&stream)
    }

    /// Adds one Opus packet. The stream's last packet (the one with a ``OpusPacket/streamLength48k``) gets EOS and
    /// a granule of exactly `input + pre-skip`, which trims the encoder's padding, and flushes the last page.
    package func write(_ packet: OpusPacket) throws(OutputError) {
        if let failure { throw failure }
        granule += Int64(packet.sampleCount48k)
        let end = packet.streamLength48k.map { min(Int64($0 + preSkip48k), granule) }
        try submit(packet.bytes, granule: end ?? granule, beginning: false, end: end != nil).get()
        if end != nil || granule - granuleAtLastFlush >= maximumPageDuration48k {
            try flushPages(force: true)
            granuleAtLastFlush = granule
        } else {
            try flushPages(force: false)
        }
    }

    /// Writes the packets given so far as pages now, even a partial page, so that a reader (or a killed process's
    /// file) has them; the stream goes on.
    ///
    /// - Throws: ``OutputError`` when the sink fails.
    package func flush() throws(OutputError) {
        if let failure { throw failure }
        try flushPages(force: true)
        granuleAtLastFlush = granule
    }

    /// Flushes what libogg still holds (the last page went out with the last packet), and the header pages when no
    /// audio came.
    package func finish() throws(OutputError) {
        if let failure { throw failure }
        heldHeaderPageCount = 0
        try flushPages(force: true)
    }

    /// Hands one packet to libogg (which copies it).
    private func submit(_ bytes: UnsafeRawBufferPointer, granule: Int64, beginning: Bool, end: Bool) -> Result<Void, OutputError> {
        var packet = ogg_packet()
        // libogg never writes through this pointer (its type is only not const).
        packet.packet = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        packet.bytes = bytes.count
        packet.b_o_s = beginning ? 1 : 0
        packet.e_o_s = end ? 1 : 0
        packet.granulepos = granule
        packet.packetno = packetNumber
        packetNumber += 1
        guard ogg_stream_packetin(&stream, &packet) == 0 else {
            return .failure(OutputError(path: sink.name, reason: "libogg refused a packet"))
        }
        return .success(())
    }

    /// Writes the pages libogg has ready (all of them, even partial, when `force`), with those gathered before, in one
    /// write.
    private func flushPages(force: Bool) throws(OutputError) {
        gatherPages(force: force)
        // Only the held header pages: they wait for audio.
        guard !pageBytes.isEmpty, pageEnds.count > heldHeaderPageCount else { return }
        heldHeaderPageCount = 0
        let byteCountBefore = sink.byteCount
        defer {
            // The pages the sink took whole count, even when the write failed part of the way.
            let accepted = sink.byteCount - byteCountBefore
            if let delivered = pageEnds.last(where: { $0.end <= accepted && $0.granule > 0 }) {
                deliveredFrameCount48k = max(0, Int(delivered.granule) - preSkip48k)
            }
            pageBytes.removeAll(keepingCapacity: true)
            pageEnds.removeAll(keepingCapacity: true)
        }
        do {
            try sink.write(pageBytes)
        } catch {
            failure = error
            throw error
        }
    }

    /// Moves the pages libogg has ready (all of them, even partial, when `force`) into ``pageBytes``, noting where
    /// each ends and its granule position (-1: no packet ends on it; the header pages carry 0).
    private func gatherPages(force: Bool) {
        var page = ogg_page()
        while (force ? ogg_stream_flush(&stream, &page) : ogg_stream_pageout(&stream, &page)) != 0 {
            pageBytes.append(contentsOf: UnsafeRawBufferPointer(start: page.header, count: page.header_len))
            pageBytes.append(contentsOf: UnsafeRawBufferPointer(start: page.body, count: page.body_len))
            pageEnds.append((pageBytes.count, ogg_page_granulepos(&page)))
        }
    }
}

func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

/// The OpusHead identification header (RFC 7845 §5.1), which Ogg puts on its first page and WebM in CodecPrivate:
/// version 1, the channel count, the pre-skip, the input rate (informational), no output gain, mapping family 0.
func opusHead(channelCount: Int, inputSampleRate: Int, preSkip48k: Int) -> [UInt8] {
    var head: [UInt8] = Array("OpusHead".utf8) + [1, UInt8(channelCount)]
    appendLittleEndian(UInt16(preSkip48k), to: &head)
    appendLittleEndian(UInt32(inputSampleRate), to: &head)
    appendLittleEndian(UInt16(0), to: &head)
    head.append(0)
    return head
}
