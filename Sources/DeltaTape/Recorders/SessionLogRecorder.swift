// The recorder of a session log's bytes: the command line's `convert` and an archiver holding a log. Its queue is the
// engine's (Engine/IngressQueue.swift), carrying chunks of the log; its thread runs the session-log reader over the
// chunks where they lie (``ByteChunk``), so reading the file on the caller's thread overlaps with parsing on this one.
@_spi(Blocks) public import DeltaTapeEvents
import DeltaTapeKernels
import DeltaTapeContainers
import Dispatch
import Synchronization

/// Records a session log given in chunks of bytes (JSON Lines, a JSON array or a HAR, read as ``SessionConverter``
/// reads a file: the same line numbers, HAR frame labels and cut-off last lines) into an audio file.
///
/// Bytes come in chunks of any size through ``append(_:)``, which suspends while the recording holds
/// ``BufferWatermarks/high`` bytes not yet read, or from a thread of the caller's through
/// ``appendBlocking(filling:)`` and ``finishBlocking()``, which read into the recorder's own buffers (`read(2)`
/// straight into them, no copy). The command line's `convert` reads its input that way: the file's reading on one
/// thread overlaps with the parsing on the recorder's.
///
/// ```swift
/// let recorder = SessionLogRecorder(name: "call.jsonl", sink: .file("call.wav"), arrival: .stored)
/// for try await bytes in upload { try await recorder.append(bytes) }
/// let summary = try await recorder.finish()
/// ```
public final class SessionLogRecorder: Sendable {
    /// How the bytes of the log arrive, which decides when the output is flushed.
    public enum Arrival: Sendable, Equatable {
        /// All there already (a file): the output is written as the writers' blocks fill, so it is the same bytes
        /// however fast the machine is.
        case stored
        /// Over time (a pipe from a live session): what was written goes to the sink every half second while bytes
        /// flow, and whenever they stall for a quarter second everything received is written, the audio the timeline
        /// still holds included, so that a process killed between two turns leaves all it had received.
        case live
    }

    /// The log's name in problems and the summary.
    public let name: String
    /// The output's format, tracks and settings.
    public let options: ConversionOptions
    /// How many bytes of the log may wait for the recording.
    public let watermarks: BufferWatermarks
    /// How the log's bytes arrive.
    public let arrival: Arrival

    enum Entry: Sendable {
        /// Bytes of the log; counted as the memory they hold (the chunk's capacity), as a pipe's reads fill chunks only
        /// in part.
        case chunk(ByteChunk)
        /// Reading the log failed: the recording ends there.
        case readFailure(InputError)
        case finish(@Sendable (Result<ConversionSummary, ConversionError>) -> Void)

        var byteCount: Int {
            if case .chunk(let chunk) = self { chunk.capacity } else { 0 }
        }
    }

    let queue: IngressQueue<Entry>
    private let failure = Mutex<ConversionError?>(nil)
    /// Chunks the recording thread gave back, to be filled again.
    private let freeChunks = Mutex<[ByteChunk]>([])
    private let threadless = Atomic<Bool>(false)
    /// The recording thread, raised out of `SCHED_IDLE` when the recording is asked to finish.
    private let priority = PriorityHandle()
    /// The input's kind as detected by the caller (a converter that looked at the first bytes), so that the reader
    /// does not detect it again; `nil`: detected here.
    private let detected: InputKind??

    /// Starts a recorder of a session log; nothing is written until the first audio.
    ///
    /// - Parameters:
    ///   - options: What to write: format, tracks and layout, rate, Opus settings, strictness, the input kind, the
    ///     envelope's event field, the message size limit, the progress record.
    ///   - name: The log's name in problems and the summary (its path, say).
    ///   - sink: Where the bytes go.
    ///   - arrival: How the bytes arrive: all there, or over time from a live session.
    ///   - watermarks: How many bytes of the log may wait for the recording.
    ///   - problem: Receives each problem as it is found, on the recorder's thread.
    public convenience init(
        options: ConversionOptions = ConversionOptions(),
        name: String = "session",
        sink: OutputDestination,
        arrival: Arrival,
        watermarks: BufferWatermarks = BufferWatermarks(),
        problem: @escaping @Sendable (Problem) -> Void = { _ in }
    ) {
        self.init(options: options, name: name, sink: sink, arrival: arrival, watermarks: watermarks, detected: nil, problem: problem)
    }

