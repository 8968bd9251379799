// Hand-written rather than libsndfile: libsndfile refuses to write WAV to a pipe and corrupts virtual I/O that
// cannot seek, so for non-seekable sinks we write the header ourselves, with unknown sizes, as ffmpeg does.

/// Writes a WAV stream to a sink that cannot seek (a pipe, standard output).
///
/// The 44-byte header carries `0xFFFFFFFF` for both the RIFF and the data size, the marker that sox,
/// ffmpeg and libsndfile read as "until the end of the stream".
public final class StreamingWAVWriter: PCMWriter {
    /// A name for messages (for example `stdout`).
    public let path: String
    public let sampleRate: Int
    public let channelCount: Int
    public let sampleFormat: PCMSampleFormat
    public private(set) var frameCount = 0

    private let sink: any ByteSink
    private var pending: [UInt8] = []
    private let blockByteCount = 1 << 16

    /// Starts a stream on `sink` and writes its header.
    ///
    /// - Throws: ``OutputError`` when the header cannot be written, or the rate or channel count does not fit it.
    public init(sink: any ByteSink, sampleRate: Int, channelCount: Int = 1, sampleFormat: PCMSampleFormat = .s16) throws(OutputError) {
        self.sink = sink
        self.path = sink.name
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.sampleFormat = sampleFormat
        pending.reserveCapacity(blockByteCount)
        let bytesPerSample = sampleFormat == .s16 ? 2 : 4
        // The header's fields are 32 and 16 bits wide: the rate, the bytes per second and the bytes per frame must fit.
        guard (1...Int(UInt32.max)).contains(sampleRate), (1...Int(UInt16.max / 4)).contains(channelCount),
              UInt32(exactly: sampleRate * channelCount * bytesPerSample) != nil
        else {
            throw OutputError(path: sink.name, reason: "cannot write \(channelCount) channel(s) at \(sampleRate) Hz")
        }
        let unknownSize: UInt32 = 0xFFFF_FFFF
        append(ascii: "RIFF")
        append(littleEndian: unknownSize)
        append(ascii: "WAVE")
        append(ascii: "fmt ")
        append(littleEndian: UInt32(16))
        append(littleEndian: UInt16(sampleFormat == .s16 ? 1 : 3))  // WAVE_FORMAT_PCM or WAVE_FORMAT_IEEE_FLOAT
        append(littleEndian: UInt16(channelCount))
        append(littleEndian: UInt32(sampleRate))
        append(littleEndian: UInt32(sampleRate * channelCount * bytesPerSample))
        append(littleEndian: UInt16(channelCount * bytesPerSample))
        append(littleEndian: UInt16(bytesPerSample * 8))
        append(ascii: "data")
        append(littleEndian: unknownSize)
        try drain()
    }

    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        #if _endian(little)
        if sampleFormat == .s16 {
            pending.append(contentsOf: UnsafeRawBufferPointer(samples))
            if pending.count >= blockByteCount { try drain() }
            frameCount += samples.count / channelCount
            return
        }
        #endif
        for sample in samples {
            switch sampleFormat {
            case .s16: append(littleEndian: UInt16(bitPattern: sample))
            case .f32: append(littleEndian: (Float(sample) / 32768).bitPattern)
            }
            if pending.count >= blockByteCount { try drain() }
        }
        frameCount += samples.count / channelCount
    }

    public func close() throws(OutputError) {
        try drain()
    }

    private func append(ascii text: StaticString) {
        pending.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private func append<Value: FixedWidthInteger>(littleEndian value: Value) {
        withUnsafeBytes(of: value.littleEndian) { pending.append(contentsOf: $0) }
    }

    private func drain() throws(OutputError) {
        try sink.write(pending)
        pending.removeAll(keepingCapacity: true)
    }
}
