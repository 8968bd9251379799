/// How samples are encoded in a payload's bytes.
public enum SampleEncoding: String, Sendable, Hashable, CaseIterable {
    /// 16-bit signed little-endian PCM.
    case pcm16
    /// G.711 mu-law, one byte per sample.
    case mulaw
    /// G.711 A-law, one byte per sample.
    case alaw

    /// Bytes one sample takes in a payload.
    package var bytesPerSample: Int {
        switch self {
        case .pcm16: 2
        case .mulaw, .alaw: 1
        }
    }

    /// The byte that encodes a zero sample (G.711 encodes silence as 0xFF in mu-law and 0xD5 in A-law).
    @usableFromInline package var silenceByte: UInt8 {
        switch self {
        case .pcm16: 0x00
        case .mulaw: 0xFF
        case .alaw: 0xD5
        }
    }
}

/// The format of an audio payload: encoding, sample rate and channel count.
public struct AudioFormat: Sendable, Hashable, CustomStringConvertible {
    /// How samples are encoded.
    public var encoding: SampleEncoding
    /// Frames per second.
    public var sampleRate: Int
    /// Interleaved channels per frame.
    public var channelCount: Int

    /// Creates a format.
    public init(encoding: SampleEncoding, sampleRate: Int, channelCount: Int = 1) {
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channelCount = channelCount
    }

    /// Sample rates a session may name for its audio; anything outside is a mistake in the data, not a rate.
    package static let acceptedRates = 1_000...384_000

    /// OpenAI Realtime's PCM16: 24 kHz mono little-endian.
    package static let openAIPCM16 = AudioFormat(encoding: .pcm16, sampleRate: 24_000)
    /// G.711 mu-law at 8 kHz, as telephony sends it.
    package static let mulaw8k = AudioFormat(encoding: .mulaw, sampleRate: 8_000)
    /// G.711 A-law at 8 kHz.
    package static let alaw8k = AudioFormat(encoding: .alaw, sampleRate: 8_000)

    /// Bytes one frame takes in a payload.
    package var bytesPerFrame: Int { encoding.bytesPerSample * channelCount }

    /// Duration in seconds of `byteCount` payload bytes.
    package func durationSeconds(byteCount: Int) -> Double {
        Double(byteCount / bytesPerFrame) / Double(sampleRate)
    }

    /// The format in words: `PCM16 24000 Hz mono`.
    public var description: String {
        let name = switch encoding {
        case .pcm16: "PCM16"
        case .mulaw: "G.711 mu-law"
        case .alaw: "G.711 A-law"
        }
        let channels = channelCount == 1 ? "mono" : channelCount == 2 ? "stereo" : "\(channelCount) channels"
        return "\(name) \(sampleRate) Hz \(channels)"
    }
}