    /// A recorder of a log whose first bytes the caller has already looked at: `detected` is what
    /// ``InputKind/detect(_:)`` made of them (`.some(nil)`: no known kind).
    init(options: ConversionOptions, name: String, sink: OutputDestination, arrival: Arrival, watermarks: BufferWatermarks,
         detected: InputKind??, problem: @escaping @Sendable (Problem) -> Void) {
        self.options = options
        self.name = name
        self.watermarks = watermarks
        self.arrival = arrival
        self.detected = detected
        queue = IngressQueue(watermarks: watermarks) { $0.byteCount }
        let makeSink: @Sendable (AudioTrack?) throws(OutputError) -> any ByteSink = { (track) throws(OutputError) in try sink.makeSink(for: track) }
        let refusal = startRecordingThread(name: name, inBackground: options.runsInBackground, priority: priority) { [self] in
            runRecording(makeSink: makeSink, problem: problem)
        }
        if let refusal {
            threadless.store(true, ordering: .relaxed)
            fail(refusal)
        }
    }

    /// Whether the recording has failed (every later call throws the failure).
    var hasFailed: Bool { failure.withLock { $0 != nil } }

    /// What the recorder has buffered (counted as the chunks' memory) and how often it held its callers back.
    public var statistics: BufferStatistics {
        let queued = queue.statistics
        return BufferStatistics(bufferedBytes: queued.bufferedBytes, peakBufferedBytes: queued.peakBufferedBytes,
                                suspensions: queued.waitCount, messageCount: queued.queuedCount)
    }

    /// Takes the next bytes of the log (any amount: a read's worth, a line, a whole file), copied, suspending while
    /// the recording holds ``BufferWatermarks/high`` bytes of the log not yet read.
    ///
    /// - Parameter bytes: The bytes, in the log's order.
    /// - Throws: ``ConversionError``: the recording's failure, if it failed (an input of no known kind, the sink's
    ///   failure, a problem under strict reading); ``ConversionError/cancelled`` at once when the calling task is
    ///   cancelled, or after ``finish()``.
    public func append(_ bytes: some Collection<UInt8>) async throws(ConversionError) {
        var remaining = bytes[...]
        do throws(IngressRefusal) {
            while !remaining.isEmpty {
                if Task.isCancelled { throw IngressRefusal.cancelled }
                // The last chunk queued takes what fits in it while the recording thread has not taken it yet.
                let appended = try queue.withLastQueued { entry -> Int in
                    guard case .chunk(let last) = entry else { return 0 }
                    return last.append(remaining)
                } ?? 0
                remaining = remaining.dropFirst(appended)
                guard !remaining.isEmpty else { return }
                let chunk = takeFreeChunk()
                guard try queue.reserve(chunk.capacity) else {
                    recycle(chunk)
                    await queue.waitForRoom(for: chunk.capacity)
                    continue
                }
                remaining = remaining.dropFirst(chunk.fill(copying: remaining))
                try queue.endReservation(chunk.capacity, queueing: .chunk(chunk))
            }
        } catch {
            throw recordingError(error)
        }
    }

    /// Takes the next bytes of the log as `filling` puts them in the recorder's own buffer (for example with `read(2)`
    /// from a file), without copying them again; blocks the calling thread while the recording holds
    /// ``BufferWatermarks/high`` bytes of the log not yet read. For a caller on a thread of its own, never a task of
    /// Swift's cooperative pool.
    ///
    /// - Parameter filling: Puts the next bytes at the start of the buffer it is given and returns how many; 0 at the
    ///   end of the log (nothing is taken then: call ``finishBlocking()``). A failure it throws ends the recording
    ///   after the bytes before it (``finishBlocking()`` throws it as ``ConversionError/unreadableInput(_:)``).
    /// - Returns: What `filling` returned.
    /// - Throws: ``ConversionError``: what `filling` threw, as ``ConversionError/unreadableInput(_:)``; otherwise as
    ///   ``append(_:)``.
    public func appendBlocking(filling: (UnsafeMutableRawBufferPointer) throws(InputError) -> Int) throws(ConversionError) -> Int {
        let chunk = takeFreeChunk()
        do throws(IngressRefusal) {
            try queue.reserveBlocking(chunk.capacity)
        } catch {
            recycle(chunk)
            throw recordingError(error)
        }
        let count: Int
        do throws(InputError) {
            count = try chunk.fill(filling)
        } catch {
            try? queue.endReservation(chunk.capacity, queueing: nil)
            recycle(chunk)
            try? queue.force(.readFailure(error))
            throw .unreadableInput(error)
        }
        do throws(IngressRefusal) {
            guard count > 0 else {
                try queue.endReservation(chunk.capacity, queueing: nil)
                recycle(chunk)
                return 0
            }
            try queue.endReservation(chunk.capacity, queueing: .chunk(chunk))
        } catch {
            recycle(chunk)
            throw recordingError(error)
        }
        return count
    }

