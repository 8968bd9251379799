@_spi(Blocks) package import DeltaTapeCodecs

/// A container that takes Opus packets: ``OggOpusWriter`` or ``WebMOpusWriter``.
package protocol OpusPacketContainer: AnyObject {
    /// Where the container's bytes go.
    var sink: any ByteSink { get }
    /// Samples at 48 kHz, past the pre-skip, that a reader decodes from the bytes the sink accepted.
    var deliveredFrameCount48k: Int { get }
    /// Adds one packet.
    func write(_ packet: OpusPacket) throws(OutputError)
    /// Writes what it holds now (a page, a cluster); the stream goes on.
    func flush() throws(OutputError)
    /// Ends the stream (the last packet, marked by its ``OpusPacket/streamLength48k``, has trimmed the padding).
    func finish() throws(OutputError)
}

extension OggOpusWriter: OpusPacketContainer {}

extension WebMOpusWriter: OpusPacketContainer {}

/// The Opus container an ``OpusPCMWriter`` writes.
package enum OpusContainer: Sendable {
    /// Ogg Opus (RFC 7845).
    case ogg
    /// WebM: finalized in place on a seekable sink, the live form otherwise.
    case webm
}

/// PCM in, Opus in Ogg or WebM out: an ``OpusStreamEncoder`` feeding a container.
package final class OpusPCMWriter: PCMWriter {
    package var path: String { container.sink.name }
    package let sampleRate: Int
    package let channelCount: Int
    package var sampleFormat: PCMSampleFormat { .s16 }
    package var frameCount: Int { encoder.inputFrameCount }
    /// The container's delivered samples (whole Ogg pages, whole WebM blocks) at this writer's rate, rounded down:
    /// exact at 8 to 48 kHz whenever they end on an Opus frame.
    package var deliveredFrameCount: Int { container.deliveredFrameCount48k * sampleRate / 48_000 }

    private let encoder: OpusStreamEncoder
    private let container: any OpusPacketContainer
    private var closed = false

    /// Starts an Opus stream in `container` form on `sink`.
    ///
    /// - Parameters:
    ///   - sampleRate: One of libopus's rates (8, 12, 16, 24 or 48 kHz); resample others first.
    ///   - streamIdentifier: The Ogg serial number or WebM track UID; random when `nil`. Fix it for
    ///     byte-reproducible files (the way ffmpeg's `-fflags +bitexact` does).
    /// - Throws: ``OutputError`` when the encoder refuses the settings or the headers cannot be written.
    package init(
        _ form: OpusContainer, sink: any ByteSink, sampleRate: Int, channelCount: Int, settings: OpusSettings,
        streamIdentifier: UInt32? = nil
    ) throws(OutputError) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        do throws(OpusError) {
            encoder = try OpusStreamEncoder(sampleRate: sampleRate, channelCount: channelCount, settings: settings)
        } catch {
            throw OutputError(path: sink.name, reason: error.description, code: error.code)
        }
        switch form {
        case .ogg:
            container = try OggOpusWriter(sink: sink, channelCount: channelCount, inputSampleRate: sampleRate,
                                          preSkip48k: encoder.preSkip48k, vendor: OpusStreamEncoder.libraryVersion,
                                          serialNumber: Int32(bitPattern: streamIdentifier ?? .random(in: .min ... .max)))
        case .webm:
            container = try WebMOpusWriter(sink: sink, channelCount: channelCount, inputSampleRate: sampleRate, preSkip48k: encoder.preSkip48k,
                                           trackUID: streamIdentifier.map(UInt64.init) ?? .random(in: 1 ... .max))
        }
    }

    /// Encodes samples and writes the packets they complete.
    ///
    /// - Throws: ``OutputError`` when the encoder or the sink fails; a failure of the sink says how much audio reached
    ///   it (``deliveredFrameCount``).
    package func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        do throws(StageFailure<OpusError, OutputError>) {
            try encoder.encode(samples) { (packet) throws(OutputError) in try container.write(packet) }
        } catch {
            throw outputError(error)
        }
    }

    /// Writes the packets encoded so far (whole frames; a partial frame waits for more samples).
    ///
    /// - Throws: ``OutputError`` when the sink fails, saying how much audio reached it.
    package func flush() throws(OutputError) {
        do {
            try container.flush()
        } catch {
            throw error.delivered(by: self, sink: container.sink)
        }
    }

    /// Encodes the last samples, ends the stream and closes the sink (also after a failure).
    ///
    /// - Throws: ``OutputError`` when the encoder, the sink or closing it fails; a failure of the sink says how much
    ///   audio reached it.
    package func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        do throws(OutputError) {
            do throws(StageFailure<OpusError, OutputError>) {
                try encoder.finish { (packet) throws(OutputError) in try container.write(packet) }
            } catch {
                throw outputError(error)
            }
            do {
                try container.finish()
            } catch {
                throw error.delivered(by: self, sink: container.sink)
            }
        } catch {
            try? container.sink.close()
            throw error
        }
        try container.sink.close()
    }

    /// An encoder failure as an output error naming the output; a container's own failure (its sink's) with the audio
    /// that reached the sink.
    private func outputError(_ failure: StageFailure<OpusError, OutputError>) -> OutputError {
        switch failure {
        case .own(let error): OutputError(path: path, reason: error.description, code: error.code)
        case .downstream(let error): error.delivered(by: self, sink: container.sink)
        }
    }
}
