// The recorder of messages: an archiver's or a relay's. Its queue is the engine's (Engine/IngressQueue.swift); its
// thread reads each message and puts it through the session pipeline.
@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeKernels
import DeltaTapeContainers
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
/// ``record(_:receivedAt:direction:isBinary:)`` suspends its caller while the recording falls behind (the encoder, the sink):
/// messages wait in a buffer counted in bytes, and a caller waits only while it holds ``BufferWatermarks/high`` bytes,
/// until it is back under ``BufferWatermarks/low``. Reading, the timeline and writing run on a thread of the recorder's
/// own (and Opus encoding on another), so no task of Swift's cooperative pool ever blocks, and on two cores the reading
/// of one message overlaps with the encoding of the last. A caller that must never wait (a relay) uses
/// ``offer(_:receivedAt:direction:isBinary:neverWaiting:)`` instead.
///
/// ``finish()`` writes what the timeline still holds and finalizes the file. After a failure (the sink's, or a
/// problem under ``ConversionOptions/strict``) every later call throws it, and ``finish()`` still leaves a playable
/// file holding the audio recorded before it. A session log's bytes are recorded by ``SessionLogRecorder``.
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
    /// What ``offer(_:receivedAt:direction:isBinary:neverWaiting:)`` did with a message.
    public enum Offer: Sendable, Equatable {
        /// The message waits for the recording.
        case accepted
        /// The recording holds ``BufferWatermarks/high`` bytes of messages: this one was not taken.
        case full
        /// The recorders sharing the recorder's ``RecordingMemoryBudget`` hold all it allows: this one was not taken
        /// (the recording goes on; the message is missing from it).
        case overBudget
    }

    /// The recording's name in problems and the summary.
    public let name: String
    /// The output's format, tracks and settings.
    public let options: ConversionOptions
    /// How many bytes may wait for the recording.
    public let watermarks: BufferWatermarks
    /// The budget the messages offered are charged to, shared with other recorders; nil: none.
    public let memoryBudget: RecordingMemoryBudget?

    private enum Entry: Sendable {
        /// A message; its charge against the memory budget is given back when the entry goes (it was recorded).
        case message([UInt8], time: Double?, direction: MessageDirection?, isBinary: Bool = false, charge: BudgetCharge? = nil)
        case finish(@Sendable (Result<ConversionSummary, ConversionError>) -> Void)

        var byteCount: Int {
            if case .message(let bytes, _, _, _, _) = self { bytes.count } else { 0 }
        }
    }

    private let queue: IngressQueue<Entry>
    /// The recording's failure, once it failed; every later call throws it.
    private let failure = Mutex<ConversionError?>(nil)
    /// No recording thread could be started: ``finish()`` answers at once.
    private let threadless = Atomic<Bool>(false)
    /// The recording thread, raised out of `SCHED_IDLE` when the recording is asked to finish.
    private let priority = PriorityHandle()

    /// Starts a recorder; nothing is written until the first audio.
    ///
    /// - Parameters:
    ///   - options: What to write: format, tracks and layout, rate, Opus settings, strictness, the message size limit.
    ///   - name: The recording's name in problems and the summary.
    ///   - sink: Where the bytes go.
    ///   - watermarks: How many bytes of messages may wait for the recording.
    ///   - memoryBudget: A budget shared with other recorders that each message offered
    ///     (``offer(_:receivedAt:direction:isBinary:neverWaiting:)``) is charged to until it is recorded; nil: none.
    ///   - sessionLog: Where to keep the messages themselves as a session log (JSON Lines in the `{"time", "source",
    ///     "event"}` envelope, `source` being `client` or `server` from each message's direction), so that the session
    ///     can be converted again later; `nil` keeps none.
    ///   - keepsJournal: Whether a recording to one file (``OutputDestination/file(_:)``) keeps the messages in a
    ///     journal beside it while it runs (`FILE.journal`, removed at ``finish()``), so that a process killed at any
    ///     moment loses nothing received: `deltatape repair FILE` rebuilds the recording from it, the answer that was
    ///     still playing included. Each message is written to it as it is taken (one `write(2)`).
    ///   - journalBeside: The path of the recording's file when `sink` writes one of the caller's own making (a
    ///     ``OutputDestination/custom(_:)`` sink over a file, as the relay's): the journal is kept beside it
    ///     (`PATH.journal`). `nil`: only a ``OutputDestination/file(_:)`` sink has one.
    ///   - problem: Receives each problem as it is found (a malformed message, undecodable audio), on the recorder's
    ///     thread.
    public convenience init(
        options: ConversionOptions = ConversionOptions(),
        name: String = "session",
        sink: OutputDestination,
        watermarks: BufferWatermarks = BufferWatermarks(),
        memoryBudget: RecordingMemoryBudget? = nil,
        sessionLog: OutputDestination? = nil,
        keepsJournal: Bool = true,
        journalBeside: String? = nil,
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) {
        var journal: Journal?
        if keepsJournal, options.track != .both || options.layout != .separate {
            if let journalBeside {
                journal = .beside(journalBeside)
            } else if case .file(let path) = sink {
                journal = .beside(path)
            }
        }
        self.init(options: options, name: name, sink: sink, watermarks: watermarks, memoryBudget: memoryBudget, sessionLog: sessionLog,
                  journal: journal, problem: problem)
    }

    /// Where a recording's journal is kept.
    @_spi(Blocks) public enum Journal: Sendable {
        /// Beside the recording's file at this path (`PATH.journal`), made by the recorder.
        case beside(String)
        /// In a file the caller made at `path` (new and empty, as `NewFile` makes them), handed over by `take` on
        /// the recorder's thread: a caller that makes all of a recording's files under one name no one else can take
        /// (a relay) makes the journal's too, so that a taken journal name is a taken name like the others.
        case made(path: String, take: @Sendable () throws(OutputError) -> any ByteSink)
    }

    /// Starts a recording as the public initializer does, its journal where `journal` says (nil: none).
    @_spi(Blocks) public init(
        options: ConversionOptions, name: String, sink: OutputDestination, watermarks: BufferWatermarks,
        memoryBudget: RecordingMemoryBudget?, sessionLog: OutputDestination?, journal: Journal?,
        problem: @escaping @Sendable (Problem) -> Void
    ) {
        self.options = options
        self.name = name
        self.watermarks = watermarks
        self.memoryBudget = memoryBudget
        queue = IngressQueue(watermarks: watermarks) { $0.byteCount }
        let makeSink: @Sendable (AudioTrack?) throws(OutputError) -> any ByteSink = { (track) throws(OutputError) in try sink.makeSink(for: track) }
        let refusal = startRecordingThread(name: name, inBackground: options.runsInBackground, priority: priority) { [self] in
            runRecording(makeSink: makeSink, sessionLog: sessionLog, journal: journal, problem: problem)
        }
        if let refusal {
            threadless.store(true, ordering: .relaxed)
            fail(refusal)
        }
    }

    /// What the recorder has buffered and how often it held its callers back.
    public var statistics: BufferStatistics {
        let queued = queue.statistics
        return BufferStatistics(bufferedBytes: queued.bufferedBytes + queue.heldByteCount, peakBufferedBytes: queued.peakBufferedBytes,
                          suspensions: queued.waitCount, messageCount: queued.queuedCount)
    }

    /// Takes one message (a WebSocket text or binary frame's bytes: one JSON message), suspending while the recording
    /// holds ``BufferWatermarks/high`` bytes of messages not yet recorded.
    ///
    /// - Parameters:
    ///   - message: The message's bytes (copied).
    ///   - receivedAt: When it arrived, in seconds since the Unix epoch: refines the timeline's placement. A time the
    ///     message carries itself (an envelope's) comes first.
    ///   - direction: Which way it travelled (the audio's track comes from the message itself).
    ///   - isBinary: Whether it came in a binary frame (a session log keeps it as such: in base64 when it is no JSON
    ///     object).
    /// - Throws: ``ConversionError``: the recording's failure, if it failed (the sink's, or a problem under strict
    ///   reading); ``ConversionError/cancelled`` at once when the calling task is cancelled (the message is not
    ///   recorded), or after ``finish()``.
    public func record(_ message: some Sequence<UInt8>, receivedAt: Double? = nil, direction: MessageDirection? = nil,
                       isBinary: Bool = false) async throws(ConversionError) {
        let bytes = Array(message)
        do throws(IngressRefusal) {
            try await queue.push(.message(bytes, time: receivedAt, direction: direction, isBinary: isBinary), byteCount: bytes.count)
        } catch {
            throw recordingError(error)
        }
    }

    /// Takes one text message (a WebSocket text frame).
    public func record(_ message: String, receivedAt: Double? = nil, direction: MessageDirection? = nil) async throws(ConversionError) {
        try await record(message.utf8, receivedAt: receivedAt, direction: direction)
    }

    /// Takes one message if the recording has room for it, never suspending: for a caller that must not be held back
    /// (a relay forwards first and records if it can). A recording that returns ``Offer/full`` has fallen behind by
    /// ``BufferWatermarks/high`` bytes; what to do then (drop the message, abandon the recording with ``finish()``) is
    /// the caller's choice. With a ``memoryBudget`` the message is charged to it until recorded, and refused
    /// (``Offer/overBudget``) when the budget has no room for it.
    ///
    /// - Parameters:
    ///   - neverWaiting: Whether the call must not wait even for the recorder's lock, which its thread holds now and
    ///     then: with ``ConversionOptions/runsInBackground`` that thread runs at the lowest priority (SCHED_IDLE), and
    ///     a caller such as a relay's event loop would wait until it is scheduled again (measured at up to 10 ms under
    ///     load). The message is then kept, in order, and handed over by the next offer or by ``finish()``; kept
    ///     messages count against the high watermark.
    ///   - others: as for ``record(_:receivedAt:direction:isBinary:)``.
    /// - Throws: ``ConversionError``: the recording's failure, if it failed; ``ConversionError/cancelled`` after
    ///   ``finish()``.
    public func offer(_ message: some Sequence<UInt8>, receivedAt: Double? = nil, direction: MessageDirection? = nil,
                      isBinary: Bool = false, neverWaiting: Bool = false) throws(ConversionError) -> Offer {
        let bytes = Array(message)  // an array passed in is not copied
        var charge: BudgetCharge?
        if let memoryBudget {
            guard let charged = BudgetCharge(bytes.count, to: memoryBudget) else { return .overBudget }
            charge = charged
        }
        let entry = Entry.message(bytes, time: receivedAt, direction: direction, isBinary: isBinary, charge: charge)
        do throws(IngressRefusal) {
            let offered = neverWaiting ? try queue.offerNeverWaiting(entry, byteCount: bytes.count)
                : try queue.offer(entry, byteCount: bytes.count)
            return offered == .accepted ? .accepted : .full
        } catch {
            throw recordingError(error)
        }
    }

    /// Ends the recording: the messages already taken are recorded, the audio the timeline holds is written and the
    /// file is finalized.
    ///
    /// - Returns: What was written.
    /// - Throws: ``ConversionError``: the recording's failure (the file then holds the audio recorded before it), or,
    ///   when no audio arrived, ``ConversionError/badInput(_:)`` saying so.
    public func finish() async throws(ConversionError) -> ConversionSummary {
        // The end must not wait for a saturated host to go idle (a background recording's thread is under SCHED_IDLE).
        priority.raise()
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ConversionSummary, ConversionError>, Never>) in
            let deliver: @Sendable (Result<ConversionSummary, ConversionError>) -> Void = { continuation.resume(returning: $0) }
            guard !threadless.load(ordering: .relaxed), queue.finish(with: .finish(deliver)) else {
                return deliver(.failure(failure.withLock { $0 } ?? .cancelled("recording \(name): finish() was already called")))
            }
        }
        return try result.get()
    }

    private func recordingError(_ refusal: IngressRefusal) -> ConversionError {
        recordingFailure(refusal, failure: failure.withLock { $0 }, name: name)
    }

    /// Records the recording's failure; callers waiting for room learn of it now.
    private func fail(_ error: ConversionError) {
        failure.withLock { if $0 == nil { $0 = error } }
        queue.refuse()
    }

    // MARK: - The recording thread

    private func runRecording(
        makeSink: @escaping (AudioTrack?) throws(OutputError) -> any ByteSink, sessionLog: OutputDestination?, journal placement: Journal?,
        problem: @escaping @Sendable (Problem) -> Void
    ) {
        let started = monotonicSeconds()
        var journal: InputJournal?
        if let placement {
            do throws(OutputError) {
                switch placement {
                case .beside(let output): journal = try InputJournal.create(forOutput: output, options: options)
                case .made(let path, let take): journal = try InputJournal.start(in: take(), path: path, options: options)
                }
            } catch {
                problem(Problem(input: name, line: 0, message: "\(error.description); recording without it: a kill loses the audio not yet on disk"))
            }
        }
        var journalLine: [UInt8] = []
        var reader = EventReader(eventField: options.eventField)
        let pipeline = SessionPipeline(options: options, inputName: name, makeSink: makeSink, problem: problem)
        var failure: ConversionError?
        var log: SessionLogWriter?
        if let sessionLog {
            do throws(OutputError) {
                log = try SessionLogWriter(sessionLog.makeSink(for: nil))
            } catch {
                failure = .output(error)
                fail(.output(error))
            }
        }
        var messageNumber = 0
        var byteCount = 0
        while let entry = queue.take() {
            switch entry {
            case .message(let bytes, let time, let direction, let isBinary, _):
                messageNumber += 1
                byteCount += bytes.count
                guard failure == nil else { continue }
                // Journaled before it is recorded: a kill while it is read loses nothing.
                if let journal {
                    journalLine.removeAll(keepingCapacity: true)
                    SessionLogWriter.appendLine(bytes, isJSONObject: Self.looksLikeJSONObject(bytes), isBinary: isBinary, time: time,
                                                direction: direction, to: &journalLine)
                    journalLine.withUnsafeBytes { journal.append($0) }
                    // Its storage is kept for the next message, unless a large one grew it: a relay's sessions each
                    // holding the capacity of their largest message would add up.
                    if journalLine.capacity > Self.keptJournalLineCapacity { journalLine = [] }
                }
                do throws(ConversionError) {
                    let isObject = try record(bytes, time: time, number: messageNumber, reader: &reader, pipeline: pipeline)
                    do throws(OutputError) {
                        try log?.append(bytes, isJSONObject: isObject, isBinary: isBinary, time: time, direction: direction)
                    } catch {
                        throw .output(error)
                    }
                } catch {
                    failure = error
                    fail(error)
                }
            case .finish(let deliver):
                let result = Result { () throws(ConversionError) -> ConversionSummary in
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
                        elapsedSeconds: monotonicSeconds() - started, timeline: pipeline.timelineStatistics,
                sourceSampleRates: pipeline.sourceSampleRates)
                }
                if let journal {
                    // A failed output keeps the journal, for repair; otherwise the recording is whole (or had nothing).
                    if case .failure(.output) = result, journal.failure == nil { journal.keep() } else { journal.discard() }
                    if let failure = journal.failure { problem(Problem(input: name, line: messageNumber, message: failure.description)) }
                }
                deliver(result)
                return
            }
        }
    }

    /// The most storage the journal's line buffer keeps between messages (realtime messages are kilobytes).
    private static let keptJournalLineCapacity = 256 << 10

    /// Whether a message's first byte past whitespace opens an object: the journal keeps it as it is then, and any
    /// other message as a JSON string (its problem is found again when the journal is converted).
    private static func looksLikeJSONObject(_ bytes: [UInt8]) -> Bool {
        bytes.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D } == UInt8(ascii: "{")
    }

    /// Reads one message and puts it through the pipeline. Returns whether it was a valid JSON object.
    private func record(_ bytes: [UInt8], time: Double?, number: Int, reader: inout EventReader, pipeline: SessionPipeline) throws(ConversionError) -> Bool {
        guard bytes.count <= options.maximumMessageByteCount else {
            try pipeline.note(Problem(input: name, line: number, message: "message \(number) is \(bytes.count) bytes, more than the "
                + "limit of \(options.maximumMessageByteCount); it was skipped"))
            return false
        }
        // Typed throws do not pass through withUnsafeBytes: carried out as a Result.
        return try bytes.withUnsafeBytes { message in Result { () throws(ConversionError) -> Bool in
            switch reader.readMessage(message, time: time, recoveringCutOff: false) {
            case .event(let event, let warning):
                if let warning { try pipeline.note(Problem(input: name, line: number, message: "message \(number): \(warning)")) }
                try pipeline.take(event, line: number)
                return true
            case .malformed(let reason):
                try pipeline.note(Problem(input: name, line: number, message: "message \(number): \(reason)"))
                return false
            }
        } }.get()
    }

}