    /// Ends the recording: the bytes already taken are read, the audio the timeline holds is written and the file is
    /// finalized.
    ///
    /// - Returns: What was written.
    /// - Throws: ``ConversionError``: the recording's failure (the file then holds the audio recorded before it), or,
    ///   when no audio arrived, ``ConversionError/badInput(_:)`` saying so (and what the log held instead).
    public func finish() async throws(ConversionError) -> ConversionSummary {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ConversionSummary, ConversionError>, Never>) in
            requestFinish { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Ends the recording as ``finish()`` does, blocking the calling thread until the file is finalized: for a caller
    /// on a thread of its own (one that reads a log with ``appendBlocking(filling:)``), never a task of Swift's
    /// cooperative pool.
    ///
    /// - Returns: What was written.
    /// - Throws: As ``finish()``.
    public func finishBlocking() throws(ConversionError) -> ConversionSummary {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<ConversionSummary, ConversionError>?>(nil)
        requestFinish { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0 ?? .failure(.cancelled("recording \(name): it ended without a result")) }.get()
    }

    /// Queues the end of the recording; `deliver` gets its result on the recording thread (at once when it cannot end).
    private func requestFinish(_ deliver: @escaping @Sendable (Result<ConversionSummary, ConversionError>) -> Void) {
        // The end must not wait for a saturated host to go idle (a background recording's thread is under SCHED_IDLE).
        priority.raise()
        guard !threadless.load(ordering: .relaxed), queue.finish(with: .finish(deliver)) else {
            return deliver(.failure(failure.withLock { $0 } ?? .cancelled("recording \(name): finish() was already called")))
        }
    }

    private func recordingError(_ refusal: IngressRefusal) -> ConversionError {
        recordingFailure(refusal, failure: failure.withLock { $0 }, name: name)
    }

    /// Records the recording's failure; callers waiting for room learn of it now.
    private func fail(_ error: ConversionError) {
        failure.withLock { if $0 == nil { $0 = error } }
        queue.refuse()
    }

    private func takeFreeChunk() -> ByteChunk {
        freeChunks.withLock { $0.popLast() } ?? ByteChunk()
    }

    /// Waits for the next entry, at most `timeout`; `nil` when none came.
    func nextEntry(timeout: Duration?) -> Entry? {
        guard let timeout else {
            return queue.take() ?? .finish { _ in }  // the end comes only after the request to finish
        }
        switch queue.take(timeout: timeout) {
        case .element(let entry): return entry
        case .timedOut: return nil
        case .end: return .finish { _ in }
        }
    }

    /// Gives back a chunk the log reader is done with.
    func recycle(_ chunk: ByteChunk) {
        freeChunks.withLock { $0.append(chunk) }
    }

    // MARK: - Reading the log on the recording thread

    private func runRecording(makeSink: @escaping (AudioTrack?) throws(OutputError) -> any ByteSink, problem: @escaping @Sendable (Problem) -> Void) {
        let started = monotonicSeconds()
        let source = QueuedLogBytes(recorder: self, isLive: arrival == .live)
        let outcome = Result { () throws(ConversionError) -> ConversionSummary in
            // The first bytes tell the log's kind; nothing is opened for writing before.
            let opened = try ConversionError.carrying { () throws(SessionLogError) in
                try SessionLog.open(source, path: name, kind: options.inputKind, detected: detected, eventField: options.eventField,
                                    maximumMessageByteCount: options.maximumMessageByteCount)
            }
            guard case .session(let log) = opened else {
                throw .badInput("\(name): looks like an audio file; a recording reads session logs (audio files convert with "
                    + "SessionConverter, from a path)")
            }
            let pipeline = SessionPipeline(options: options, inputName: log.name, makeSink: makeSink, problem: problem)
            defer { pipeline.closeQuietly() }
            if log.isLive { pipeline.flushInterval = 0.5 }
            // Runs on this thread, while the log waits for bytes.
            log.inputStall.action = { try? pipeline.flushReleasingHeldAudio() }
            defer { log.inputStall.action = {} }
            try Self.run(log, through: pipeline)
            return ConversionSummary(
                input: log.name, output: pipeline.writers.map(\.path).joined(separator: " and "), format: options.format,
                vocabulary: log.reader.vocabulary, sampleRate: pipeline.writer?.sampleRate ?? 0,
                channelCount: pipeline.writer?.channelCount ?? 0, frameCount: pipeline.writer?.frameCount ?? 0,
                inputByteCount: log.byteCount, problemCount: pipeline.problemCount,
                elapsedSeconds: monotonicSeconds() - started, timeline: pipeline.timelineStatistics,
                sourceSampleRates: pipeline.sourceSampleRates)
        }
        if case .failure(let error) = outcome { fail(error) }
        // The rest of the log (after a failure) is let go, up to the end the caller asks for.
        let deliver = source.finishRequest()
        deliver(outcome)
    }

    /// Feeds every event of `log` to `pipeline`, then finishes it.
    private static func run(_ log: SessionLog, through pipeline: SessionPipeline) throws(ConversionError) {
        var reportedByteCount = 0
        while true {
            // Noted as they come: a million bad lines in a row are a million calls, not a million problems held.
            let next = try log.nextEvent { (found: Problem) throws(ConversionError) in try pipeline.note(found) }
            guard let (line, event) = next else { break }
            try pipeline.take(event, line: line)
            if let progress = pipeline.options.progress, log.byteCount - reportedByteCount >= ConversionProgress.updateByteInterval {
                reportedByteCount = log.byteCount
                progress.update(inputByteCount: reportedByteCount, frameCount: pipeline.writer?.frameCount ?? 0,
                                sampleRate: pipeline.writer?.sampleRate ?? 0, queuedSeconds: pipeline.queuedSeconds)
            }
        }
        // The input is read; what was read and not yet written is the work left (the output side reports it as it goes).
        pipeline.options.progress?.update(inputByteCount: log.byteCount, frameCount: pipeline.writer?.frameCount ?? 0,
                                          sampleRate: pipeline.writer?.sampleRate ?? 0, queuedSeconds: pipeline.queuedSeconds)
        try ConversionError.carrying { () throws(SessionLogError) in try log.refuseForcedKindWithoutMessages() }
        for warning in log.harStructureWarnings {
            try pipeline.note(Problem(input: log.name, line: log.lineCount, message: warning))
        }
        try pipeline.finish(line: log.lineCount) { typeCounts in
            noAudioMessage(log: log, selection: pipeline.options.track, typeCountsBeforeAudio: typeCounts,
                           otherTrackDeltaCount: pipeline.otherTrackDeltaCount)
        }
    }

    /// What a session without audio of `track` holds instead, why (the diagnosis `inspect` gives), and where to look next.
    private static func noAudioMessage(log: SessionLog, selection: TrackSelection, typeCountsBeforeAudio: [String: Int],
                                       otherTrackDeltaCount: Int) -> String {
        let track = selection.single ?? .assistant
        let found = typeCountsBeforeAudio.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let listed = found.prefix(8).map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let more = found.count > 8 ? ", and \(found.count - 8) more types" : ""
        let foundInstead = log.isHARWithoutFrames ? "nothing: \(log.harWithoutFramesReason)"
            : found.isEmpty ? "no valid messages" : listed + more
        let assistantEvents = "response.output_audio.delta (OpenAI GA), response.audio.delta (OpenAI beta), session.output_audio.delta "
            + "(GPT-Live), Gemini serverContent.modelTurn audio, Twilio outbound media and ElevenLabs audio_event"
        let userEvents = "input_audio_buffer.append and conversation.item.create input_audio (OpenAI), session.input_audio.append "
            + "(GPT-Live), Gemini realtimeInput audio, Twilio inbound media and ElevenLabs user_audio_chunk"
        let lookedFor = switch selection {
        case .assistant: assistantEvents
        case .user: userEvents
        case .both: assistantEvents + "; and " + userEvents
        }
        let what = selection == .both ? "audio of either side" : "\(track.rawValue) audio"
        let diagnoses = NoAudioDiagnosis.diagnose(track: track, harWithoutFrames: log.isHARWithoutFrames ? log.harWithoutFramesReason : nil,
                                                  eventCounts: typeCountsBeforeAudio,
                                                  reader: log.reader, otherTrackDeltaCount: otherTrackDeltaCount)
        return "\(log.name): no \(what) found; looked for \(lookedFor) and found \(foundInstead). "
            + diagnoses.map(\.message).joined(separator: " ") + " ('deltatape inspect \(log.name)' shows all the session holds.)"
    }
}
