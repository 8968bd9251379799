import DeltaTapeKernels
@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeTimeline
import DeltaTapeCodecs
import DeltaTapeContainers
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Converts a session log's audio to an audio file, streaming: memory stays flat whatever the length.
///
/// A session log is read by a ``SessionLogRecorder``:
/// the calling thread reads the file with `read(2)` into the recorder's chunks while the recorder's thread parses the
/// chunks before, so reading overlaps with parsing; the command line's `convert` converts this way too. Audio files
/// (anything libsndfile reads) and headerless PCM (``ConversionOptions/rawInput``) convert too, for plain format and
/// rate conversion.
public enum SessionConverter {
    /// Converts the session (or audio) at `input` and writes it to `destination`.
    ///
    /// Blocks the caller's thread, which reads the input, until the conversion ends; `problem` is called on the
    /// recorder's thread meanwhile (never after this returns). From async code, call
    /// ``convert(input:to:options:problem:)-(_,_,_,@Sendable(Problem)->Void)`` instead.
    ///
    /// - Parameters:
    ///   - input: A path, or `-` for standard input.
    ///   - destination: Where to write.
    ///   - options: What to write and how strictly to read.
    ///   - problem: Receives each problem as it is found (malformed lines, undecodable audio).
    /// - Returns: What was written.
    /// - Throws: ``ConversionError``: ``ConversionError/outputIsInput(input:output:)`` before anything is opened for
    ///   writing when `destination` is `input` by another name. Audio written before a failure stays in a valid file.
    public static func convert(
        input: String,
        to destination: OutputDestination,
        options: ConversionOptions = ConversionOptions(),
        problem: (Problem) -> Void = { _ in }
    ) throws(ConversionError) -> ConversionSummary {
        let started = monotonicSeconds()
        if options.track == .both, options.layout == .separate {
            if case .standardOutput = destination {
                throw .output(OutputError(path: destination.name, reason:
                    "separate files (one per track) cannot go to standard output; name a file with -o"))
            }
            for track in [AudioTrack.user, .assistant] {
                if let file = destination.destination(for: track) { try refuseOutput(file, overInput: input) }
            }
        } else {
            try refuseOutput(destination, overInput: input)
        }
        if let raw = options.rawInput {
            try refuseSessionOptions(options, input: input, kind: "headerless PCM (--input-format)")
            return try convertAudio(RawPCMSource(path: input, format: raw), to: destination, options: options, started: started)
        }
        let source: FileByteSource
        do throws(InputError) {
            source = try FileByteSource.forPath(input)
        } catch {
            throw .unreadableInput(error)
        }
        defer { source.close() }
        // One look at the input's first bytes tells a session log from an audio file.
        var prefixSource = source
        let prefix: [UInt8]
        do throws(InputError) {
            prefix = try SessionLog.readDetectionPrefix(&prefixSource)
        } catch {
            throw .unreadableInput(error)
        }
        let detected = prefix.withUnsafeBytes { InputKind.detect($0) }
        if (options.inputKind ?? detected) == .audioFile {
            guard input != "-" else {
                throw .badInput("\(source.name): looks like an audio file; audio files are read from a path, not from standard input; "
                    + "for a stream, send raw PCM with --input-format")
            }
            try refuseSessionOptions(options, input: input, kind: "an audio file")
            return try convertAudio(AudioFileSource(path: input), to: destination, options: options, started: started)
        }
        // A session log: this thread reads it, in chunks that the recorder's thread parses where they lie (reading
        // overlaps with parsing), and the recorder says what it holds, kind and problems included.
        // The recorder holds the callback only while the conversion runs.
        return try withoutActuallyEscaping(problem) { (report) throws(ConversionError) -> ConversionSummary in
            let isLive = source.isLive
            let relay = ProblemRelay(report)
            defer { relay.end() }
            let recorder = SessionLogRecorder(options: options, name: source.name,
                                              sink: destination,
                                              arrival: isLive ? .live : .stored, watermarks: Self.logWatermarks, detected: detected,
                                              problem: relay.report)
            var source = source
            var sent = prefix[...]
            do throws(ConversionError) {
                while true {
                    let count = try recorder.appendBlocking { (buffer) throws(InputError) -> Int in
                        guard sent.isEmpty else {
                            let taken = sent.prefix(buffer.count)
                            buffer.copyBytes(from: taken)
                            sent = sent.dropFirst(taken.count)
                            return taken.count
                        }
                        // A live input may pause for long: a recording that failed meanwhile (a closed output, strict
                        // reading) ends the conversion without waiting for more.
                        while isLive, !source.waitForInput(timeout: .milliseconds(250)) {
                            if recorder.hasFailed { throw InputError(name: source.name, reason: "not read further: the recording failed") }
                        }
                        return try source.read(into: buffer)
                    }
                    if count == 0 { break }
                }
            } catch {
                // The recording's own failure, or reading's: finishing tells it, with the output finalized.
            }
            var summary = try recorder.finishBlocking()
            summary.output = outputNames(destination, options).joined(separator: " and ")
            summary.elapsedSeconds = monotonicSeconds() - started
            return summary
        }
    }

    /// How far the reading thread may run ahead of the parsing: four chunks, woken again at two (reading is some
    /// times faster than parsing, so the parser never waits for it, and the chunks stay in the shared cache).
    static let logWatermarks = BufferWatermarks(low: 2 * ByteChunk.defaultCapacity, high: 4 * ByteChunk.defaultCapacity)

