// The recorder's ingress is hand-written (a mutex, a semaphore and continuations) rather than an AsyncChannel or the
// multi-producer channel of swift-async-algorithms, for a design reason: its consumer is the synchronous pipeline,
// which blocks while the encoder or the sink falls behind (that is how back-pressure reaches the ingress), so it runs on
// a thread of its own, and a channel's consumer is an async iterator that would have to block a thread of the
// cooperative pool instead. The buffer between them is counted in bytes, as audio messages vary in size.
public import DeltaTapeEvents
import DeltaTapeTimeline
public import DeltaTapeContainers
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Which way a recorded message travelled.
public enum MessageDirection: String, Sendable, Hashable, CaseIterable {
    /// Sent by the client (the application) to the service.
    case sent
    /// Received by the client from the service.
    case received
}

/// Records a live session, message by message, into an audio file: for an archiver that relays a realtime session and
/// hands each WebSocket message over as it passes.
///
/// ``record(_:receivedAt:direction:)`` suspends its caller while the recording falls behind (the encoder, the sink):
/// messages wait in a buffer counted in bytes, and a caller waits only while it holds ``Watermarks/high`` bytes, until
/// it is back under ``Watermarks/low``. Reading, the timeline and writing run on a thread of the recorder's own (and
/// Opus encoding on another), so no task of Swift's cooperative pool ever blocks, and on two cores the reading of one
/// message overlaps with the encoding of the last.
///
/// ``finish()`` writes what the timeline still holds and finalizes the file. After a failure (the sink's, or a
/// problem under ``ConversionOptions/strict``) every later call throws it, and ``finish()`` still leaves a playable
/// file holding the audio recorded before it.
///
/// ```swift
/// let recorder = SessionRecorder(options: options, sink: .file("call.webm"))
/// for try await message in upstream {
///     try await downstream.send(message)        // relay first
///     try await recorder.record(message.bytes)  // suspends only while the recording falls behind
/// }
/// let summary = try await recorder.finish()
/// ```
public final class SessionRecorder: Sendable {
    /// How many bytes of messages may wait for the recording.
    public struct Watermarks: Sendable, Equatable {
        /// Under this many bytes waiting, suspended callers go on.
        public var low: Int
        /// A caller is suspended while adding its message would take the waiting bytes past this (a message larger
        /// than the whole buffer still goes in, alone).
        public var high: Int

        /// Creates watermarks; `low` is at most `high`.
        public init(low: Int = 1 << 20, high: Int = 4 << 20) {
            self.high = max(1, high)
            self.low = min(max(0, low), self.high)
        }
    }

    /// Where a recording goes.
    public enum Sink: Sendable {
        /// A file (created or replaced): the finalized forms (WAV and WebM sizes written back).
        case file(String)
        /// Standard output: the streaming forms when it is a pipe.
        case standardOutput
        /// A sink of the caller's, opened at the first audio: for example a ``PositionalByteSink`` of its own, or one
        /// that hands out parts for a multipart upload. `track` is `nil` for the one output, the track for
        /// ``ChannelLayout/separate`` files.
        case custom(@Sendable (_ track: AudioTrack?) throws(OutputError) -> any ByteSink)
        /// An async writer of the caller's (an upload stream, a network connection): it receives the bytes in order,
        /// in chunks; the recording waits while it is busy (at most `bufferedBytes` are held for it), never seeks, so
        /// the streaming forms are written.
        case writer(bufferedBytes: Int = 1 << 20, @Sendable (_ bytes: [UInt8]) async throws -> Void)
    }

    /// What the recorder has buffered and how often it held its callers back.
    public struct Statistics: Sendable, Equatable {
        /// Bytes of messages waiting for the recording now.
        public var bufferedBytes = 0
        /// The most bytes that ever waited.
        public var peakBufferedBytes = 0
        /// How many times a caller of ``record(_:receivedAt:direction:)`` was suspended.
        public var suspensions = 0
        /// Messages taken so far.
        public var messageCount = 0
    }

    /// The recording's name in problems and the summary.
    public let name: String
    /// The output's format, tracks and settings.
    public let options: ConversionOptions
    public let watermarks: Watermarks

