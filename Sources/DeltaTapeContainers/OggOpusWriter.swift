import COgg
public import DeltaTapeCodecs

/// Writes an Ogg Opus stream (RFC 7845) with libogg's paging, to any ``ByteSink`` (it never seeks).
///
/// OpusHead alone on the first page, OpusTags on its own page, then one Opus packet per Ogg packet with
/// granule positions in 48 kHz units counted from the first packet (so they include the pre-skip). A page is
/// flushed at least every second of audio, so a killed process loses at most that. The last page carries EOS
/// and a granule of exactly `input samples at 48 kHz + pre-skip`, which trims the encoder's padding.
public final class OggOpusWriter {
    /// Where pages go.
    public let sink: any ByteSink
    private var stream = ogg_stream_state()
    private var packetNumber: Int64 = 0
    private var granule: Int64 = 0
    private var granuleAtLastFlush: Int64 = 0
    private let maximumPageDuration48k: Int64 = 48_000
    private let preSkip48k: Int
    private var held: [UInt8] = []
    private var heldSampleCount = 0
    private var hasHeldPacket = false
    private var finished = false

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
    public init(
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
        try submit(opusHead(channelCount: channelCount, inputSampleRate: inputSampleRate, preSkip48k: preSkip48k),
                   granule: 0, beginning: true, end: false)
        try flushPages(force: true)
        // OpusTags (§5.2): on its own page(s); no framing bit.
        var tags: [UInt8] = Array("OpusTags".utf8)
        appendLittleEndian(UInt32(vendor.utf8.count), to: &tags)
        tags.append(contentsOf: vendor.utf8)
        let comment = Array("ENCODER=DeltaTape".utf8)
        appendLittleEndian(UInt32(1), to: &tags)
        appendLittleEndian(UInt32(comment.count), to: &tags)
        tags.append(contentsOf: comment)
        try submit(tags, granule: 0, beginning: false, end: false)
        try flushPages(force: true)
    }

    deinit {
        ogg_stream_clear(&stream)
    }

    /// Adds one Opus packet. The packet before it is written now; this one is held until the next call or
    /// ``finish(totalSamples48k:)``, which marks the last packet EOS.
    public func write(_ packet: OpusPacket) throws(OutputError) {
        if hasHeldPacket { try submitHeld(end: false, endGranule: nil) }
        held.removeAll(keepingCapacity: true)
        held.append(contentsOf: packet.bytes)
        heldSampleCount = packet.sampleCount48k
        hasHeldPacket = true
    }

    /// Writes the last packet with EOS and the trimmed granule, and flushes.
    ///
    /// - Parameter totalSamples48k: The input's length at 48 kHz.
    public func finish(totalSamples48k: Int) throws(OutputError) {
        guard !finished else { return }
        finished = true
        if hasHeldPacket {
            try submitHeld(end: true, endGranule: Int64(totalSamples48k + preSkip48k))
        }
        try flushPages(force: true)
    }

    private func submitHeld(end: Bool, endGranule: Int64?) throws(OutputError) {
        granule += Int64(heldSampleCount)
        let position = endGranule.map { min($0, granule) } ?? granule
        try submit(held, granule: position, beginning: false, end: end)
        hasHeldPacket = false
        if granule - granuleAtLastFlush >= maximumPageDuration48k {
            try flushPages(force: true)
            granuleAtLastFlush = granule
        } else {
            try flushPages(force: false)
        }
    }

    private func submit(_ bytes: [UInt8], granule: Int64, beginning: Bool, end: Bool) throws(OutputError) {
        let status = bytes.withUnsafeBufferPointer { buffer in
            var packet = ogg_packet()
            // libogg copies the packet and never writes through this pointer (its type is only not const).
            packet.packet = UnsafeMutablePointer(mutating: buffer.baseAddress)
            packet.bytes = buffer.count
            packet.b_o_s = beginning ? 1 : 0
            packet.e_o_s = end ? 1 : 0
            packet.granulepos = granule
            packet.packetno = packetNumber
            return ogg_stream_packetin(&stream, &packet)
        }
        packetNumber += 1
        guard status == 0 else { throw OutputError(path: sink.name, reason: "libogg refused a packet") }
    }

    /// Writes the pages libogg has ready (all of them, even partial, when `force`).
    private func flushPages(force: Bool) throws(OutputError) {
        var page = ogg_page()
        while (force ? ogg_stream_flush(&stream, &page) : ogg_stream_pageout(&stream, &page)) != 0 {
            try sink.write(UnsafeRawBufferPointer(start: page.header, count: page.header_len))
            try sink.write(UnsafeRawBufferPointer(start: page.body, count: page.body_len))
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
