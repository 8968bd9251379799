package import DeltaTapeCodecs

/// The container an output is written in.
public enum OutputFormat: String, Sendable, Hashable, CaseIterable {
    /// WAV (RIFF, RF64 past 4 GiB).
    case wav
    /// Ogg Opus (RFC 7845).
    case ogg
    /// WebM with an Opus track.
    case webm

    /// The format a path's extension names, if any.
    package init?(pathExtensionOf path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "wav", "wave": self = .wav
        case "ogg", "opus", "oga": self = .ogg
        case "webm", "weba": self = .webm
        default: return nil
        }
    }
}

extension OutputFormat {
    /// Opens a writer of this format on `sink`.
    ///
    /// Opus formats encode 8, 12, 16, 24 and 48 kHz as they are; the caller resamples any other rate to
    /// ``writtenSampleRate(for:)`` first.
    ///
    /// - Parameters:
    ///   - sink: Where the bytes go; seekable sinks get finalized forms.
    ///   - sampleRate: Frames per second of the samples that will be written.
    ///   - channelCount: Interleaved channels per frame.
    ///   - sampleFormat: The sample format of WAV outputs (Opus encodes 16-bit samples).
    ///   - opus: Encoder settings of Opus outputs.
    ///   - streamIdentifier: The Ogg serial number or WebM track UID; random when `nil`.
    /// - Throws: ``OutputError`` when the writer cannot start (a rate or channel count the format cannot hold, an
    ///   encoder that refuses its settings, a sink that fails).
    package func makeWriter(
        on sink: any ByteSink,
        sampleRate: Int,
        channelCount: Int,
        sampleFormat: PCMSampleFormat = .s16,
        opus: OpusSettings = OpusSettings(),
        streamIdentifier: UInt32? = nil
    ) throws(OutputError) -> any PCMWriter {
        switch self {
        case .wav:
            return try WAVWriter(sink: sink, sampleRate: sampleRate, channelCount: channelCount, sampleFormat: sampleFormat)
        case .ogg, .webm:
            return try OpusPCMWriter(self == .ogg ? .ogg : .webm, sink: sink, sampleRate: sampleRate, channelCount: channelCount,
                                     settings: opus, streamIdentifier: streamIdentifier)
        }
    }

    /// The rate samples at `sampleRate` are written at in this format: Opus takes 8, 12, 16, 24 and 48 kHz as they
    /// are and any other rate resampled to 48 kHz; WAV takes every rate.
    package func writtenSampleRate(for sampleRate: Int) -> Int {
        switch self {
        case .wav: sampleRate
        case .ogg, .webm: OpusSettings.nativeSampleRates.contains(sampleRate) ? sampleRate : 48_000
        }
    }
}
