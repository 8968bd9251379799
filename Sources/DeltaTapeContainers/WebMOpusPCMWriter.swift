public import DeltaTapeCodecs

/// PCM in, WebM Opus out: an ``OpusStreamEncoder`` feeding a ``WebMOpusWriter``.
public final class WebMOpusPCMWriter: PCMWriter {
    public var path: String { webm.sink.name }
    public let sampleRate: Int
    public let channelCount: Int
    public var sampleFormat: PCMSampleFormat { .s16 }
    public var frameCount: Int { encoder.inputFrameCount }

    private let encoder: OpusStreamEncoder
    private let webm: WebMOpusWriter
    private var closed = false

    /// Starts a WebM Opus stream on `sink` (finalized in place if the sink is a seekable file).
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
        webm = try WebMOpusWriter(sink: sink, channelCount: channelCount, inputSampleRate: sampleRate, preSkip48k: encoder.preSkip48k)
    }

    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        try opusEncoding(path) { try encoder.encode(samples) { packet in try webm.write(packet) } }
    }

    public func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        try opusEncoding(path) { try encoder.finish { packet in try webm.write(packet) } }
        try webm.finish(totalSamples48k: encoder.samples48k(forInputFrames: encoder.inputFrameCount))
        try webm.sink.close()
    }
}

/// Runs encoding work and reports its failures as output errors naming `path`.
func opusEncoding(_ path: String, _ work: () throws -> Void) throws(OutputError) {
    do {
        try work()
    } catch let error as OutputError {
        throw error
    } catch let error as OpusError {
        throw OutputError(path: path, reason: error.description, code: error.code)
    } catch {
        throw OutputError(path: path, reason: "\(error)")
    }
}
