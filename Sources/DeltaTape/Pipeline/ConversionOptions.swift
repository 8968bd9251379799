// What every conversion and recording is told (the options) and tells (the summary): the pipeline reads the one and
// fills the other, whichever way its input came.
public import DeltaTapeKernels
@_spi(Blocks) public import DeltaTapeEvents
public import DeltaTapeCodecs
public import DeltaTapeContainers
public import DeltaTapeTimeline

/// How a session is converted.
public struct ConversionOptions: Sendable {
    /// The container to write.
    public var format: OutputFormat = .wav
    /// Which tracks to write: the assistant's output or the user's input alone (its items joined without gaps), or both
    /// on one session clock.
    public var track: TrackSelection = .assistant
    /// How both tracks are laid out (``TrackSelection/both`` only): stereo (the default), a mono mix, or separate files.
    public var layout: ChannelLayout = .stereo
    /// Whether audio the listener did not hear (cut by a truncation or an interruption) is kept.
    public var keepsTruncated = false
    /// The sample format of PCM outputs.
    public var sampleFormat: PCMSampleFormat = .s16
    /// Whether any problem in the input stops the conversion instead of being a warning.
    public var strict = false
    /// The output's sample rate; `nil` keeps the source's (the first audio's rate; later audio at another rate
    /// is resampled to it).
    public var sampleRate: Int?
    /// The library that converts sample rates.
    public var resampler: ResamplerEngine = .soxr
    /// How hard the resampler works.
    public var quality: ResamplerQuality = .high
    /// Opus settings, for Ogg Opus outputs.
    public var opus = OpusSettings()
    /// When set, the input is headerless PCM in this format (`--input-format`, `--input-rate`, `--input-channels`),
    /// whatever its content looks like.
    public var rawInput: AudioFormat?
    /// The input's kind when it should not be detected from the content (`--input-kind`).
    public var inputKind: InputKind?
    /// The envelope field holding each event, when a logger names it other than the common spellings
    /// (`--event-field`).
    public var eventField: String?
    /// The longest message read (a JSON Lines line, a JSON array element, a HAR frame: `--max-message-bytes`); a longer one is
    /// skipped and reported.
    public var maximumMessageByteCount = SessionLog.defaultMaximumMessageByteCount
    /// The Ogg serial number or WebM track UID; random when `nil`. Fix it for byte-reproducible Opus files
    /// (the way ffmpeg's `-fflags +bitexact` does).
    public var streamIdentifier: UInt32?
    /// Where the conversion reports how far it got, for a progress display; `nil` (the default) reports nothing.
    public var progress: ConversionProgress?
    /// Whether the work's own threads (reading and encoding) run at a lower scheduling priority (SCHED_IDLE, nice +10 on Linux):
    /// for recordings inside a server, whose own work, forwarding a conversation, must come first. `deltatape relay`
    /// sets it; conversions leave it off.
    public var runsInBackground = false
    /// Whether a file output is written under a hidden temporary name beside its final one (`DIR/.NAME.EXT.partial-…`,
    /// which no `*.EXT` pattern matches), flushed to disk and renamed to its final name only once complete (separate
    /// files each once both are), so that a file under its final name is always whole and a killed conversion leaves
    /// none; a failed one removes its temporary files. No journal is kept then: a killed conversion is converted again.
    /// A link, a device or a FIFO at a final name is written in place, as without it. `deltatape convert` sets it for
    /// outputs into a folder (batches) and with `--skip-existing`; off, a file is written in place, so that a kill
    /// leaves the audio flushed so far readable and repairable (`deltatape repair`). Other destinations ignore it.
    public var publishesWhenComplete = false
    /// Command-line flags given that only a session log has a use for, by name (`--track`), beyond the options set away
    /// from their defaults: an audio file or headerless PCM refuses them too (``ConversionError/inapplicableOption(_:)``).
    /// The command line sets it, so that `--track assistant` on a FLAC file is refused as `--track user` is.
    @_spi(Blocks) public var givenSessionFlags: [String] = []

    /// The session log's options that are set (away from their defaults, or named in ``givenSessionFlags``), by their
    /// command-line names, in the order `deltatape convert --help` lists them: what an audio input refuses.
    var sessionOptionsSet: [String] {
        var names: [String] = []
        func add(_ name: String, _ isSet: Bool) {
            if isSet || givenSessionFlags.contains(name), !names.contains(name) { names.append(name) }
        }
        add("--track", track != .assistant)
        add("--layout", track == .both && layout != .stereo)
        add("--keep-truncated", keepsTruncated)
        add("--event-field", eventField != nil)
        add("--max-message-bytes", maximumMessageByteCount != SessionLog.defaultMaximumMessageByteCount)
        add("--strict", strict)
        for name in givenSessionFlags where !names.contains(name) { names.append(name) }
        return names
    }

    /// Creates options; the defaults are WAV, 16-bit, the source's rate, soxr at high quality, lenient.
    public init(
        format: OutputFormat = .wav,
        track: TrackSelection = .assistant,
        sampleFormat: PCMSampleFormat = .s16,
        sampleRate: Int? = nil,
        resampler: ResamplerEngine = .soxr,
        quality: ResamplerQuality = .high,
        opus: OpusSettings = OpusSettings(),
        rawInput: AudioFormat? = nil,
        inputKind: InputKind? = nil,
        strict: Bool = false
    ) {
        self.format = format
        self.track = track
        self.sampleFormat = sampleFormat
        self.sampleRate = sampleRate
        self.resampler = resampler
        self.quality = quality
        self.opus = opus
        self.rawInput = rawInput
        self.inputKind = inputKind
        self.strict = strict
    }
}

/// What a conversion did.
public struct ConversionSummary: Sendable {
    /// The input's name.
    public var input: String
    /// The output's name.
    public var output: String
    /// Whether the input was a session log (rather than an audio file or raw PCM).
    public var isSession: Bool = true
    /// The container written.
    public var format: OutputFormat = .wav
    /// The vocabulary the session spoke, if recognized.
    public var vocabulary: Vocabulary?
    /// Frames per second of the output.
    public var sampleRate: Int
    /// Channels of the output.
    public var channelCount: Int
    /// Frames written.
    public var frameCount: Int
    /// Bytes read from the input.
    public var inputByteCount: Int
    /// Problems found (each was reported as it was found).
    public var problemCount: Int
    /// Wall-clock seconds the conversion took.
    public var elapsedSeconds: Double
    /// What the timeline did (sessions only): the placement rule, items, cuts.
    public var timeline: TimelineStatistics?
    /// The sample rates of the audio read, in increasing order: those other than ``sampleRate`` were resampled to it
    /// (a 44.1 kHz file to Opus, at 48 kHz; Gemini's 16 kHz user track beside its 24 kHz answers).
    public var sourceSampleRates: [Int] = []

    /// Seconds of audio written.
    public var durationSeconds: Double { sampleRate > 0 ? Double(frameCount) / Double(sampleRate) : 0 }
    /// How many times faster than real time the conversion ran.
    public var realTimeFactor: Double { elapsedSeconds > 0 ? durationSeconds / elapsedSeconds : .infinity }
}
