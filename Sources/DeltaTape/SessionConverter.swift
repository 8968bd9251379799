public import DeltaTapeKernels
public import DeltaTapeEvents
import DeltaTapeTimeline
public import DeltaTapeCodecs
public import DeltaTapeContainers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The container an output is written in.
public enum OutputFormat: String, Sendable, Hashable, CaseIterable {
    /// WAV (RIFF, RF64 past 4 GiB).
    case wav
    /// Ogg Opus (RFC 7845).
    case ogg
    /// WebM with an Opus track.
    case webm

    /// The format a path's extension names, if any.
    public init?(pathExtensionOf path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "wav", "wave": self = .wav
        case "ogg", "opus", "oga": self = .ogg
        case "webm", "weba": self = .webm
        default: return nil
        }
    }
}

/// Where a conversion writes.
public enum OutputDestination: Sendable, Hashable {
    /// A file at a path (created or replaced).
    case file(String)
    /// Standard output.
    case standardOutput

    /// The name used in messages.
    public var name: String {
        switch self {
        case .file(let path): path
        case .standardOutput: "stdout"
        }
    }
}

/// How a session is converted.
public struct ConversionOptions: Sendable {
    /// The container to write.
    public var format: OutputFormat = .wav
    /// Which side of the conversation to write: the assistant's output or the user's input, each joined in order.
    public var track: AudioTrack = .assistant
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
    /// The Ogg serial number or WebM track UID; random when `nil`. Fix it for byte-reproducible Opus files
    /// (the way ffmpeg's `-fflags +bitexact` does).
    public var streamIdentifier: UInt32?

    /// Creates options; the defaults are WAV, 16-bit, the source's rate, soxr at high quality, lenient.
    public init(
        format: OutputFormat = .wav,
        track: AudioTrack = .assistant,
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

    /// Seconds of audio written.
    public var durationSeconds: Double { sampleRate > 0 ? Double(frameCount) / Double(sampleRate) : 0 }
    /// How many times faster than real time the conversion ran.
    public var realTimeFactor: Double { elapsedSeconds > 0 ? durationSeconds / elapsedSeconds : .infinity }
}

/// Converts a session log's assistant audio to an audio file, streaming: memory stays flat whatever the length.
///
/// Audio files (anything libsndfile reads) and headerless PCM (``ConversionOptions/rawInput``) convert too,
/// for plain format and rate conversion.
public enum SessionConverter {
    /// Converts the session (or audio) at `input` and writes it to `destination`.
    ///
    /// - Parameters:
    ///   - input: A path, or `-` for standard input.
    ///   - destination: Where to write.
    ///   - options: What to write and how strictly to read.
    ///   - problem: Receives each problem as it is found (malformed lines, undecodable audio).
    /// - Returns: What was written.
    /// - Throws: ``DeltaTapeError``. Audio written before a failure stays in a valid file.
    public static func convert(
        input: String,
        to destination: OutputDestination,
        options: ConversionOptions = ConversionOptions(),
        problem: (Problem) -> Void = { _ in }
    ) throws(DeltaTapeError) -> ConversionSummary {
        let started = monotonicSeconds()
        if let raw = options.rawInput {
            return try convertAudio(RawPCMSource(path: input, format: raw), to: destination, options: options, started: started)
        }
        // One look at the input's first bytes tells a session log from an audio file.
        guard case .session(let log) = try SessionLog.open(path: input, kind: options.inputKind) else {
            return try convertAudio(AudioFileSource(path: input), to: destination, options: options, started: started)
        }
        // The conversion holds the callback only while it runs.
        return try withoutActuallyEscaping(problem) { (report) throws(DeltaTapeError) -> ConversionSummary in
            let conversion = Conversion(log: log, destination: destination, options: options, report: report)
            defer { conversion.closeQuietly() }
            try conversion.run()
            try conversion.finish()
            return ConversionSummary(
                input: log.name,
                output: destination.name,
                format: options.format,
                vocabulary: log.reader.vocabulary,
                sampleRate: conversion.writer?.sampleRate ?? 0,
                channelCount: conversion.writer?.channelCount ?? 0,
                frameCount: conversion.writer?.frameCount ?? 0,
                inputByteCount: log.byteCount,
                problemCount: conversion.problemCount,
                elapsedSeconds: monotonicSeconds() - started
            )
        }
    }
}

extension SessionConverter {
    /// Converts frames from an audio input: an audio file or raw PCM.
    fileprivate static func convertAudio(
        _ source: some AudioFrameSource,
        to destination: OutputDestination,
        options: ConversionOptions,
        started: Double
    ) throws(DeltaTapeError) -> ConversionSummary {
        let output = OutputStage(destination: destination, options: options, channelCount: source.channelCount)
        defer { output.closeQuietly() }
        while let block = try source.nextBlock() {
            try output.write(block, rate: source.sampleRate)
        }
        guard let writer = output.writer else {
            throw .badInput("\(source.name): holds no audio frames")
        }
        try output.finish()
        return ConversionSummary(
            input: source.name,
            output: destination.name,
            isSession: false,
            format: options.format,
            vocabulary: nil,
            sampleRate: writer.sampleRate,
            channelCount: writer.channelCount,
            frameCount: writer.frameCount,
            inputByteCount: source.byteCount,
            problemCount: 0,
            elapsedSeconds: monotonicSeconds() - started
        )
    }
}

/// The state of one conversion: the log, the track being assembled, the writer opened at the first audio.
private final class Conversion {
    let log: SessionLog
    let options: ConversionOptions
    let report: (Problem) -> Void

