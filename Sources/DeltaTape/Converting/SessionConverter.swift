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
        return try publishingWhenComplete(destination, options: options) { (destination) throws(ConversionError) in
            try convert(input: input, inPlace: destination, options: options, started: started, problem: problem)
        }
    }

    /// Converts as ``convert(input:to:options:problem:)-(_,_,_,(Problem)->Void)`` does, writing `destination` itself
    /// (a temporary name when the output is published complete), which was checked against the input already.
    private static func convert(
        input: String, inPlace destination: OutputDestination, options: ConversionOptions, started: Double, problem: (Problem) -> Void
    ) throws(ConversionError) -> ConversionSummary {
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
        let (prefix, detected) = try detectionPrefix(&prefixSource)
        if (options.inputKind ?? detected) == .audioFile {
            guard input != "-" else {
                throw .badInput("\(source.name): looks like an audio file; audio files are read from a path, not from standard input; "
                    + "for a stream, send raw PCM with --input-format")
            }
            try refuseSessionOptions(options, input: input, kind: "an audio file")
            return try convertAudio(AudioFileSource(path: input), to: destination, options: options, started: started)
        }
        // A live input to one file keeps a journal of what it reads, so that a kill loses nothing received.
        var journal: InputJournal?
        if source.isLive, case .file(let path) = destination, options.track != .both || options.layout != .separate, !options.publishesWhenComplete {
            do throws(OutputError) {
                journal = try InputJournal.create(forOutput: path, options: options)
            } catch {
                problem(Problem(input: source.name, line: 0, message: "\(error.description); converting without it: a kill loses "
                    + "the audio not yet on disk"))
            }
        }
        prefix.withUnsafeBytes { journal?.append($0) }
        return try convertSessionLog(source, prefix: prefix, detected: detected, to: destination, options: options, journal: journal,
                                     started: started, waitForInput: source.waitForInput(timeout:), problem: problem)
    }

    /// Converts the session log an input the caller opened holds (an object in storage, read by `DeltaTapeStorage`):
    /// as ``convert(input:to:options:problem:)-(_,_,_,(Problem)->Void)`` does a file's, this thread reading it. The
    /// source is closed at the end. An audio file or headerless PCM is refused: libsndfile reads those by path.
    ///
    /// - Throws: ``ConversionError``; ``ConversionError/badInput(_:)`` for an audio file.
    package static func convert(
        _ source: some SessionLogSource, to destination: OutputDestination, options: ConversionOptions = ConversionOptions(),
        problem: (Problem) -> Void = { _ in }
    ) throws(ConversionError) -> ConversionSummary {
        let started = monotonicSeconds()
        var source = source
        defer { source.close() }
        if options.rawInput != nil {
            throw .inapplicableOption("\(source.name): headerless PCM (--input-format) is read from a local file or standard input only; "
                + "download the object and convert the local copy")
        }
        let (prefix, detected) = try detectionPrefix(&source)
        if (options.inputKind ?? detected) == .audioFile {
            throw .badInput("\(source.name): looks like an audio file; audio files are not read from object storage yet, only session "
                + "logs; download it and convert the local copy")
        }
        return try publishingWhenComplete(destination, options: options) { (destination) throws(ConversionError) in
            try convertSessionLog(source, prefix: prefix, detected: detected, to: destination, options: options, journal: nil,
                                  started: started, waitForInput: nil, problem: problem)
        }
    }

    /// Runs `convert` towards `destination`, or, when ``ConversionOptions/publishesWhenComplete`` asks it of a file,
    /// towards hidden temporary names beside the final ones (`DIR/.NAME.EXT.partial-RANDOM`; separate files
    /// `.NAME.EXT.user.partial-RANDOM` and `.NAME.EXT.assistant.partial-RANDOM`), each flushed to disk (`fsync`) and
    /// renamed to its final name once the conversion has ended well: a file under its final name is whole. A failed
    /// conversion, or a rename refused, removes the temporary files (and any already renamed stays: it is whole).
    /// Where something other than a regular file stands at a final name (a link, a device), the output is written
    /// there in place.
    private static func publishingWhenComplete(
        _ destination: OutputDestination, options: ConversionOptions,
        _ convert: (OutputDestination) throws(ConversionError) -> ConversionSummary
    ) throws(ConversionError) -> ConversionSummary {
        guard options.publishesWhenComplete, case .file(let path) = destination else { return try convert(destination) }
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let random = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let temporary = OutputDestination.file(path[..<slash] + "." + path[slash...] + ".partial-" + random)
        let files = Array(zip(outputNames(temporary, options), outputNames(destination, options)))
        // Only a regular file is replaced by a rename: a link is written through, and a device or a FIFO (`/dev/null`)
        // written to, in place, as without this option.
        guard files.allSatisfy({ isAbsentOrRegular($0.1) }) else { return try convert(destination) }
        var summary: ConversionSummary
        do throws(ConversionError) {
            summary = try convert(temporary)
        } catch {
            for (written, _) in files { unlink(written) }
            guard case .output(var failure) = error, let final = files.first(where: { $0.0 == failure.path })?.1 else { throw error }
            // Named as the user knows the file; the temporary name is said in passing.
            failure.reason += " (while written as \(failure.path))"
            failure.path = final
            throw .output(failure)
        }
        for (index, (written, final)) in files.enumerated() {
            if let failure = publish(written, as: final) {
                for (left, _) in files[index...] { unlink(left) }
                throw .output(failure)
            }
        }
        summary.output = files.map(\.1).joined(separator: " and ")
        return summary
    }

    /// Whether nothing is at `path`, or a regular file (not a link to one).
    private static func isAbsentOrRegular(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) != 0 ? errno == ENOENT : status.st_mode & S_IFMT == S_IFREG
    }

    /// Flushes the finished file `written` to disk, gives it the permissions of a file at `final` (a conversion run
    /// again), renames it to `final`, and flushes the folder's entry; returns why it could not, naming `final`, or
    /// `nil`. A file never made (no audio came for it) is left absent.
    private static func publish(_ written: String, as final: String) -> OutputError? {
        func failure(_ doing: String) -> OutputError {
            let code = errno
            return OutputError(path: final, reason: "the finished file \(written) \(doing): \(SystemCall.errorMessage(code))", code: code)
        }
        var status = stat()
        guard lstat(written, &status) == 0 else { return nil }
        let descriptor = open(written, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return failure("cannot be opened to flush it to disk") }
        defer { _ = SystemCall.close(descriptor) }
        guard fsync(descriptor) == 0 else { return failure("cannot be flushed to disk") }
        if stat(final, &status) == 0, status.st_mode & S_IFMT == S_IFREG { _ = fchmod(descriptor, status.st_mode & 0o7777) }
        guard rename(written, final) == 0 else { return failure("cannot take its final name") }
        let slash = final.lastIndex(of: "/")
        let folder = open(slash.map { String(final[...$0]) } ?? ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            _ = fsync(folder)
            _ = SystemCall.close(folder)
        }
        return nil
    }

    /// The input's first bytes and the kind they show (`nil`: no known kind).
    private static func detectionPrefix(_ source: inout some SessionLogSource) throws(ConversionError) -> (prefix: [UInt8], detected: InputKind?) {
        do throws(InputError) {
            let prefix = try SessionLog.readDetectionPrefix(&source)
            return (prefix, prefix.withUnsafeBytes { InputKind.detect($0) })
        } catch {
            throw .unreadableInput(error)
        }
    }

    /// Converts as ``convert(_:to:options:problem:)`` does, on a thread of its own, so that no thread of Swift's
    /// cooperative pool blocks while the input's bytes come.
    package static func convert<Source: SessionLogSource & Sendable>(
        _ source: Source, to destination: OutputDestination, options: ConversionOptions = ConversionOptions(),
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) async throws(ConversionError) -> ConversionSummary {
        try await onThreadOfItsOwn(destination) { () throws(ConversionError) in
            try Self.convert(source, to: destination, options: options, problem: problem)
        }
    }

    /// Converts the session log `source` holds, whose first bytes (`prefix`) were read already: this thread reads it,
    /// in chunks that the recorder's thread parses where they lie (reading overlaps with parsing), and the recorder
    /// says what it holds, kind and problems included. What is read goes to `journal` too; it is removed once the
    /// output is whole, kept when writing the output failed.
    ///
    /// `waitForInput` waits at most the time given for a live input's next bytes (`false`: none came); `nil` for an
    /// input that is never live.
    private static func convertSessionLog(
        _ source: some SessionLogSource, prefix: [UInt8], detected: InputKind?, to destination: OutputDestination, options: ConversionOptions,
        journal: InputJournal?, started: Double, waitForInput: ((Duration) -> Bool)?, problem: (Problem) -> Void
    ) throws(ConversionError) -> ConversionSummary {
        // The recorder holds the callback only while the conversion runs.
        try withoutActuallyEscaping(problem) { (report) throws(ConversionError) -> ConversionSummary in
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
                        while isLive, let waitForInput, !waitForInput(.milliseconds(250)) {
                            if recorder.hasFailed { throw InputError(name: source.name, reason: "not read further: the recording failed") }
                        }
                        let count = try source.read(into: buffer)
                        journal?.append(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                        return count
                    }
                    if count == 0 { break }
                }
            } catch {
                // The recording's own failure, or reading's: finishing tells it, with the output finalized.
            }
            let finished = Result { () throws(ConversionError) in try recorder.finishBlocking() }
            if let journal {
                // A failed output keeps the journal (repair rebuilds the file from it); the rest end with the output whole,
                // or with an input a second conversion would refuse the same way.
                if case .failure(.output) = finished, journal.failure == nil { journal.keep() } else { journal.discard() }
                if let failure = journal.failure { report(Problem(input: source.name, line: 0, message: failure.description)) }
            }
            var summary = try finished.get()
            summary.output = outputNames(destination, options).joined(separator: " and ")
            summary.elapsedSeconds = monotonicSeconds() - started
            return summary
        }
    }

    /// Where a live conversion to `output` keeps its input's journal while it runs (see ``rebuild(fromJournalOf:problem:)``).
    public static func journalPath(forOutput output: String) -> String { InputJournal.path(forOutput: output) }

    /// Converts the journal of the output at `output` again, to its end, and puts the result in the output's place:
    /// the recording as the conversion would have finished it, had its input ended where the kill came. The journal is
    /// removed once the output is whole.
    ///
    /// - Returns: What was written; `nil` when `output` has no journal.
    /// - Throws: ``ConversionError``: ``ConversionError/badInput(_:)`` when the journal's header is not one this version
    ///   reads; what converting it throws (the output is then left as it was).
    public static func rebuild(fromJournalOf output: String, problem: (Problem) -> Void = { _ in }) throws(ConversionError) -> ConversionSummary? {
        let path = InputJournal.path(forOutput: output)
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        let started = monotonicSeconds()
        var source: FileByteSource
        do throws(InputError) {
            source = try FileByteSource.forPath(path)
        } catch {
            throw .unreadableInput(error)
        }
        defer { source.close() }
        // The header line, then the input as it was read: at most 64 KiB of header.
        var header: [UInt8] = []
        var rest: [UInt8] = []
        do throws(InputError) {
            var chunk = [UInt8](repeating: 0, count: 4_096)
            while rest.isEmpty, header.count < 65_536 {
                let count = try chunk.withUnsafeMutableBytes { buffer in Result { () throws(InputError) in try source.read(into: buffer) } }.get()
                guard count > 0 else { break }
                if let newline = chunk[..<count].firstIndex(of: 0x0A) {
                    header += chunk[..<newline]
                    rest = Array(chunk[(newline + 1)..<count])
                    break
                }
                header += chunk[..<count]
            }
            // Topped up with a detection prefix, as a conversion reads one.
            rest += try SessionLog.readDetectionPrefix(&source)
        } catch {
            throw .unreadableInput(error)
        }
        guard var options = InputJournal.decode(String(decoding: header, as: UTF8.self)) else {
            throw .badInput("\(path): not a journal this version of deltatape reads (its first line names the conversion's options); "
                + "convert it by hand: tail -n +2 \(path) | deltatape convert - -o \(output)")
        }
        guard !rest.isEmpty else {
            throw .badInput("\(path): the journal holds no input: the conversion was killed before anything arrived; remove it")
        }
        // A conversion or recording still running holds its journal's lock (and its output's): the journal is not a
        // killed one's.
        for held in [path, output] {
            let locked = open(held, O_RDONLY | O_CLOEXEC)
            guard locked >= 0 else { continue }
            defer { _ = SystemCall.close(locked) }
            guard flock(locked, LOCK_EX | LOCK_NB) == 0 else {
                throw .output(OutputError(path: output, reason: "a conversion is still writing this file (it holds its journal's lock); "
                    + "the journal is removed when it ends, and repair is for one that was killed", code: errno))
            }
        }
        options.progress = nil
        let rebuilt = output + ".rebuilding"
        unlink(rebuilt)
        let detected = rest.withUnsafeBytes { InputKind.detect($0) }
        var summary = try convertSessionLog(source, prefix: rest, detected: detected, to: .file(rebuilt), options: options, journal: nil,
                                            started: started, waitForInput: source.waitForInput(timeout:), problem: problem)
        guard rename(rebuilt, output) == 0 else {
            let code = errno
            unlink(rebuilt)
            throw .output(OutputError(path: output, reason: "the rebuilt recording could not take the file's place: \(SystemCall.errorMessage(code))",
                                      code: code))
        }
        unlink(path)
        summary.output = output
        return summary
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
        try await onThreadOfItsOwn(destination) { () throws(ConversionError) in
            try Self.convert(input: input, to: destination, options: options, problem: problem)
        }
    }

    /// Runs a conversion on a thread of its own, not Dispatch's pool (DedicatedThread.swift says why), and returns its
    /// result; without a thread, a failure at once.
    private static func onThreadOfItsOwn(
        _ destination: OutputDestination, _ convert: @escaping @Sendable () throws(ConversionError) -> ConversionSummary
    ) async throws(ConversionError) -> ConversionSummary {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ConversionSummary, ConversionError>, Never>) in
            let run = { @Sendable in
                continuation.resume(returning: Result { () throws(ConversionError) in try convert() })
            }
            if !startDedicatedThread(named: "deltatape-conv", run) {
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
