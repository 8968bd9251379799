@_spi(Blocks) import DeltaTapeKernels
@_spi(Blocks) package import DeltaTapeEvents
package import DeltaTapeTimeline
package import DeltaTapeContainers

/// Turns a session's events into an audio file, one event at a time: each audio delta is decoded, joined into whole
/// samples per stream, put on the conversation's timeline (docs/TIMELINE.md), resampled to the output's rate, laid out
/// and written.
///
/// The pipeline is synchronous and passes borrowed buffers from stage to stage, so it costs no allocation per delta.
/// ``SessionRecorder`` feeds it the events of a log's bytes or of live messages (``SessionConverter`` and the command
/// line through it); an archiver can also feed it events itself (read each message with an `EventReader`). Audio
/// written before a failure stays in a valid file.
///
/// Not thread-safe: one caller at a time. With an Opus output the encoding runs on a thread of its own behind a
/// bounded buffer, and ``take(_:line:)`` blocks while that buffer is full, so call it from a thread of your own,
/// not from a task of Swift's cooperative pool.
package final class SessionPipeline {
    /// How the output is written, which tracks, how strictly problems are taken.
    package let options: ConversionOptions
    /// The input's name, for problems.
    package let inputName: String
    /// Problems found so far (each was reported as it was found).
    package private(set) var problemCount = 0
    /// Audio messages of a track not written (the user's while the assistant's is written, and the other way round):
    /// a session without audio of the chosen track may have the other's.
    package private(set) var otherTrackDeltaCount = 0
    /// Whether audio of a written track has arrived.
    package private(set) var sawAudio = false

    private let report: (Problem) -> Void
    private let output: TimelineOutput
    private let timeline: ConversationTimeline<TimelineOutput>
    private var payloads = PayloadDecoder()
    /// The problems reported so far, by kind.
    private var sampler = ProblemSampler()
    /// Streams already warned about for base64 that was decoded leniently: one warning a stream (at most 1000 remembered).
    private var streamsWithLenientBase64 = Set<AudioStreamKey>()
    /// Message types counted until the first audio, to say what a session without audio holds instead.
    private var typeCountsBeforeAudio: [String: Int] = [:]

    /// Creates a pipeline; nothing is written until the first audio of a chosen track.
    ///
    /// - Parameters:
    ///   - options: The output's format and settings, the tracks and layout, strictness. (The input options are not
    ///     used here.)
    ///   - inputName: The input's name, for problems.
    ///   - makeSink: Opens where the bytes go; called once per output file, at the first audio: with `nil` for the one
    ///     output, with the track for ``ChannelLayout/separate`` files.
    ///   - problem: Receives each problem as it is found, unless ``ConversionOptions/strict`` makes it the failure.
    package init(
        options: ConversionOptions,
        inputName: String,
        makeSink: @escaping (_ track: AudioTrack?) throws(OutputError) -> any ByteSink,
        problem: @escaping (Problem) -> Void
    ) {
        self.options = options
        self.inputName = inputName
        report = problem
        output = TimelineOutput(options: options, makeSink: makeSink)
        timeline = ConversationTimeline(selection: options.track, keepsTruncated: options.keepsTruncated, sink: output)
    }

    /// Seconds of wall time between flushes while events flow, for a live session: a process killed then loses at
    /// most that of what it had received. `nil` (the default, right for a log read from a file) flushes only as the
    /// writers do on their own, so the output is the same bytes however fast the machine is.
    package var flushInterval: Double? {
        didSet { output.setFlushInterval(flushInterval) }
    }

    /// The writer, once audio has been written: its rate, channel count and frames written (the user's file of
    /// separate files).
    package var writer: (any PCMWriter)? { output.writers.first }

    /// Every writer opened: one, or two for separate files.
    package var writers: [any PCMWriter] { output.writers }
    /// Seconds of audio read but not yet written (assistant answers queued to play), for the progress display.
    package var queuedSeconds: Double { timeline.queuedSeconds }
    /// Every rate the session's audio came in at, in increasing order (for ``ConversionSummary/sourceSampleRates``).
    package var sourceSampleRates: [Int] { output.sourceRates.sorted() }

    /// What the timeline did: the placement rule, items, cuts, where each track ends.
    package var timelineStatistics: TimelineStatistics { timeline.statistics }

    /// Takes one event: puts the audio it carries for the chosen tracks on the timeline, then what it says about
    /// turns and interruptions.
    ///
    /// - Parameters:
    ///   - event: The event, valid during the call.
    ///   - line: Where the event is in the input, for problems.
    /// - Throws: ``ConversionError``: a write failure, or under strict reading the first problem.
    package func take(_ event: Event, line: Int) throws(ConversionError) {
        timeline.noteTime(event.time)
        var tookAudio = false
        try event.forEachAudioDelta { (delta) throws(ConversionError) in
            if options.track.includes(delta.track) {
                try take(delta, line: line, message: event.message)
                tookAudio = true
            } else {
                otherTrackDeltaCount += 1
                // The user's audio is the clock the assistant's is placed on: counted, not decoded.
                if delta.track == .user {
                    try timeline.advance(byteCount: Self.decodedByteCount(delta, in: event.message), of: delta,
                                         in: event.message, line: line)
                }
            }
        }
        try timeline.takeSignals(of: event, line: line)
        try reportTimelineNotes()
        if tookAudio {
            sawAudio = true
        } else if !sawAudio {
            typeCountsBeforeAudio.tally(event.typeName ?? "(no type)", limit: 256, overflow: "(other types)")
        }
        try output.flushIfDue()
    }

    /// Puts what the output holds where a reader (or the file a killed process leaves) has it; the output goes on.
    /// Call it while a live input stalls (``SessionLog/inputStall`` does, for the converter); while events flow, the
    /// pipeline flushes every ``flushInterval``. Audio the timeline still holds (an item that may yet be cut) is not
    /// written by a flush.
    ///
    /// - Throws: ``ConversionError/output(_:)`` when writing fails.
    package func flush() throws(ConversionError) {
        try output.flush()
    }

    /// Writes the audio the timeline holds (items that could still be cut), then flushes: for a live input that
    /// stalls, so that what was received reaches the file. A cut that arrives later for that audio cannot apply.
    ///
    /// - Throws: ``ConversionError/output(_:)`` when writing fails.
    package func flushReleasingHeldAudio() throws(ConversionError) {
        try timeline.releaseHeld()
        try reportTimelineNotes()
        try output.releasePending()
        try output.flush()
    }

    /// Reports a problem found while reading the input; under strict reading it is the failure.
    ///
    /// - Throws: ``ConversionError/badInput(_:)`` under strict reading.
    ///
    /// The first few problems of each kind go to the `problem` callback; the rest are counted, and ``finish(line:noAudio:)``
    /// reports how many more of each kind there were.
    package func note(_ problem: Problem) throws(ConversionError) {
        problemCount += 1
        if options.strict {
            throw .badInput("\(problem) (stopped by --strict at the first problem; the output holds the audio before this line)")
        }
        if sampler.admit(problem) { report(problem) }
    }

    /// Ends the session: writes what the timeline holds, reports streams left with half a sample, flushes the
    /// resamplers and finalizes the output.
    ///
    /// - Parameters:
    ///   - line: The input's last line, for problems found at the end.
    ///   - noAudio: Why there was no audio, in words (the caller knows the input), when none arrived.
    /// - Throws: ``ConversionError/badInput(_:)`` when no audio arrived, or all of it was cut; a write failure.
    package func finish(line: Int, noAudio: (_ typeCountsBeforeAudio: [String: Int]) -> String) throws(ConversionError) {
        guard sawAudio else {
            throw .badInput(noAudio(typeCountsBeforeAudio))
        }
        try timeline.finish()
        try reportTimelineNotes()
        for omission in sampler.omissions(input: inputName) { report(omission) }
        try output.finish()
        guard writer != nil else {
            let statistics = timeline.statistics
            throw .badInput("\(inputName): all of the \(options.track == .user ? "user's" : "assistant's") audio was cut where the "
                + "listener interrupted it (\(formatMilliseconds(statistics.cutSeconds + statistics.droppedSeconds)) generated, "
                + "none heard); --keep-truncated keeps everything generated")
        }
    }

    /// Closes the output on any path out of a conversion, so what was written stays readable: after a failure, the
    /// audio the timeline still held is written first (nothing received before the failure is lost).
    package func closeQuietly() {
        try? timeline.releaseHeld()
        try? output.releasePending()
        output.closeQuietly()
    }

    /// The length a payload decodes to, from its text alone (escapes and whitespace, which are rare, are counted as
    /// characters): enough to follow the clock without decoding audio that is not written.
    private static func decodedByteCount(_ delta: AudioDelta, in message: UnsafeRawBufferPointer) -> Int {
        let text = message[delta.payload]
        let padding = text.suffix(2).filter { $0 == UInt8(ascii: "=") }.count
        return Base64.nominalDecodedByteCount(encodedByteCount: text.count, paddingCount: padding)
    }

    private func reportTimelineNotes() throws(ConversionError) {
        for note in timeline.takeNotes() {
            try self.note(Problem(input: inputName, line: note.line, message: note.message))
        }
    }

    private func take(_ delta: AudioDelta, line: Int, message: UnsafeRawBufferPointer) throws(ConversionError) {
        // The closure returns nothing: a generic result (an optional tuple) would cost a runtime metadata lookup per
        // delta, since the decoder is generic across a module boundary (measured: 3% of the user time end to end).
        var decodeError: Base64.DecodingError?
        var silenceByteCount = 0
        var leniency: Base64Leniency = []
        try payloads.decode(delta, in: message) { (result) throws(ConversionError) in
            if let error = result.error {
                decodeError = error
                silenceByteCount = result.bytes.count
            }
            leniency = result.leniency
            // Under strict reading the problem is the failure: nothing of this payload (its silence, or audio decoded
            // leniently) reaches the output, which holds the audio before it.
            if options.strict, decodeError != nil || !leniency.isEmpty { return }
            try timeline.take(result.bytes, of: delta, in: message, line: line)
        }
        if options.strict, let error = decodeError {
            try note(Problem(input: inputName, line: line, message: "\(error) in the audio payload"))
        }
        if !leniency.isEmpty, streamsWithLenientBase64.count < 1_000, streamsWithLenientBase64.insert(AudioStreamKey(delta, in: message)).inserted {
            try note(Problem(input: inputName, line: line, message:
                "the audio payload is base64 with \(leniency), not strict RFC 4648; it was decoded all the same "
                + "(later payloads of this stream like it are not reported)"))
        }
        if let error = decodeError {
            let silence = delta.format.durationSeconds(byteCount: silenceByteCount)
            try note(Problem(input: inputName, line: line, message:
                "\(error) in the audio payload; replaced by \(formatMilliseconds(silence)) of silence"))
        }
    }
}
