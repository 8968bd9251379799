public import DeltaTapeCodecs

/// PCM in, Ogg Opus out: an ``OpusStreamEncoder`` feeding an ``OggOpusWriter``.
public final class OggOpusPCMWriter: PCMWriter {
    public var path: String { ogg.sink.name }
    public let sampleRate: Int
    public let channelCount: Int
    public var sampleFormat: PCMSampleFormat { .s16 }
    public var frameCount: Int { encoder.inputFrameCount }

    private let encoder: OpusStreamEncoder
    private let ogg: OggOpusWriter
    private var closed = false

    /// Starts an Ogg Opus stream on `sink`.
    ///
    /// - Parameter sampleRate: One of libopus's rates (8, 12, 16, 24 or 48 kHz); resample others first.
    /// - Throws: ``OutputError`` when the encoder refuses the settings or the headers cannot be written.
    public init(sink: any ByteSink, sampleRate: Int, channelCount: Int, settings: OpusSettings) throws(OutputError) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        do throws(OpusError) {
            encoder = try OpusStreamEncoder(sampleRate: sampleRate, channelCount: channelCount, settings: settings)
        } catch {
            throw OutputError(path: sink.name, reason: error.description, code: error.code)
        }
        ogg = try OggOpusWriter(sink: sink, channelCount: channelCount, inputSampleRate: sampleRate,
                                preSkip48k: encoder.preSkip48k, vendor: OpusStreamEncoder.libraryVersion)
    }

    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        try opusEncoding(path) { try encoder.encode(samples) { packet in try ogg.write(packet) } }
    }

    public func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        try opusEncoding(path) { try encoder.finish { packet in try ogg.write(packet) } }
        try ogg.finish(totalSamples48k: encoder.samples48k(forInputFrames: encoder.inputFrameCount), preSkip48k: encoder.preSkip48k)
        try ogg.sink.close()
    }
}
