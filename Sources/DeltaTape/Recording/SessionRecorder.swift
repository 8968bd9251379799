// The recorder's ingress is hand-written (a mutex, a semaphore and continuations) rather than an AsyncChannel or the
// multi-producer channel of swift-async-algorithms, for a design reason: its consumer is the synchronous pipeline,
// which blocks while the encoder or the sink falls behind (that is how back-pressure reaches the ingress), so it runs on
// a thread of its own, and a channel's consumer is an async iterator that would have to block a thread of the
// cooperative pool instead. The buffer between them is counted in bytes, as audio messages vary in size. A recorder
// reading a session log's bytes (the command line's `convert`) uses the same buffer for chunks of the log, and its
// thread runs the session-log reader over them where they lie (``ByteChunk``): reading the file overlaps with parsing.
public import DeltaTapeEvents
import DeltaTapeKernels
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
/// A recorder made with ``init(options:name:sink:readingLog:watermarks:problem:)`` takes a session log's bytes instead
/// of messages (JSON Lines, a JSON array or a HAR, read as ``SessionConverter`` reads a file: the same line numbers,
/// HAR frame labels and cut-off last lines), in chunks of any size through ``appendLog(_:)``, or from a thread of the
/// caller's through ``appendLogBlocking(filling:)`` and ``finishBlocking()``. The command line's `convert` reads its
/// input that way: the file's reading on one thread overlaps with the parsing on the recorder's.
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
        /// Messages taken so far (for a recorder reading a session log: chunks of it).
        public var messageCount = 0
    }

    /// How the bytes of a session log given to a recorder (``init(options:name:sink:readingLog:watermarks:problem:)``)
    /// arrive, which decides when the output is flushed.
    public enum LogArrival: Sendable, Equatable {
        /// All there already (a file): the output is written as the writers' blocks fill, so it is the same bytes
        /// however fast the machine is.
        case stored
        /// Over time (a pipe from a live session): what was written goes to the sink every half second while bytes
        /// flow, and whenever they stall for a quarter second everything received is written, the audio the timeline
        /// still holds included, so that a process killed between two turns leaves all it had received.
        case live
    }

    /// The recording's name in problems and the summary.
    public let name: String
    /// The output's format, tracks and settings.
    public let options: ConversionOptions
    /// How many bytes may wait for the recording.
    public let watermarks: Watermarks
    /// How a session log's bytes arrive, for a recorder that reads one; `nil` for a recorder of messages.
    public let logArrival: LogArrival?

    private let state: Mutex<State>
    /// Counts the entries waiting for the recording thread.
    private let entries = DispatchSemaphore(value: 0)

    private struct State {
        var queue: [Entry] = []
        var head = 0
        var statistics = Statistics()
        /// Callers waiting for room.
        var waiting = Waiters()
        var failure: DeltaTapeError?
        var finishing = false
        /// No recording thread could be started: nothing is ever consumed.
        var threadless = false
        /// Chunks of a session log the recording thread gave back, to be filled again.
        var freeChunks: [ByteChunk] = []
        /// Bytes of chunks handed to a caller to fill, not yet queued: counted against the high watermark.
        var reservedBytes = 0
    }

    /// Callers waiting for room in the buffer: tasks (suspended), and threads of the callers' (blocked on
    /// `roomForThreads`, one signal each; counted, so that a wait every few chunks of a long log costs no allocation).
    private struct Waiters {
        var tasks: [CheckedContinuation<Void, Never>] = []
        var threadCount = 0

        var isEmpty: Bool { tasks.isEmpty && threadCount == 0 }
    }

    /// Where threads blocked in ``appendLogBlocking(filling:)`` wait for room.
    private let roomForThreads = DispatchSemaphore(value: 0)

    /// Lets the waiting callers go on.
    private func resume(_ waiters: Waiters) {
        for task in waiters.tasks { task.resume() }
        for _ in 0..<waiters.threadCount { roomForThreads.signal() }
    }

    /// What ``offer(_:receivedAt:direction:)`` did with a message.
    public enum Offer: Sendable, Equatable {
        /// The message waits for the recording.
        case accepted
        /// The recording holds ``Watermarks/high`` bytes of messages: this one was not taken.
        case full
    }

    fileprivate enum Entry {
        case message([UInt8], time: Double?, direction: MessageDirection?)
        /// Bytes of a session log; counted as the memory they hold (the chunk's capacity), as a pipe's reads fill
        /// chunks only in part.
        case chunk(ByteChunk)
        /// Reading the session log failed: the recording ends there.
        case readFailure(InputError)
        case finish(@Sendable (Result<ConversionSummary, DeltaTapeError>) -> Void)
        /// What a queue slot holds once the recording thread took its entry: the entry's bytes are let go at once,
        /// not when the queue is next compacted (1 024 entries later: a relayed session held 4 MB of messages already
        /// recorded). Never handed to the recording thread.
        case taken

        var byteCount: Int {
            switch self {
            case .message(let bytes, _, _): bytes.count
            case .chunk(let chunk): chunk.capacity
            case .readFailure, .finish, .taken: 0
            }
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
        logArrival = nil
        state = Mutex(State())
        start { [self] in runRecording(makeSink: Self.opener(for: sink), sessionLog: sessionLog, problem: problem) }
    }

    /// Starts a recorder that reads a session log given in chunks of bytes (``appendLog(_:)``,
    /// ``appendLogBlocking(filling:)``), the way ``SessionConverter`` reads a file: its kind (JSON Lines, a JSON array
    /// or a HAR) detected from its first bytes unless ``ConversionOptions/inputKind`` names it, problems naming the line
    /// (and for a HAR the frame). Nothing is written until the first audio.
    ///
    /// - Parameters:
    ///   - options: What to write: format, tracks and layout, rate, Opus settings, strictness, the input kind, the
    ///     envelope's event field, the message size limit, the progress record.
    ///   - name: The log's name in problems and the summary (its path, say).
    ///   - sink: Where the bytes go.
    ///   - readingLog: How the bytes arrive: all there, or over time from a live session.
    ///   - watermarks: How many bytes of the log may wait for the recording.
    ///   - problem: Receives each problem as it is found, on the recorder's thread.
    public init(
        options: ConversionOptions = ConversionOptions(),
        name: String = "session",
        sink: Sink,
        readingLog: LogArrival,
        watermarks: Watermarks = Watermarks(),
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) {
        self.options = options
        self.name = name
        self.watermarks = watermarks
        logArrival = readingLog
        state = Mutex(State())
        start { [self] in runLogRecording(makeSink: Self.opener(for: sink), problem: problem) }
    }

    /// Starts the recording thread, or records that none could be started.
    private func start(_ body: @escaping @Sendable () -> Void) {
        // In the background the recorder's thread runs at a lower priority; threads it starts (the encoder's) inherit it.
        let inBackground = options.runsInBackground
        guard !startDedicatedThread(named: "deltatape-rec", {
            if inBackground { lowerCurrentThreadPriority() }
            body()
        }) else { return }
        state.withLock {
            $0.failure = .output(OutputError(path: name, reason: "the system would not start a thread for the recording (errno \(errno))"))
            $0.threadless = true
        }
    }

    /// What the recorder has buffered and how often it held its callers back.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Whether the recording has failed (every later call throws the failure).
    var hasFailed: Bool { state.withLock { $0.failure != nil } }

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
        try requireInput(log: false)
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
        try requireInput(log: false)
        let bytes = Array(message)
        let admitted = try admit(bytes, receivedAt: receivedAt, direction: direction)
        if admitted { entries.signal() }
        return admitted ? .accepted : .full
    }

    /// Takes one message as ``offer(_:receivedAt:direction:)`` does, or returns `nil` at once when the recording thread
    /// holds the recorder's lock just now. With ``ConversionOptions/runsInBackground`` the recording thread runs at the
    /// lowest priority (SCHED_IDLE): a caller that must never wait (a relay's event loop) would otherwise wait until
    /// that thread is scheduled again to let go of the lock, measured at up to 10 ms under load. Keep the message and
    /// offer it again later, in order.
    ///
    /// - Parameters: as for ``record(_:receivedAt:direction:)``.
    /// - Throws: As ``offer(_:receivedAt:direction:)``.
    public func offerUnlessBusy(_ message: some Sequence<UInt8>, receivedAt: Double? = nil, direction: MessageDirection? = nil)
        throws(DeltaTapeError) -> Offer?
    {
        try requireInput(log: false)
        let bytes = Array(message)  // an array passed in is not copied
        let watermark = watermarks.high
        let outcome = try state.withLockIfAvailable { (state) throws(DeltaTapeError) -> Bool in
            try Self.admit(bytes, receivedAt: receivedAt, direction: direction, into: &state, high: watermark, name: name)
        }
        guard let admitted = outcome else { return nil }
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
            requestFinish { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Ends the recording as ``finish()`` does, blocking the calling thread until the file is finalized: for a caller
    /// on a thread of its own (one that reads a log with ``appendLogBlocking(filling:)``), never a task of Swift's
    /// cooperative pool.
    ///
    /// - Returns: What was written.
    /// - Throws: As ``finish()``.
    public func finishBlocking() throws(DeltaTapeError) -> ConversionSummary {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<ConversionSummary, DeltaTapeError>?>(nil)
        requestFinish { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0 ?? .failure(.cancelled("recording \(name): it ended without a result")) }.get()
    }

    /// Queues the end of the recording; `deliver` gets its result on the recording thread (at once when it cannot end).
    private func requestFinish(_ deliver: @escaping @Sendable (Result<ConversionSummary, DeltaTapeError>) -> Void) {
        let accepted = state.withLock { state in
            guard !state.finishing, !state.threadless else { return false }
            state.finishing = true
            state.queue.append(.finish(deliver))
            return true
        }
        if accepted {
            entries.signal()
            wakeWaiters()  // a caller waiting for room learns that the recording is ending
        } else {
            let failure = state.withLock { $0.threadless ? $0.failure : nil }
            deliver(.failure(failure ?? .cancelled("recording \(name): finish() was already called")))
        }
    }

    // MARK: - A session log's bytes

    /// Takes the next bytes of the session log (any amount: a read's worth, a line, a whole file), copied, suspending
    /// while the recording holds ``Watermarks/high`` bytes of the log not yet read.
    ///
    /// - Parameter bytes: The bytes, in the log's order.
    /// - Throws: ``DeltaTapeError``: the recording's failure, if it failed (an input of no known kind, the sink's
    ///   failure, a problem under strict reading); ``DeltaTapeError/cancelled`` when the calling task is cancelled, after
    ///   ``finish()``, or for a recorder made to take messages.
    public func appendLog(_ bytes: some Collection<UInt8>) async throws(DeltaTapeError) {
        try requireInput(log: true)
        var remaining = bytes[...]
        while !remaining.isEmpty {
            if Task.isCancelled { throw .cancelled("recording \(name): the task was cancelled; call finish() to finalize what was recorded") }
            // The last chunk queued takes what fits in it while the recording thread has not taken it yet.
            let appended = try state.withLock { (state) throws(DeltaTapeError) -> Int in
                try Self.check(state, name: name)
                guard state.head < state.queue.count, case .chunk(let last) = state.queue[state.queue.count - 1] else { return 0 }
                return last.append(remaining)
            }
            remaining = remaining.dropFirst(appended)
            guard !remaining.isEmpty else { return }
            guard let chunk = try reserveChunk() else {
                await waitForRoom()
                continue
            }
            remaining = remaining.dropFirst(chunk.fill(copying: remaining))
            try enqueue(chunk)
        }
    }

    /// Takes the next bytes of the session log as `filling` puts them in the recorder's own buffer (for example with
    /// `read(2)` from a file), without copying them again; blocks the calling thread while the recording holds
    /// ``Watermarks/high`` bytes of the log not yet read. For a caller on a thread of its own, never a task of Swift's
    /// cooperative pool.
    ///
    /// - Parameter filling: Puts the next bytes at the start of the buffer it is given and returns how many; 0 at the
    ///   end of the log (nothing is taken then: call ``finishBlocking()``). A failure it throws ends the recording
    ///   after the bytes before it (``finishBlocking()`` throws it as ``DeltaTapeError/unreadableInput(_:)``).
    /// - Returns: What `filling` returned.
    /// - Throws: ``DeltaTapeError``: what `filling` threw, as ``DeltaTapeError/unreadableInput(_:)``; otherwise as
    ///   ``appendLog(_:)``.
    public func appendLogBlocking(filling: (UnsafeMutableRawBufferPointer) throws(InputError) -> Int) throws(DeltaTapeError) -> Int {
        try requireInput(log: true)
        var reserved = try reserveChunk()
        while reserved == nil {
            waitForRoomBlocking()
            reserved = try reserveChunk()
        }
        guard let chunk = reserved else { return 0 }
        let count: Int
        do throws(InputError) {
            count = try chunk.fill(filling)
        } catch {
            unreserve(chunk)
            let queued = state.withLock { state in
                guard !state.finishing, state.failure == nil else { return false }
                state.queue.append(.readFailure(error))
                return true
            }
            if queued { entries.signal() }
            throw .unreadableInput(error)
        }
        guard count > 0 else {
            unreserve(chunk)
            return 0
        }
        try enqueue(chunk)
        return count
    }

    /// Throws unless the recorder takes this kind of input.
    private func requireInput(log: Bool) throws(DeltaTapeError) {
        guard (logArrival != nil) != log else { return }
        throw .cancelled(log
            ? "recording \(name) takes messages (record(_:)); appendLog takes a session log's bytes, for a recorder made with readingLog:"
            : "recording \(name) reads a session log's bytes (appendLog); record(_:) takes messages, for a recorder made without readingLog:")
    }

    /// Throws the recording's failure, or after ``finish()``.
    private static func check(_ state: State, name: String) throws(DeltaTapeError) {
        if let failure = state.failure { throw failure }
        if state.finishing { throw DeltaTapeError.cancelled("recording \(name): finish() was called; nothing is taken after it") }
    }

    /// An empty chunk to fill, counted against the high watermark, if the buffer has room for it; `nil` when it has not.
    private func reserveChunk() throws(DeltaTapeError) -> ByteChunk? {
        try state.withLock { (state) throws(DeltaTapeError) -> ByteChunk? in
            try Self.check(state, name: name)
            let chunk = state.freeChunks.popLast() ?? ByteChunk()
            let waiting = state.statistics.bufferedBytes + state.reservedBytes
            guard waiting == 0 || waiting + chunk.capacity <= watermarks.high else {
                state.freeChunks.append(chunk)
                return nil
            }
            state.reservedBytes += chunk.capacity
            return chunk
        }
    }

    /// Gives back a reserved chunk that was not queued.
    private func unreserve(_ chunk: ByteChunk) {
        state.withLock { state in
            state.reservedBytes -= chunk.capacity
            state.freeChunks.append(chunk)
        }
        wakeWaiters()
    }

    /// Queues a filled chunk for the recording thread.
    private func enqueue(_ chunk: ByteChunk) throws(DeltaTapeError) {
        try state.withLock { (state) throws(DeltaTapeError) in
            state.reservedBytes -= chunk.capacity
            do throws(DeltaTapeError) {
                try Self.check(state, name: name)
            } catch {
                state.freeChunks.append(chunk)
                throw error
            }
            state.queue.append(.chunk(chunk))
            state.statistics.bufferedBytes += chunk.capacity
            state.statistics.peakBufferedBytes = max(state.statistics.peakBufferedBytes, state.statistics.bufferedBytes)
            state.statistics.messageCount += 1
        }
        entries.signal()
    }

    /// Blocks the calling thread until the waiting bytes are under the low watermark (or the recording ended).
    private func waitForRoomBlocking() {
        let waits = state.withLock { state in
            if state.statistics.bufferedBytes + state.reservedBytes <= watermarks.low || state.failure != nil || state.finishing { return false }
            state.statistics.suspensions += 1
            state.waiting.threadCount += 1
            return true
        }
        if waits { roomForThreads.wait() }
    }

    /// Resumes every caller waiting for room.
    private func wakeWaiters() {
        resume(state.withLock { (state) -> Waiters in defer { state.waiting = Waiters() }; return state.waiting })
    }

    // MARK: - The caller's side

    /// Queues a message if it fits under the high watermark (or nothing waits: a message larger than the whole buffer
    /// still goes in, alone).
    private func admit(_ bytes: [UInt8], receivedAt: Double?, direction: MessageDirection?) throws(DeltaTapeError) -> Bool {
        let watermark = watermarks.high
        return try state.withLock { (state) throws(DeltaTapeError) -> Bool in
            try Self.admit(bytes, receivedAt: receivedAt, direction: direction, into: &state, high: watermark, name: name)
        }
    }

    /// ``admit(_:receivedAt:direction:)`` with the lock held.
    private static func admit(_ bytes: [UInt8], receivedAt: Double?, direction: MessageDirection?, into state: inout State,
                              high: Int, name: String) throws(DeltaTapeError) -> Bool {
        if let failure = state.failure { throw failure }
        if state.finishing { throw DeltaTapeError.cancelled("recording \(name): finish() was called; no message is taken after it") }
        let waiting = state.statistics.bufferedBytes
        guard waiting == 0 || waiting + bytes.count <= high else { return false }
        state.queue.append(.message(bytes, time: receivedAt, direction: direction))
        state.statistics.bufferedBytes += bytes.count
        state.statistics.peakBufferedBytes = max(state.statistics.peakBufferedBytes, state.statistics.bufferedBytes)
        state.statistics.messageCount += 1
        return true
    }

    /// Suspends until the waiting bytes are under the low watermark (or the recording ended).
    private func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.statistics.bufferedBytes + state.reservedBytes <= watermarks.low || state.failure != nil || state.finishing { return true }
                state.statistics.suspensions += 1
                state.waiting.tasks.append(continuation)
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
            let entry = nextEntry()
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
                    fail(error)
                }
            case .chunk(let chunk):
                state.withLock { $0.freeChunks.append(chunk) }  // not taken by a recorder of messages
            case .readFailure, .taken:
                break
            case .finish(let deliver):
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
                deliver(result)
                return
            }
        }
    }

    /// Records the recording's failure; callers waiting for room learn of it now.
    private func fail(_ error: DeltaTapeError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
        }
        wakeWaiters()
    }

    /// The next entry, with the callers that may go on now that it left the buffer.
    private func takeEntry() -> (Entry, Waiters) {
        state.withLock { state in
            let entry = state.queue[state.head]
            state.queue[state.head] = .taken
            state.head += 1
            if state.head > 1_024, state.head * 2 > state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            state.statistics.bufferedBytes -= entry.byteCount
            guard state.statistics.bufferedBytes <= watermarks.low, !state.waiting.isEmpty else { return (entry, Waiters()) }
            defer { state.waiting = Waiters() }
            return (entry, state.waiting)
        }
    }

    /// Takes the next entry off the buffer (it is there: `entries` was waited for), resuming the callers that may go on.
    private func nextEntry() -> Entry {
        let (entry, resumed) = takeEntry()
        resume(resumed)
        return entry
    }

    /// Waits for the next entry at most `timeout`; `nil` when none came.
    fileprivate func nextEntry(timeout: Duration?) -> Entry? {
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            guard entries.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return nil }
        } else {
            entries.wait()
        }
        return nextEntry()
    }

    /// Gives back a chunk the log reader is done with.
    fileprivate func recycle(_ chunk: ByteChunk) {
        state.withLock { $0.freeChunks.append(chunk) }
    }

    // MARK: - Reading a session log on the recording thread

    private func runLogRecording(makeSink: @escaping (AudioTrack?) throws(OutputError) -> any ByteSink, problem: @escaping @Sendable (Problem) -> Void) {
        let started = monotonicSeconds()
        let source = QueuedLogBytes(recorder: self, isLive: logArrival == .live)
        let outcome = Result { () throws(DeltaTapeError) -> ConversionSummary in
            // The first bytes tell the log's kind; nothing is opened for writing before.
            guard case .session(let log) = try SessionLog.open(source, path: name, kind: options.inputKind, eventField: options.eventField,
                                                               maximumMessageByteCount: options.maximumMessageByteCount) else {
                throw .badInput("\(name): looks like an audio file; a recording reads session logs (audio files convert with "
                    + "SessionConverter, from a path)")
            }
            let pipeline = SessionPipeline(options: options, inputName: log.name, makeSink: makeSink, problem: problem)
            defer { pipeline.closeQuietly() }
            if log.isLive { pipeline.flushInterval = 0.5 }
            // Runs on this thread, while the log waits for bytes.
            log.inputStall.action = { try? pipeline.flushReleasingHeldAudio() }
            defer { log.inputStall.action = {} }
            try SessionConverter.run(log, through: pipeline)
            return ConversionSummary(
                input: log.name, output: pipeline.writers.map(\.path).joined(separator: " and "), format: options.format,
                vocabulary: log.reader.vocabulary, sampleRate: pipeline.writer?.sampleRate ?? 0,
                channelCount: pipeline.writer?.channelCount ?? 0, frameCount: pipeline.writer?.frameCount ?? 0,
                inputByteCount: log.byteCount, problemCount: pipeline.problemCount,
                elapsedSeconds: monotonicSeconds() - started, timeline: pipeline.timelineStatistics)
        }
        if case .failure(let error) = outcome { fail(error) }
        // The rest of the log (after a failure) is let go, up to the end the caller asks for.
        let deliver = source.finishRequest()
        deliver(outcome)
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

/// The recorder's buffer as the byte source of the session-log reader on the recording thread: chunks are handed over
/// where they lie, and while a live log's bytes do not come the stall handler runs (on this thread, between waits).
private final class QueuedLogBytes: ChunkByteSource, SessionLogSource {
    let name: String
    let isLive: Bool
    var stallHandler: InputStallHandler?
    private let recorder: SessionRecorder
    /// A chunk partly read by ``read(into:)``.
    private var current: ByteChunk?
    private var failure: InputError?
    /// The caller's request to finish, once it came: the end of the log.
    private var finish: (@Sendable (Result<ConversionSummary, DeltaTapeError>) -> Void)?

    init(recorder: SessionRecorder, isLive: Bool) {
        self.recorder = recorder
        name = recorder.name
        self.isLive = isLive
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        while true {
            if let current, current.byteCount > 0 {
                let count = min(buffer.count, current.byteCount)
                guard count > 0, let target = buffer.baseAddress, let bytes = current.bytes.baseAddress else { return 0 }
                target.copyMemory(from: bytes, byteCount: count)
                current.dropFirst(count)
                return count
            }
            guard let next = try nextChunk() else { return 0 }
            current = next
        }
    }

    func nextChunk() throws(InputError) -> ByteChunk? {
        if let current {
            self.current = nil
            if current.byteCount > 0 { return current }
            recorder.recycle(current)
        }
        if let failure { throw failure }
        while finish == nil {
            // A stored log's bytes are waited for as long as they take; a live one's stall is reported.
            guard let entry = recorder.nextEntry(timeout: isLive ? stallHandler?.interval : nil) else {
                stallHandler?.action()
                continue
            }
            switch entry {
            case .chunk(let chunk):
                if chunk.byteCount > 0 { return chunk }
                recorder.recycle(chunk)
            case .readFailure(let error):
                failure = error
                throw error
            case .finish(let deliver):
                finish = deliver
            case .message, .taken:
                break  // never queued on a recorder of a log; never handed over
            }
        }
        return nil
    }

    func recycle(_ chunk: ByteChunk) {
        recorder.recycle(chunk)
    }

    func close() {}

    /// Lets go of the log's bytes up to the caller's request to finish, and returns it.
    func finishRequest() -> @Sendable (Result<ConversionSummary, DeltaTapeError>) -> Void {
        if let current {
            self.current = nil
            recorder.recycle(current)
        }
        while true {
            if let finish { return finish }
            switch recorder.nextEntry(timeout: nil) {
            case .chunk(let chunk)?: recorder.recycle(chunk)
            case .finish(let deliver)?: finish = deliver
            default: break
            }
        }
    }
}