    /// The files a conversion writes: one, or one per track for separate files.
    private static func outputNames(_ destination: OutputDestination, _ options: ConversionOptions) -> [String] {
        guard options.track == .both, options.layout == .separate else { return [destination.name] }
        return [AudioTrack.user, .assistant].map { destination.destination(for: $0)?.name ?? destination.name }
    }

    /// Converts as ``convert(input:to:options:problem:)-(_,_,_,(Problem)->Void)`` does, on a thread of its own, so
    /// that no thread of Swift's cooperative pool blocks while the encoder catches up.
    public static func convert(
        input: String,
        to destination: OutputDestination,
        options: ConversionOptions = ConversionOptions(),
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) async throws(ConversionError) -> ConversionSummary {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ConversionSummary, ConversionError>, Never>) in
            let convert = { @Sendable in
                continuation.resume(returning: Result { () throws(ConversionError) in
                    try Self.convert(input: input, to: destination, options: options, problem: problem)
                })
            }
            // A thread of its own, not Dispatch's pool (DedicatedThread.swift says why); without one, an answer at once.
            if !startDedicatedThread(named: "deltatape-conv", convert) {
                continuation.resume(returning: .failure(.output(OutputError(path: destination.name, reason:
                    "the system would not start a thread for the conversion (errno \(errno))"))))
            }
        }
        return try result.get()
    }

    /// Throws ``ConversionError/inapplicableOption(_:)`` when `options` set what only a session log has a use for
    /// (tracks, cuts, envelopes, strict reading): an audio file or headerless PCM has one stream of samples, and an
    /// option it cannot honour is refused rather than dropped.
    private static func refuseSessionOptions(_ options: ConversionOptions, input: String, kind: String) throws(ConversionError) {
        let names = options.sessionOptionsSet
        guard let first = names.first else { return }
        let list = names.count == 1 ? first : names.dropLast().joined(separator: ", ") + " and " + (names.last ?? "")
        throw .inapplicableOption("\(input == "-" ? "stdin" : input) is \(kind), not a session log, so \(list) "
            + "(\(names.count == 1 ? "an option" : "options") of session logs) cannot apply; leave \(names.count == 1 ? "it" : "them") out "
            + "to convert its audio as it is")
    }

    /// Throws when `destination` already exists as the very file `input` names (compared by device and inode, so the
    /// spelling of the paths, symbolic links and hard links do not matter), standard input and output included.
    /// Only regular files are compared: a device such as `/dev/null` may be read and written at once.
    private static func refuseOutput(_ destination: OutputDestination, overInput input: String) throws(ConversionError) {
        var inputStatus = stat(), outputStatus = stat()
        let inputFound = input == "-" ? fstat(0, &inputStatus) == 0 : stat(input, &inputStatus) == 0
        let outputFound = switch destination {
        case .file(let path): stat(path, &outputStatus) == 0
        case .standardOutput: fstat(1, &outputStatus) == 0
        case .custom, .writer: false  // the caller's own: nothing on disk to compare
        }
        guard inputFound, outputFound, isRegularFile(inputStatus), isRegularFile(outputStatus),
              inputStatus.st_dev == outputStatus.st_dev, inputStatus.st_ino == outputStatus.st_ino else { return }
        throw .outputIsInput(input: input == "-" ? "stdin" : input, output: destination.name)
    }

    private static func isRegularFile(_ status: stat) -> Bool {
        status.st_mode & S_IFMT == S_IFREG
    }

    /// Converts frames from an audio input: an audio file or raw PCM.
    private static func convertAudio(
        _ source: some AudioFrameSource,
        to destination: OutputDestination,
        options: ConversionOptions,
        started: Double
    ) throws(ConversionError) -> ConversionSummary {
        let output = PCMOutput(options: options, channelCount: source.channelCount, makeSink: { () throws(OutputError) in try destination.makeSink(for: nil) })
        defer { output.closeQuietly() }
        if source.isLive { output.flushInterval = 0.5 }
        source.inputStall?.action = { try? output.flush() }
        var blockCount = 0
        while let block = try source.nextBlock() {
            try output.write(block, rate: source.sampleRate)
            try output.flushIfDue()
            blockCount += 1
            if let progress = options.progress, blockCount % 16 == 0 {
                // An audio file's byteCount is its size, not what libsndfile has read so far.
                progress.update(inputByteCount: source is AudioFileSource ? nil : source.byteCount, frameCount: output.writer?.frameCount ?? 0,
                                sampleRate: output.writer?.sampleRate ?? 0)
            }
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
            elapsedSeconds: monotonicSeconds() - started,
            sourceSampleRates: output.sourceRates.sorted()
        )
    }
}

/// Hands the problems found on a recorder's thread to a callback that is not `@Sendable` (the synchronous converter's),
/// while its caller waits for the conversion, and never after ``end()``: the callback is then let go.
private final class ProblemRelay: @unchecked Sendable {
    // Unchecked: `callback` is read and cleared under `lock` only.
    private let lock = Mutex(())
    private var callback: ((Problem) -> Void)?

    init(_ callback: @escaping (Problem) -> Void) {
        self.callback = callback
    }

    /// Passes `problem` on, unless the conversion has ended.
    @Sendable func report(_ problem: Problem) {
        lock.withLock { _ in callback?(problem) }
    }

    /// Lets go of the callback.
    func end() {
        lock.withLock { _ in callback = nil }
    }
}