    private let state: Mutex<State>
    /// Counts the entries waiting for the recording thread.
    private let entries = DispatchSemaphore(value: 0)

    private struct State {
        var queue: [Entry] = []
        var head = 0
        var statistics = Statistics()
        /// Callers waiting for room, with the bytes each brings.
        var waiting: [CheckedContinuation<Void, Never>] = []
        var failure: DeltaTapeError?
        var finishing = false
        /// No recording thread could be started: nothing is ever consumed.
        var threadless = false
    }

    /// What ``offer(_:receivedAt:direction:)`` did with a message.
    public enum Offer: Sendable, Equatable {
        /// The message waits for the recording.
        case accepted
        /// The recording holds ``Watermarks/high`` bytes of messages: this one was not taken.
        case full
    }

    private enum Entry {
        case message([UInt8], time: Double?, direction: MessageDirection?)
        case finish(CheckedContinuation<Result<ConversionSummary, DeltaTapeError>, Never>)

        var byteCount: Int {
            if case .message(let bytes, _, _) = self { return bytes.count }
            return 0
        }
    }

    /// Starts a recorder; nothing is written until the first audio.
    ///
    /// - Parameters:
    ///   - options: What to write: format, tracks and layout, rate, Opus settings, strictness, the message size limit.
    ///   - name: The recording's name in problems and the summary.
    ///   - sink: Where the bytes go.
    ///   - watermarks: How many bytes of messages may wait for the recording.
    ///   - sessionLog: Where to keep the messages themselves as a session log (JSON Lines in the `{"time", "source",
    ///     "event"}` envelope, `source` being `client` or `server` from each message's direction), so that the session
    ///     can be converted again later; `nil` keeps none.
    ///   - problem: Receives each problem as it is found (a malformed message, undecodable audio), on the recorder's
    ///     thread.
    public init(
        options: ConversionOptions = ConversionOptions(),
        name: String = "session",
        sink: Sink,
        watermarks: Watermarks = Watermarks(),
        sessionLog: OutputDestination? = nil,
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) {
        self.options = options
        self.name = name
        self.watermarks = watermarks
        state = Mutex(State())
        let started = startDedicatedThread { [self] in
            runRecording(makeSink: Self.opener(for: sink), sessionLog: sessionLog, problem: problem)
        }
        if !started {
            state.withLock {
                $0.failure = .output(OutputError(path: name, reason: "the system would not start a thread for the recording (errno \(errno))"))
                $0.threadless = true
            }
        }
    }

    /// What the recorder has buffered and how often it held its callers back.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Takes one message (a WebSocket text or binary frame's bytes: one JSON message), suspending while the recording
    /// holds ``Watermarks/high`` bytes of messages not yet recorded.
    ///
    /// - Parameters:
    ///   - message: The message's bytes (copied).
    ///   - receivedAt: When it arrived, in seconds since the Unix epoch: refines the timeline's placement. A time the
    ///     message carries itself (an envelope's) comes first.
    ///   - direction: Which way it travelled (the audio's track comes from the message itself).
    /// - Throws: ``DeltaTapeError``: the recording's failure, if it failed (the sink's, or a problem under strict
    ///   reading); ``DeltaTapeError/cancelled`` when the calling task is cancelled, or after ``finish()``.
    public func record(_ message: some Sequence<UInt8>, receivedAt: Double? = nil, direction: MessageDirection? = nil) async throws(DeltaTapeError) {
        let bytes = Array(message)
        while true {
            if Task.isCancelled { throw .cancelled("recording \(name): the task was cancelled; call finish() to finalize what was recorded") }
            if try admit(bytes, receivedAt: receivedAt, direction: direction) {
                entries.signal()
                return
            }
            await waitForRoom()
        }
    }

    /// Takes one text message (a WebSocket text frame).
    public func record(_ message: String, receivedAt: Double? = nil, direction: MessageDirection? = nil) async throws(DeltaTapeError) {
        try await record(message.utf8, receivedAt: receivedAt, direction: direction)
    }

