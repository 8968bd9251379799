// Hand-written rather than libwebm: libwebm is C++ (no C++ interop wanted in the library's build), its muxer
// wants a seekable writer, and we need both forms from one streaming code path: the live form for pipes and
// uploads (unknown sizes, blocks written as produced) and the finalized form for files (sizes, Duration, Cues).
package import DeltaTapeCodecs

/// Writes WebM (Matroska) with one Opus track, streaming.
///
/// `A_OPUS`, CodecPrivate = OpusHead, CodecDelay = pre-skip in nanoseconds, SeekPreRoll 80 ms, SamplingFrequency
/// 48000, SimpleBlocks with the keyframe flag in clusters of at most 5 seconds, and DiscardPadding on the last
/// block so decoders stop at the input's exact length. Timestamps count half milliseconds, at which the codec
/// delay and every block time are exact (see ``tickNanoseconds``). On a seekable sink the file is finalized in place (Segment
/// and Cluster sizes, Duration, SeekHead, Cues); on any other sink it stays in the live form browsers'
/// MediaRecorder writes (unknown-size Segment and Clusters). Each cluster (at most 1 s live, 5 s in a file) is
/// written in one piece as soon as it is complete, so a killed process loses at most the open cluster.
package final class WebMOpusWriter {
    /// Where the bytes go.
    package let sink: any ByteSink
    private let seekable: Bool
    private let preSkip48k: Int
    private let maximumClusterDuration48k = 5 * 48_000
    private let liveClusterDuration48k = 48_000

    /// The TimestampScale: 0.5 ms. At the usual 1 ms, demuxers round CodecDelay (the 312-sample pre-skip, 6.5 ms)
    /// to 7 ms and Chromium drops 24 samples (measured, with ffmpeg's own files too). At 0.5 ms (24 samples at
    /// 48 kHz, the greatest common divisor of 312 and of every Opus frame size: 120, 240, 480, 960, 1920, 2880)
    /// the codec delay is 13 ticks and every block starts on a whole tick. A cluster's int16 relative block
    /// times then reach 16.38 s, well above the 5 s clusters written here.
    package static let tickNanoseconds = 500_000
    package static let samples48kPerTick = 48_000 * tickNanoseconds / 1_000_000_000

    private var segmentDataStart = 0  // offset of the first byte inside the Segment
    private var seekHeadOffset = 0  // the reserved Void that becomes the SeekHead
    private var durationOffset = 0  // the Void reserved for Duration
    private var infoOffset = 0, tracksOffset = 0
    private var clusterStart48k = 0
    private var clusterOpen = false
    private var clusterOffset = 0  // where the open cluster's ID starts
    private var clusterDataStart = 0  // where its content starts (after the 8-byte size)
    private var cuePoints: [(timeTicks: Int, clusterOffset: Int)] = []
    private var position48k = 0  // samples of all packets so far, at 48 kHz
    private var streamLength48k: Int?  // from the last packet: the input's length, for Duration
    private var finished = false
    /// The first failure of the sink: nothing more is written after it.
    private var failure: OutputError?
    /// Where each block in ``output`` ends, and the samples a reader has decoded once it reaches that block's end.
    private var bufferedBlockEnds: [(byteCount: Int, frameCount48k: Int)] = []

    /// Samples at 48 kHz a reader decodes from the whole blocks the sink accepted: the end of the last such block, less
    /// the codec delay (the pre-skip) and the last block's DiscardPadding. A block cut short by a failure is not counted.
    package private(set) var deliveredFrameCount48k = 0
    /// Bytes of the open cluster not yet written: a cluster goes to the sink in one write when it closes.
    private var output: [UInt8] = []
    package static let seekHeadReserve = 96
    package static let durationByteCount = EBML.float(EBML.ID.duration, 0).count

    /// Where the next byte will land in the file.
    private var position: Int { sink.byteCount + output.count }

    /// Starts a WebM stream and writes its headers.
    ///
    /// - Parameters:
    ///   - sink: Where the bytes go; finalized in place if it is a seekable ``PositionalByteSink``.
    ///   - channelCount: 1 or 2.
    ///   - inputSampleRate: The original PCM rate, recorded in OpusHead.
    ///   - preSkip48k: The encoder's lookahead at 48 kHz.
    ///   - trackUID: The track's unique ID (random by default; fix it for byte-reproducible files).
    /// - Throws: ``OutputError`` when the headers cannot be written.
    package init(
        sink: any ByteSink, channelCount: Int, inputSampleRate: Int, preSkip48k: Int,
        trackUID: UInt64 = UInt64.random(in: 1 ... .max)
    ) throws(OutputError) {
        self.sink = sink
        self.preSkip48k = preSkip48k
        seekable = (sink as? any PositionalByteSink)?.isSeekable ?? false

        var header = EBML.element(EBML.ID.ebml,
            EBML.unsigned(EBML.ID.ebmlVersion, 1) + EBML.unsigned(EBML.ID.ebmlReadVersion, 1)
            + EBML.unsigned(EBML.ID.ebmlMaxIDLength, 4) + EBML.unsigned(EBML.ID.ebmlMaxSizeLength, 8)
            + EBML.string(EBML.ID.docType, "webm") + EBML.unsigned(EBML.ID.docTypeVersion, 4)
            + EBML.unsigned(EBML.ID.docTypeReadVersion, 2))
        // Segment: unknown size now; a seekable sink gets the real size at the end (same 8 bytes).
        header += EBML.id(EBML.ID.segment) + EBML.unknownSize
        segmentDataStart = sink.byteCount + header.count
        if seekable {
            // Room for the SeekHead, written at the end, kept as a Void until then.
            seekHeadOffset = segmentDataStart
            header += EBML.id(EBML.ID.void) + EBML.size(Self.seekHeadReserve - 2, length: 1) + [UInt8](repeating: 0, count: Self.seekHeadReserve - 2)
        }
        infoOffset = sink.byteCount + header.count
        var info = EBML.unsigned(EBML.ID.timestampScale, UInt64(Self.tickNanoseconds))
            + EBML.string(EBML.ID.muxingApp, "DeltaTape") + EBML.string(EBML.ID.writingApp, "DeltaTape")
        if seekable {
            // A Void as long as the Duration element (ID 2, size 1, 8-byte float) that replaces it at the end, as
            // ffmpeg does: a file killed before then has no Duration rather than a Duration of 0.
            durationOffset = infoOffset + EBML.id(EBML.ID.info).count + EBML.size(info.count + Self.durationByteCount).count + info.count
            info += EBML.id(EBML.ID.void) + EBML.size(Self.durationByteCount - 2, length: 1) + [UInt8](repeating: 0, count: Self.durationByteCount - 2)
        }
        header += EBML.element(EBML.ID.info, info)
        tracksOffset = sink.byteCount + header.count
        let track = EBML.unsigned(EBML.ID.trackNumber, 1)
            + EBML.unsigned(EBML.ID.trackUID, max(1, trackUID))  // 0 is not a valid UID
            + EBML.unsigned(EBML.ID.trackType, 2)  // audio
            + EBML.string(EBML.ID.codecID, "A_OPUS")
            + EBML.element(EBML.ID.codecPrivate, opusHead(channelCount: channelCount, inputSampleRate: inputSampleRate, preSkip48k: preSkip48k))
            + EBML.unsigned(EBML.ID.codecDelay, UInt64(preSkip48k) * 1_000_000_000 / 48_000)
            + EBML.unsigned(EBML.ID.seekPreRoll, 80_000_000)
            + EBML.element(EBML.ID.audio, EBML.float(EBML.ID.samplingFrequency, 48_000) + EBML.unsigned(EBML.ID.channels, UInt64(channelCount)))
        header += EBML.element(EBML.ID.tracks, EBML.element(EBML.ID.trackEntry, track))
        // The header waits for the first cluster (or the end): a file cut off before any audio (a killed process) is
        // then empty rather than a header that players refuse as an invalid file.
        output = header
    }

    /// Adds one Opus packet as a block. The stream's last packet (the one with a ``OpusPacket/streamLength48k``)
    /// carries DiscardPadding trimming the encoder's padding.
    package func write(_ packet: OpusPacket) throws(OutputError) {
        if let failure { throw failure }
        var discardPadding48k = 0
        if let length = packet.streamLength48k {
            streamLength48k = length
            // Decoded samples beyond pre-skip + input are padding.
            discardPadding48k = max(0, position48k + packet.sampleCount48k - (length + preSkip48k))
        }
        try writeBlock(packet, discardPadding48k: discardPadding48k)
    }

    /// Writes the blocks given so far now, closing the open cluster early (the next block starts a new one), so that a
    /// reader (or a killed process's file) has them; the stream goes on.
    ///
    /// - Throws: ``OutputError`` when the sink fails.
    package func flush() throws(OutputError) {
        if let failure { throw failure }
        try closeCluster()
    }

    /// Closes the last cluster and, on a seekable sink, writes Cues and fills in sizes, Duration and the SeekHead.
    package func finish() throws(OutputError) {
        guard !finished else { return }
        finished = true
        if let failure { throw failure }
        try closeCluster()
        guard seekable, let positional = sink as? any PositionalByteSink else { return }
        let cuesOffset = position
        output += Self.cues(cuePoints, segmentDataStart: segmentDataStart)
        try writeBuffered()
        // Segment size, Duration (without a last packet marking the input's length, what the blocks decode to), SeekHead.
        try patch(positional, EBML.size(sink.byteCount - segmentDataStart, length: 8), at: segmentDataStart - 8)
        try patch(positional, Self.duration(decodedFrameCount48k: streamLength48k ?? max(0, position48k - preSkip48k)), at: durationOffset)
        guard let seekHead = Self.seekHead(infoOffset: infoOffset, tracksOffset: tracksOffset, cuesOffset: cuesOffset,
                                           segmentDataStart: segmentDataStart, reserve: Self.seekHeadReserve) else {
            throw OutputError(path: sink.name, reason: "the SeekHead outgrew the \(Self.seekHeadReserve) bytes reserved for it")
        }
        try patch(positional, seekHead, at: seekHeadOffset)
    }

    // MARK: - What finishing writes (also ``WebMRepair``'s, for a file whose writer was killed)

    /// The Duration element: `decodedFrameCount48k` (the input's length, or the blocks' end less the codec delay and
    /// the last block's DiscardPadding) in ticks, as the timestamp scale says; a fraction where it ends between ticks.
    package static func duration(decodedFrameCount48k: Int) -> [UInt8] {
        EBML.float(EBML.ID.duration, Double(decodedFrameCount48k) / Double(samples48kPerTick))
    }

    /// The Cues element: one CuePoint per cluster (its time in ticks and its offset in the file).
    package static func cues(_ points: [(timeTicks: Int, clusterOffset: Int)], segmentDataStart: Int) -> [UInt8] {
        var cues: [UInt8] = []
        for point in points {
            cues += EBML.element(EBML.ID.cuePoint, EBML.unsigned(EBML.ID.cueTime, UInt64(point.timeTicks))
                + EBML.element(EBML.ID.cueTrackPositions, EBML.unsigned(EBML.ID.cueTrack, 1)
                    + EBML.unsigned(EBML.ID.cueClusterPosition, UInt64(point.clusterOffset - segmentDataStart))))
        }
        return EBML.element(EBML.ID.cues, cues)
    }

    /// The SeekHead (Info, Tracks, Cues) followed by a Void filling `reserve` bytes in all; `nil` when it does not fit.
    package static func seekHead(infoOffset: Int, tracksOffset: Int, cuesOffset: Int, segmentDataStart: Int, reserve: Int) -> [UInt8]? {
        func seek(_ id: UInt32, _ offset: Int) -> [UInt8] {
            EBML.element(EBML.ID.seek, EBML.element(EBML.ID.seekID, EBML.id(id)) + EBML.unsigned(EBML.ID.seekPosition, UInt64(offset - segmentDataStart)))
        }
        let seekHead = EBML.element(EBML.ID.seekHead, seek(EBML.ID.info, infoOffset) + seek(EBML.ID.tracks, tracksOffset) + seek(EBML.ID.cues, cuesOffset))
        let filler = reserve - seekHead.count
        guard filler >= 2, filler - 2 < 0x7F else { return nil }
        return seekHead + EBML.id(EBML.ID.void) + EBML.size(filler - 2, length: 1) + [UInt8](repeating: 0, count: filler - 2)
    }

    // MARK: - Blocks and clusters

    /// Writes a packet as a block of the open cluster (opening one when it is due).
    private func writeBlock(_ packet: OpusPacket, discardPadding48k: Int) throws(OutputError) {
        let limit = seekable ? maximumClusterDuration48k : liveClusterDuration48k
        if !clusterOpen || position48k - clusterStart48k >= limit { try startCluster() }
        let relative = UInt16(bitPattern: Int16(clamping: ticks(position48k) - ticks(clusterStart48k)))
        // Block header: track number 1 as a 1-byte vint, the int16 relative timestamp, flags.
        let blockHeader: [UInt8] = [0x81, UInt8(truncatingIfNeeded: relative >> 8), UInt8(truncatingIfNeeded: relative)]
        if discardPadding48k > 0 {
            // A Block (keyframes implied) in a BlockGroup, so it can carry DiscardPadding.
            let nanoseconds = Int64((Double(discardPadding48k) * 1e9 / 48_000).rounded())
            let block = EBML.element(EBML.ID.block, blockHeader + [0x00] + packet.bytes)
            output += EBML.element(EBML.ID.blockGroup, block + EBML.signed(EBML.ID.discardPadding, nanoseconds))
        } else {
            // The hot path, written straight into the cluster buffer: ID, size, header, keyframe flag, packet.
            output.append(UInt8(EBML.ID.simpleBlock))
            output.append(contentsOf: EBML.size(blockHeader.count + 1 + packet.bytes.count))
            output.append(contentsOf: blockHeader)
            output.append(0x80)
            output.append(contentsOf: packet.bytes)
        }
        position48k += packet.sampleCount48k
        bufferedBlockEnds.append((output.count, max(0, position48k - discardPadding48k - preSkip48k)))
    }

    /// Closes the open cluster and starts the next: an unknown size in the live form, a placeholder that
    /// ``closeCluster()`` fills in on a seekable sink.
    private func startCluster() throws(OutputError) {
        try closeCluster()
        clusterStart48k = position48k
        clusterOffset = position
        cuePoints.append((ticks(clusterStart48k), clusterOffset))
        output += EBML.id(EBML.ID.cluster) + EBML.unknownSize
        clusterDataStart = position
        output += EBML.unsigned(EBML.ID.timestamp, UInt64(ticks(clusterStart48k)))
        clusterOpen = true
    }

    /// Gives a seekable sink's cluster its size, then writes the whole cluster at once.
    private func closeCluster() throws(OutputError) {
        guard clusterOpen else { return }
        clusterOpen = false
        if seekable {
            let size = EBML.size(position - clusterDataStart, length: 8)
            let at = clusterDataStart - 8 - sink.byteCount  // the size field is still in the buffer
            output.replaceSubrange(at..<(at + 8), with: size)
        }
        try writeBuffered()
    }

    /// Samples at 48 kHz in ticks: exact for every sum of Opus frames (all multiples of 120 samples).
    private func ticks(_ samples48k: Int) -> Int {
        (samples48k + Self.samples48kPerTick / 2) / Self.samples48kPerTick
    }

    /// Writes ``output`` in one piece, and counts the blocks that reached the sink (all, or those a failing write
    /// took whole).
    private func writeBuffered() throws(OutputError) {
        guard !output.isEmpty else { return }
        defer {
            output.removeAll(keepingCapacity: true)
            bufferedBlockEnds.removeAll(keepingCapacity: true)
        }
        let start = sink.byteCount
        do {
            try sink.write(output)
        } catch {
            let accepted = sink.byteCount - start
            if let last = bufferedBlockEnds.last(where: { $0.byteCount <= accepted }) { deliveredFrameCount48k = last.frameCount48k }
            failure = error
            throw error
        }
        if let last = bufferedBlockEnds.last { deliveredFrameCount48k = last.frameCount48k }
    }

    private func patch(_ sink: any PositionalByteSink, _ bytes: [UInt8], at offset: Int) throws(OutputError) {
        let result: Result<Void, OutputError> = bytes.withUnsafeBytes { buffer in Result { () throws(OutputError) in try sink.write(buffer, at: offset) } }
        try result.get()
    }
}
