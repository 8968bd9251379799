import DeltaTapeKernels
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

    /// The format a path's extension names, if any.
    public init?(pathExtensionOf path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "wav", "wave": self = .wav
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

    /// Creates options; the defaults are WAV, 16-bit, the source's rate, soxr at high quality, lenient.
    public init(
        format: OutputFormat = .wav,
        sampleFormat: PCMSampleFormat = .s16,
        sampleRate: Int? = nil,
        resampler: ResamplerEngine = .soxr,
        quality: ResamplerQuality = .high,
        strict: Bool = false
    ) {
        self.format = format
        self.sampleFormat = sampleFormat
        self.sampleRate = sampleRate
        self.resampler = resampler
        self.quality = quality
        self.strict = strict
    }
}

/// What a conversion did.
public struct ConversionSummary: Sendable {
    /// The input's name.
    public var input: String
    /// The output's name.
    public var output: String
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
public enum SessionConverter {
    /// Converts the session at `input` and writes it to `destination`.
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
        let log = try SessionLog(path: input)
        // The conversion holds the callback only while it runs.
        return try withoutActuallyEscaping(problem) { (report) throws(DeltaTapeError) -> ConversionSummary in
            let conversion = Conversion(log: log, destination: destination, options: options, report: report)
            defer { conversion.closeQuietly() }
            try conversion.run()
            try conversion.finish()
            return ConversionSummary(
                input: log.name,
                output: destination.name,
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

/// The state of one conversion: the log, the track being assembled, the writer opened at the first audio.
private final class Conversion {
    let log: SessionLog
    let destination: OutputDestination
    let options: ConversionOptions
    let report: (Problem) -> Void

    var writer: (any PCMWriter)?
    var payloads = PayloadDecoder()
    var assistant = TrackAssembler()
    var problemCount = 0
    /// Resamples the current input rate to the output's, when they differ.
    var resamplingStage: PCMResampler?
    /// The sample rate of the audio taken last.
    var currentInputRate: Int?
    /// Message types counted until the first audio, to say what a session without audio holds instead.
    var typeCountsBeforeAudio: [String: Int] = [:]

    init(log: SessionLog, destination: OutputDestination, options: ConversionOptions, report: @escaping (Problem) -> Void) {
        self.log = log
        self.destination = destination
        self.options = options
        self.report = report
    }

    func run() throws(DeltaTapeError) {
        while true {
            var problems: [Problem] = []
            let next = try log.nextEvent { (found: Problem) throws(DeltaTapeError) in
                problems.append(found)
            }
            for found in problems { try note(found) }
            guard let (line, event) = next else { return }
            guard case .audio(let delta) = event.content, delta.track == .assistant else {
                if writer == nil { typeCountsBeforeAudio[event.typeName ?? "(no type)", default: 0] += 1 }
                continue
            }
            try take(delta, line: line, message: event.message)
        }
    }

    private func take(_ delta: AudioDelta, line: Int, message: UnsafeRawBufferPointer) throws(DeltaTapeError) {
        let writer = try writerOpened(sampleRate: options.sampleRate ?? delta.format.sampleRate)
        if delta.format.sampleRate != currentInputRate {
            try switchInputRate(to: delta.format.sampleRate, writer: writer)
        }
        var failure: DeltaTapeError?
        var decodeError: Base64.DecodingError?
        var silenceByteCount = 0
        payloads.decode(delta, in: message) { result in
            decodeError = result.error
            if result.error != nil { silenceByteCount = result.bytes.count }
            assistant.append(result.bytes, of: delta, in: message) { samples in
                do throws(DeltaTapeError) {
                    try write(samples, to: writer)
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

    /// Writes samples at the current input rate, through the resampling stage when there is one.
    private func write(_ samples: UnsafeBufferPointer<Int16>, to writer: any PCMWriter) throws(DeltaTapeError) {
        guard let stage = resamplingStage else {
            do throws(OutputError) { try writer.write(samples) } catch { throw DeltaTapeError(error) }
            return
        }
        try resampling { try stage.process(samples) { try writer.write($0) } }
    }

    /// Ends the resampling of the previous input rate (its tail is written) and starts the new one's.
    private func switchInputRate(to rate: Int, writer: any PCMWriter) throws(DeltaTapeError) {
        try finishResampling(into: writer)
        currentInputRate = rate
        guard rate != writer.sampleRate else { return }
        do throws(ResamplerError) {
            resamplingStage = try PCMResampler(engine: options.resampler, quality: options.quality, inputRate: rate, outputRate: writer.sampleRate)
        } catch {
            throw .usage("cannot resample \(rate) Hz to \(writer.sampleRate) Hz: \(error)")
        }
    }

    private func finishResampling(into writer: any PCMWriter) throws(DeltaTapeError) {
        guard let stage = resamplingStage else { return }
        resamplingStage = nil
        try resampling { try stage.finish { try writer.write($0) } }
    }

    /// Runs resampling work, sorting its failures: a write failure is I/O, a library failure is reported as such.
    private func resampling(_ work: () throws -> Void) throws(DeltaTapeError) {
        do {
            try work()
        } catch let error as OutputError {
            throw DeltaTapeError(error)
        } catch {
            throw .io("resampling failed: \(error)")
        }
    }

    private func writerOpened(sampleRate: Int) throws(DeltaTapeError) -> any PCMWriter {
        if let writer { return writer }
        let opened: any PCMWriter
        do throws(OutputError) {
            switch destination {
            case .file(let path):
                opened = try WAVFileWriter(path: path, sampleRate: sampleRate, sampleFormat: options.sampleFormat)
            case .standardOutput:
                opened = try StreamingWAVWriter(descriptor: 1, name: "stdout", sampleRate: sampleRate, sampleFormat: options.sampleFormat)
            }
        } catch {
            throw DeltaTapeError(error)
        }
        writer = opened
        return opened
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
        guard let writer else {
            throw .badInput(noAudioMessage())
        }
        for stream in assistant.streamsWithLeftoverByte {
            try note(Problem(input: log.name, line: log.lineCount, message:
                "the audio of item '\(stream.itemID)' (response '\(stream.responseID)') ends with half a sample; its last byte was dropped"))
        }
        try finishResampling(into: writer)
        do throws(OutputError) {
            try writer.close()
        } catch {
            throw DeltaTapeError(error)
        }
    }

    /// Closes the output on any path out of a conversion, so what was written stays readable.
    func closeQuietly() {
        try? writer?.close()
    }

    private func noAudioMessage() -> String {
        let found = typeCountsBeforeAudio.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let listed = found.prefix(8).map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let more = found.count > 8 ? ", and \(found.count - 8) more types" : ""
        let foundInstead = found.isEmpty ? "no valid messages" : listed + more
        return "\(log.name): no assistant audio found; looked for response.output_audio.delta (OpenAI GA) and "
            + "response.audio.delta (OpenAI beta) and found \(foundInstead). "
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
