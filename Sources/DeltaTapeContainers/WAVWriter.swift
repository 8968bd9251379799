// Hand-written rather than libsndfile: libsndfile's RF64 writer (the only one that passes 4 GiB) always writes
// WAVE_FORMAT_EXTENSIBLE + JUNK + fact, which Python 3.11's `wave` refuses ("unknown format: 65534"), and
// libsndfile cannot write WAV to a non-seekable sink at all (SFE_NO_PIPE_WRITE; virtual I/O that cannot seek is
// silently corrupted). One writer for both: the plain header EBU Tech 3306 describes, kept current on files.
@_spi(Blocks) import DeltaTapeKernels

/// Writes a WAV stream to any ``ByteSink``: a file it keeps readable while writing, or a pipe.
///
/// The header is the plainest one the format allows: a 16-byte `WAVE_FORMAT_PCM` fmt chunk for 16-bit mono and
/// stereo, `WAVE_FORMAT_IEEE_FLOAT` (18-byte fmt, `cbSize` 0, and a `fact` chunk) for 32-bit floats, and
/// `WAVE_FORMAT_EXTENSIBLE` only for more than two channels, where the format requires it.
///
/// On a seekable ``PositionalByteSink`` (a regular file, also standard output redirected to one) a `JUNK` chunk
/// the size of a `ds64` chunk is reserved before fmt, and the header's sizes are rewritten after every block,
/// so a process killed at any moment leaves a file every reader opens with all the audio written so far. When the
/// file passes 4 GiB the JUNK chunk becomes `ds64` and `RIFF` becomes `RF64`, as EBU Tech 3306 describes; below,
/// the file is plain RIFF. On any other sink (a pipe) the header is written once with both sizes `0xFFFFFFFF`, the
/// "until the end of the stream" marker ffmpeg writes and sox, ffmpeg and libsndfile read.
///
/// Samples are written in blocks: when 1 MiB is buffered (large writes keep the kernel's page-cache cost low), or
/// at the first write half a second after the last block, so a live recording is never far behind on disk.
/// ``flush()`` writes a block at once (for a caller whose input has stalled).
///
/// When the sink fails (a full disk, a reader gone), nothing more is written: on a file the header is brought to every
/// whole frame that reached it, and the error says how much audio the output holds (``deliveredFrameCount``).
package final class WAVWriter: PCMWriter {
    /// The sink's name, for messages.
    package let path: String
    /// Frames per second.
    package let sampleRate: Int
    /// Channels per frame.
    package let channelCount: Int
    /// The sample format written.
    package let sampleFormat: PCMSampleFormat
    /// Whole frames written so far (buffered frames included).
    package var frameCount: Int { sampleCount / channelCount }
    /// Whole frames a reader finds in the bytes the sink accepted: on a file, the frames its header counts (brought up
    /// to every whole frame that reached the file when a write fails part-way); on a pipe, every whole frame after the
    /// header.
    package var deliveredFrameCount: Int {
        keepsHeaderCurrent ? headerFrameCount : max(0, sink.byteCount - dataStartByteCount) / frameByteCount
    }
    /// Whether the header is kept current (the sink can overwrite bytes); otherwise it carries unknown sizes.
    package let keepsHeaderCurrent: Bool

    private let sink: any ByteSink
    private let positionalSink: (any PositionalByteSink)?
    private let bytesPerSample: Int
    private let format: Format
    /// Whether the header has a fact chunk: not on a pipe, where the count is unknown (ffmpeg leaves it out too).
    private let hasFact: Bool
    /// Samples written so far (all channels), buffered ones included.
    private var sampleCount = 0
    /// Data bytes already handed to the sink.
    private var flushedDataByteCount = 0
    /// The header's length: where the data starts.
    private let headerByteCount: Int
    /// The sink's byte count where the data starts.
    private let dataStartByteCount: Int
    /// Bytes per frame (the block align).
    private let frameByteCount: Int
    /// Frames the header in the file counts (on a seekable sink).
    private var headerFrameCount = 0
    /// The first failure of the sink: nothing more is written after it (part of a block may have reached the sink, and
    /// writing on would misplace every sample after it).
    private var failure: OutputError?
    private var pending: [UInt8] = []
    /// The header as last written.
    private var headerBytes: [UInt8] = []
    private var floats: [Float] = []
    private var lastFlush: ContinuousClock.Instant
    private var closed = false

    private static let blockByteCount = 1 << 20
    /// Samples arriving this many bytes at a time (or more) are written without being gathered into a block.
    private static let directWriteByteCount = 64 << 10
    private static let maximumFlushInterval = Duration.milliseconds(500)
    /// A size field's "unknown" value, and in RF64 the "see ds64" value.
    private static let unknownSize: UInt32 = 0xFFFF_FFFF
    /// ds64's payload: RIFF size, data size, sample count (8 bytes each), table length (4 bytes).
    private static let ds64PayloadByteCount = 28

    /// The fmt chunk's form.
    private enum Format {
        case pcm, float, extensible

        var tag: UInt16 {
            switch self {
            case .pcm: 0x0001  // WAVE_FORMAT_PCM
            case .float: 0x0003  // WAVE_FORMAT_IEEE_FLOAT
            case .extensible: 0xFFFE  // WAVE_FORMAT_EXTENSIBLE
            }
        }

        /// The fmt chunk's payload length: WAVEFORMAT + bits per sample, WAVEFORMATEX, WAVEFORMATEXTENSIBLE.
        var fmtByteCount: Int {
            switch self {
            case .pcm: 16
            case .float: 18
            case .extensible: 40
            }
        }

        /// Every format but plain PCM carries a fact chunk (the frame count) where the count can be kept.
        var needsFact: Bool { self != .pcm }
    }

    /// Starts a WAV stream on `sink` and writes its header.
    ///
    /// - Parameters:
    ///   - sink: Where the bytes go; the header is kept current if it is a seekable ``PositionalByteSink``.
    ///   - sampleRate: Frames per second, 1 to 4 294 967 295 (with the byte rate within 32 bits).
    ///   - channelCount: Interleaved channels per frame, 1 to 16 383.
    ///   - sampleFormat: 16-bit integers or 32-bit floats.
    /// - Throws: ``OutputError`` when the rate or channel count does not fit a WAV header, or the header cannot be
    ///   written.
    package init(sink: any ByteSink, sampleRate: Int, channelCount: Int = 1, sampleFormat: PCMSampleFormat = .s16) throws(OutputError) {
        self.sink = sink
        path = sink.name
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.sampleFormat = sampleFormat
        bytesPerSample = sampleFormat == .s16 ? 2 : 4
        // The header's fields are 32 and 16 bits wide: the rate, the bytes per second and the bytes per frame must fit.
        guard (1...Int(UInt32.max)).contains(sampleRate), (1...Int(UInt16.max) / 4).contains(channelCount),
              UInt32(exactly: sampleRate * channelCount * bytesPerSample) != nil
        else {
            throw OutputError(path: sink.name, reason: "cannot write \(channelCount) channel(s) at \(sampleRate) Hz to WAV")
        }
        format = channelCount > 2 ? .extensible : sampleFormat == .s16 ? .pcm : .float
        let positional = (sink as? any PositionalByteSink).flatMap { $0.isSeekable ? $0 : nil }
        positionalSink = positional
        keepsHeaderCurrent = positional != nil
        hasFact = format.needsFact && positional != nil
        headerByteCount = 12 + (positional != nil ? 8 + Self.ds64PayloadByteCount : 0) + 8 + format.fmtByteCount
            + (hasFact ? 12 : 0) + 8
        frameByteCount = channelCount * bytesPerSample
        dataStartByteCount = sink.byteCount + headerByteCount
        lastFlush = ContinuousClock.now
        pending.reserveCapacity(Self.blockByteCount)
        // On a file the header starts out describing no audio, so even a kill before the first block leaves a WAV.
        updateHeader()
        try sink.write(headerBytes)
    }

    /// Appends interleaved samples, converted to the sample format.
    ///
    /// - Throws: ``OutputError`` when writing fails, or after ``close()``.
    package func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        guard !closed else { throw OutputError(path: path, reason: "write after close") }
        if let failure { throw failure }
        #if _endian(little)
        // Many 16-bit samples with nothing gathered before them (the blocks an encoder thread hands over) are already
        // the file's bytes: written as they are, not copied into the block first.
        if sampleFormat == .s16, pending.isEmpty, samples.count * bytesPerSample >= Self.directWriteByteCount {
            try writeData(UnsafeRawBufferPointer(samples))
            sampleCount += samples.count
            return
        }
        #endif
        var remaining = samples[...]
        while !remaining.isEmpty {
            let room = (Self.blockByteCount - pending.count) / bytesPerSample
            let taken = UnsafeBufferPointer(rebasing: remaining.prefix(max(room, 1)))
            append(taken)
            remaining = remaining.dropFirst(taken.count)
            if pending.count >= Self.blockByteCount { try flush() }
        }
        sampleCount += samples.count
        if !pending.isEmpty, ContinuousClock.now - lastFlush >= Self.maximumFlushInterval { try flush() }
    }

    /// Writes the buffered samples to the sink and, on a file, brings the header up to date.
    ///
    /// - Throws: ``OutputError`` when writing fails, with the audio the output holds (``deliveredFrameCount``); the
    ///   same error again after such a failure.
    package func flush() throws(OutputError) {
        if let failure { throw failure }
        lastFlush = ContinuousClock.now
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { bytes in Result { () throws(OutputError) in try writeData(bytes) } }.get()
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes data bytes to the sink, then the header that counts them.
    private func writeData(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        do {
            try sink.write(bytes)
        } catch {
            // Part of the block may have reached the file: its header is brought to every whole frame that did (an
            // overwrite, which a full disk still allows), so the file holds them all.
            flushedDataByteCount = max(0, sink.byteCount - dataStartByteCount) / frameByteCount * frameByteCount
            try? writeHeader()
            throw fail(error)
        }
        flushedDataByteCount += bytes.count
        // The data first, then the header that counts it: a kill in between leaves the previous, true header.
        do {
            try writeHeader()
        } catch {
            throw fail(error)
        }
    }

    /// Writes what is buffered, finishes the header and closes the sink (also after a failure, which it throws
    /// again). Called again, it does nothing.
    ///
    /// - Throws: ``OutputError`` when the last write, the header update or closing the sink fails.
    package func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        do {
            try flush()
        } catch {
            try? sink.close()
            throw error
        }
        try sink.close()
    }

    /// Rewrites the header of a seekable sink for the data flushed so far.
    private func writeHeader() throws(OutputError) {
        guard let positionalSink else { return }
        updateHeader()
        try headerBytes.withUnsafeBytes { buffer in Result { () throws(OutputError) in try positionalSink.write(buffer, at: 0) } }.get()
        headerFrameCount = flushedDataByteCount / frameByteCount
    }

    /// Keeps the sink's first failure, with the audio that reached the sink, to throw from now on.
    private func fail(_ error: OutputError) -> OutputError {
        let delivered = error.delivered(by: self, sink: sink)
        failure = delivered
        return delivered
    }

    // MARK: - Samples

    /// Appends samples to the block being gathered, in the file's sample format and byte order.
    private func append(_ samples: UnsafeBufferPointer<Int16>) {
        switch sampleFormat {
        case .s16:
            #if _endian(little)
            pending.append(contentsOf: UnsafeRawBufferPointer(samples))
            #else
            for sample in samples { append(littleEndian: UInt16(bitPattern: sample), to: &pending) }
            #endif
        case .f32:
            // Scaled to [-1, 1): exact for every 16-bit value.
            if floats.count < samples.count { floats = [Float](repeating: 0, count: samples.count) }
            floats.withUnsafeMutableBufferPointer { PCMConversion.floats(from: samples, into: $0) }
            #if _endian(little)
            floats.withUnsafeBytes { pending.append(contentsOf: $0.prefix(samples.count * 4)) }
            #else
            for value in floats.prefix(samples.count) { append(littleEndian: value.bitPattern, to: &pending) }
            #endif
        }
    }

    // MARK: - Header

    /// Makes ``headerBytes`` the header for the data flushed so far: RIFF below 4 GiB, RF64 beyond, unknown sizes
    /// on a pipe. The buffer is reused: no allocation per block.
    private func updateHeader() {
        var bytes = headerBytes
        headerBytes = []  // keeps `bytes` uniquely referenced, so it is reused in place
        bytes.removeAll(keepingCapacity: true)
        defer { headerBytes = bytes }
        let dataByteCount = UInt64(flushedDataByteCount)
        let riffByteCount = UInt64(headerByteCount - 8) + dataByteCount
        let frames = dataByteCount / UInt64(channelCount * bytesPerSample)
        let reservesDS64 = positionalSink != nil
        // 0xFFFFFFFF itself means "unknown" (or "see ds64") to readers, so a real size must stay below it.
        let isRF64 = reservesDS64 && riffByteCount >= UInt64(Self.unknownSize)
        func size32(_ value: UInt64) -> UInt32 {
            reservesDS64 && !isRF64 ? UInt32(value) : Self.unknownSize
        }

        append(ascii: isRF64 ? "RF64" : "RIFF", to: &bytes)
        append(littleEndian: size32(riffByteCount), to: &bytes)
        append(ascii: "WAVE", to: &bytes)
        if reservesDS64 {
            append(ascii: isRF64 ? "ds64" : "JUNK", to: &bytes)
            append(littleEndian: UInt32(Self.ds64PayloadByteCount), to: &bytes)
            if isRF64 {
                append(littleEndian: riffByteCount, to: &bytes)
                append(littleEndian: dataByteCount, to: &bytes)
                append(littleEndian: frames, to: &bytes)  // the fact chunk's count, 64 bits wide
                append(littleEndian: UInt32(0), to: &bytes)  // no table of other chunk sizes
            } else {
                bytes.append(contentsOf: repeatElement(0, count: Self.ds64PayloadByteCount))
            }
        }

        append(ascii: "fmt ", to: &bytes)
        append(littleEndian: UInt32(format.fmtByteCount), to: &bytes)
        append(littleEndian: format.tag, to: &bytes)
        append(littleEndian: UInt16(channelCount), to: &bytes)
        append(littleEndian: UInt32(sampleRate), to: &bytes)
        append(littleEndian: UInt32(sampleRate * channelCount * bytesPerSample), to: &bytes)  // bytes per second
        append(littleEndian: UInt16(channelCount * bytesPerSample), to: &bytes)  // block align: bytes per frame
        append(littleEndian: UInt16(bytesPerSample * 8), to: &bytes)
        switch format {
        case .pcm: break
        case .float:
            append(littleEndian: UInt16(0), to: &bytes)  // cbSize: no extension
        case .extensible:
            append(littleEndian: UInt16(22), to: &bytes)  // cbSize
            append(littleEndian: UInt16(bytesPerSample * 8), to: &bytes)  // valid bits per sample
            append(littleEndian: UInt32(0), to: &bytes)  // channel mask: no speaker positions claimed
            // SubFormat GUID: KSDATAFORMAT_SUBTYPE_PCM or _IEEE_FLOAT, {0000000X-0000-0010-8000-00AA00389B71}.
            append(littleEndian: UInt32(sampleFormat == .s16 ? 1 : 3), to: &bytes)
            bytes += [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        }
        if hasFact {
            append(ascii: "fact", to: &bytes)
            append(littleEndian: UInt32(4), to: &bytes)
            append(littleEndian: frames < UInt64(Self.unknownSize) ? UInt32(frames) : Self.unknownSize, to: &bytes)
        }
        append(ascii: "data", to: &bytes)
        append(littleEndian: size32(dataByteCount), to: &bytes)
    }

    private func append(ascii text: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private func append<Value: FixedWidthInteger>(littleEndian value: Value, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