    /// Takes one message if the recording has room for it, never waiting: for a caller that must not be held back (a
    /// relay forwards first and records if it can). A recording that returns ``Offer/full`` has fallen behind by
    /// ``Watermarks/high`` bytes; what to do then (drop the message, abandon the recording with ``finish()``) is the
    /// caller's choice.
    ///
    /// - Parameters: as for ``record(_:receivedAt:direction:)``.
    /// - Throws: ``DeltaTapeError``: the recording's failure, if it failed; ``DeltaTapeError/cancelled`` after
    ///   ``finish()``.
    public func offer(_ message: some Sequence<UInt8>, receivedAt: Double? = nil, direction: MessageDirection? = nil) throws(DeltaTapeError) -> Offer {
        let bytes = Array(message)
        let admitted = try admit(bytes, receivedAt: receivedAt, direction: direction)
        if admitted { entries.signal() }
        return admitted ? .accepted : .full
    }

    /// Ends the recording: the messages already taken are recorded, the audio the timeline holds is written and the
    /// file is finalized.
    ///
    /// - Returns: What was written.
    /// - Throws: ``DeltaTapeError``: the recording's failure (the file then holds the audio recorded before it), or,
    ///   when no audio arrived, ``DeltaTapeError/badInput(_:)`` saying so.
    public func finish() async throws(DeltaTapeError) -> ConversionSummary {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ConversionSummary, DeltaTapeError>, Never>) in
            let accepted = state.withLock { state in
                guard !state.finishing, !state.threadless else { return false }
                state.finishing = true
                state.queue.append(.finish(continuation))
                return true
            }
            if accepted {
                entries.signal()
            } else {
                let failure = state.withLock { $0.threadless ? $0.failure : nil }
                continuation.resume(returning: .failure(failure ?? .cancelled("recording \(name): finish() was already called")))
            }
        }
        return try result.get()
    }

    // MARK: - The caller's side

    /// Queues a message if it fits under the high watermark (or nothing waits: a message larger than the whole buffer
    /// still goes in, alone).
    private func admit(_ bytes: [UInt8], receivedAt: Double?, direction: MessageDirection?) throws(DeltaTapeError) -> Bool {
        try state.withLock { (state) throws(DeltaTapeError) -> Bool in
            if let failure = state.failure { throw failure }
            if state.finishing { throw DeltaTapeError.cancelled("recording \(name): finish() was called; no message is taken after it") }
            let waiting = state.statistics.bufferedBytes
            guard waiting == 0 || waiting + bytes.count <= watermarks.high else { return false }
            state.queue.append(.message(bytes, time: receivedAt, direction: direction))
            state.statistics.bufferedBytes += bytes.count
            state.statistics.peakBufferedBytes = max(state.statistics.peakBufferedBytes, state.statistics.bufferedBytes)
            state.statistics.messageCount += 1
            return true
        }
    }

    /// Suspends until the waiting bytes are under the low watermark (or the recording ended).
    private func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.statistics.bufferedBytes <= watermarks.low || state.failure != nil || state.finishing { return true }
                state.statistics.suspensions += 1
                state.waiting.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: - The recording thread

    private func runRecording(
        makeSink: @escaping (AudioTrack?) throws(OutputError) -> any ByteSink, sessionLog: OutputDestination?,
        problem: @escaping @Sendable (Problem) -> Void
    ) {
        let started = monotonicSeconds()
        var reader = EventReader(eventField: options.eventField)
        let pipeline = SessionPipeline(options: options, inputName: name, makeSink: makeSink, problem: problem)
        var failure: DeltaTapeError?
        var log: SessionLogWriter?
        if let sessionLog {
            do throws(OutputError) {
                log = try SessionLogWriter(sessionLog.makeSink())
            } catch {
                failure = .output(error)
                state.withLock { $0.failure = .output(error) }
            }
        }
        var messageNumber = 0
        var byteCount = 0
        while true {
            entries.wait()
            let (entry, resumed) = takeEntry()
            for waiting in resumed { waiting.resume() }
            switch entry {
            case .message(let bytes, let time, let direction):
                messageNumber += 1
                byteCount += bytes.count
                guard failure == nil else { continue }
                do throws(DeltaTapeError) {
                    let isObject = try record(bytes, time: time, number: messageNumber, reader: &reader, pipeline: pipeline)
                    do throws(OutputError) {
                        try log?.append(bytes, isJSONObject: isObject, time: time, direction: direction)
                    } catch {
                        throw .output(error)
                    }
                } catch {
                    failure = error
                    state.withLock { $0.failure = error }
                    // Callers waiting for room learn of the failure now.
                    for waiting in state.withLock({ (state) -> [CheckedContinuation<Void, Never>] in defer { state.waiting = [] }; return state.waiting }) {
                        waiting.resume()
                    }
                }
            case .finish(let continuation):
                let result = Result { () throws(DeltaTapeError) -> ConversionSummary in
                    defer { pipeline.closeQuietly() }
                    do throws(OutputError) {
                        try log?.close()
                    } catch {
                        if failure == nil { failure = .output(error) }
                    }
                    if let failure { throw failure }
                    try pipeline.finish(line: messageNumber) { _ in
                        "\(name): no audio of the \(options.track == .both ? "session" : options.track.rawValue + " track") was recorded "
                            + "(\(messageNumber) messages taken)"
                    }
                    return ConversionSummary(
                        input: name, output: pipeline.writers.map(\.path).joined(separator: " and "), format: options.format,
                        vocabulary: reader.vocabulary, sampleRate: pipeline.writer?.sampleRate ?? 0,
                        channelCount: pipeline.writer?.channelCount ?? 0, frameCount: pipeline.writer?.frameCount ?? 0,
                        inputByteCount: byteCount, problemCount: pipeline.problemCount,
                        elapsedSeconds: monotonicSeconds() - started, timeline: pipeline.timelineStatistics)
                }
                continuation.resume(returning: result)
                return
            }
        }
    }

    /// The next entry, with the callers that may go on now that it left the buffer.
    private func takeEntry() -> (Entry, [CheckedContinuation<Void, Never>]) {
        state.withLock { state in
            let entry = state.queue[state.head]
            state.head += 1
            if state.head > 1_024, state.head * 2 > state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            state.statistics.bufferedBytes -= entry.byteCount
            guard state.statistics.bufferedBytes <= watermarks.low, !state.waiting.isEmpty else { return (entry, []) }
            defer { state.waiting = [] }
            return (entry, state.waiting)
        }
    }

    /// Reads one message and puts it through the pipeline. Returns whether it was a valid JSON object.
    private func record(_ bytes: [UInt8], time: Double?, number: Int, reader: inout EventReader, pipeline: SessionPipeline) throws(DeltaTapeError) -> Bool {
        guard bytes.count <= options.maximumMessageByteCount else {
            try pipeline.note(Problem(input: name, line: number, message: "message \(number) is \(bytes.count) bytes, more than the "
                + "limit of \(options.maximumMessageByteCount); it was skipped"))
            return false
        }
        // Typed throws do not pass through withUnsafeBytes: carried out as a Result.
        return try bytes.withUnsafeBytes { message in Result { () throws(DeltaTapeError) -> Bool in
            let read: Result<Event, EventReadError>
            do throws(EventReadError) {
                read = .success(try reader.read(message))
            } catch {
                read = .failure(error)
            }
            switch read {
            case .success(var event):
                if event.time == nil { event.time = time }
                if let warning = event.warning {
                    try pipeline.note(Problem(input: name, line: number, message: "message \(number): \(warning)"))
                }
                try pipeline.take(event, line: number)
                return true
            case .failure(let error):
                try pipeline.note(Problem(input: name, line: number, message: "message \(number): \(error)"))
                return false
            }
        } }.get()
    }

    /// Opens a ``Sink`` for the pipeline (once per output file).
    private static func opener(for sink: Sink) -> (AudioTrack?) throws(OutputError) -> any ByteSink {
        switch sink {
        case .file(let path):
            return { (track) throws(OutputError) in try OutputDestination.file(path).makeSink(for: track) }
        case .standardOutput:
            return { (track) throws(OutputError) in try OutputDestination.standardOutput.makeSink(for: track) }
        case .custom(let open):
            return { (track) throws(OutputError) in try open(track) }
        case .writer(let bufferedBytes, let write):
            return { (track) throws(OutputError) in AsyncWriterSink(name: track.map { "writer (\($0.rawValue))" } ?? "writer",
                                                                     bufferedBytes: bufferedBytes, write: write) }
        }
    }
}