    let output: OutputStage
    var payloads = PayloadDecoder()
    var track = TrackAssembler()
    var problemCount = 0
    /// Message types counted until the first audio, to say what a session without audio holds instead.
    var typeCountsBeforeAudio: [String: Int] = [:]

    init(log: SessionLog, destination: OutputDestination, options: ConversionOptions, report: @escaping (Problem) -> Void) {
        self.log = log
        self.options = options
        self.report = report
        output = OutputStage(destination: destination, options: options)
    }

    var writer: (any PCMWriter)? { output.writer }

    func run() throws(DeltaTapeError) {
        while true {
            var problems: [Problem] = []
            let next = try log.nextEvent { (found: Problem) throws(DeltaTapeError) in
                problems.append(found)
            }
            for found in problems { try note(found) }
            guard let (line, event) = next else { return }
            var tookAudio = false
            try event.forEachAudioDelta { (delta) throws(DeltaTapeError) in
                guard delta.track == options.track else { return }
                try take(delta, line: line, message: event.message)
                tookAudio = true
            }
            if !tookAudio, writer == nil { typeCountsBeforeAudio[event.typeName ?? "(no type)", default: 0] += 1 }
        }
    }

    private func take(_ delta: AudioDelta, line: Int, message: UnsafeRawBufferPointer) throws(DeltaTapeError) {
        var failure: DeltaTapeError?
        var decodeError: Base64.DecodingError?
        var silenceByteCount = 0
        payloads.decode(delta, in: message) { result in
            decodeError = result.error
            if result.error != nil { silenceByteCount = result.bytes.count }
            track.append(result.bytes, of: delta, in: message) { samples in
                do throws(DeltaTapeError) {
                    try output.write(samples, rate: delta.format.sampleRate)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        if let decodeError {
            let silence = delta.format.durationSeconds(byteCount: silenceByteCount)
            try note(Problem(input: log.name, line: line, message:
                "\(decodeError) in the audio payload; replaced by \(formatMilliseconds(silence)) of silence"))
        }
    }

    /// Reports a problem; under `strict` it becomes the failure.
    private func note(_ problem: Problem) throws(DeltaTapeError) {
        problemCount += 1
        if options.strict {
            throw .badInput("\(problem) (stopped by --strict at the first problem)")
        }
        report(problem)
    }

    func finish() throws(DeltaTapeError) {
        guard writer != nil else {
            throw .badInput(noAudioMessage())
        }
        for stream in track.streamsWithLeftoverByte {
            try note(Problem(input: log.name, line: log.lineCount, message:
                "the audio of item '\(stream.itemID)' (response '\(stream.responseID)') ends with half a sample; its last byte was dropped"))
        }
        try output.finish()
    }

    /// Closes the output on any path out of a conversion, so what was written stays readable.
    func closeQuietly() {
        output.closeQuietly()
    }

    private func noAudioMessage() -> String {
        let found = typeCountsBeforeAudio.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let listed = found.prefix(8).map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let more = found.count > 8 ? ", and \(found.count - 8) more types" : ""
        let foundInstead = log.isHARWithoutFrames ? "nothing: \(SessionLog.harWithoutFramesExplanation)"
            : found.isEmpty ? "no valid messages" : listed + more
        let lookedFor = options.track == .assistant
            ? "response.output_audio.delta (OpenAI GA), response.audio.delta (OpenAI beta), session.output_audio.delta (GPT-Live), "
                + "Gemini serverContent.modelTurn audio, Twilio outbound media and ElevenLabs audio_event"
            : "input_audio_buffer.append and conversation.item.create input_audio (OpenAI), session.input_audio.append (GPT-Live), "
                + "Gemini realtimeInput audio, Twilio inbound media and ElevenLabs user_audio_chunk"
        return "\(log.name): no \(options.track.rawValue) audio found; looked for \(lookedFor) and found \(foundInstead). "
            + "'deltatape inspect \(log.name)' explains what the session holds."
    }
}

/// `1.234 s` or `56 ms`.
func formatMilliseconds(_ seconds: Double) -> String {
    seconds >= 1 ? "\((seconds * 1000).rounded() / 1000) s" : "\(Int((seconds * 1000).rounded())) ms"
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
