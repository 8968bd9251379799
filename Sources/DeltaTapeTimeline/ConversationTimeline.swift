import DeltaTapeKernels
@_spi(Blocks) package import DeltaTapeEvents

/// Puts both sides of a conversation on one session clock, one message at a time: assistant audio collected per stream
/// (concurrent streams never interleave), cut where the listener stopped hearing it, placed against the user's audio
/// by the session's placement rule; each track's audio and the silences between go to a ``TimelineSink`` in clock
/// order. `docs/TIMELINE.md` states every rule.
///
/// An item is held only until it can no longer be cut — it was cut, it finished playing on the clock, or a later turn
/// began after it was done — so memory is bounded by the longest item, never by the session.
///
/// For one track alone (``TrackSelection/assistant``, ``TrackSelection/user``) the sink receives that track's items
/// joined without gaps. The other track is still followed where it is the clock: pass its audio to
/// ``advance(_:of:line:)`` without decoding it.
package final class ConversationTimeline<Sink: TimelineSink> {
    // The state below is the timeline's alone: touched only by its own methods, on one thread at a time (the type is
    // not Sendable), and never passed inout to a callback that reaches back into it (the dynamic checks, which proved
    // it in every test, never tripped). So it is not checked for exclusive access at run time, a check per property
    // access that cost 7% of the reading thread converting an hour's session (perf, swift_beginAccess callers).
    // Its jobs have files of their own, extensions of this class, which is why most of the state is internal rather
    // than private: placement (+Placement), cuts (+Cuts), the held-audio queue (+HeldAudio), writing to the sink
    // (+Writing); the items are in Item.swift, the count of queued audio in QueuedAudio.swift.
    /// The tracks written to the sink.
    package let selection: TrackSelection
    /// Whether cuts are ignored: everything generated is kept.
    package let keepsTruncated: Bool
    /// What the timeline did so far.
    @exclusivity(unchecked) package internal(set) var statistics = TimelineStatistics()

    let sink: Sink
    @exclusivity(unchecked) var notes: [TimelineNote] = []
    @exclusivity(unchecked) var joiner = TrackAssembler()
    @exclusivity(unchecked) var assistantTrack = PlacedTrack()
    @exclusivity(unchecked) var userTrack = PlacedTrack()

    /// Items not yet written, in play order (the order of their first delta).
    @exclusivity(unchecked) var queue: [Item] = []
    /// The assistant audio of ``queue`` that will play (dropped items and audio past a cut left out), kept current by
    /// the items as they change.
    let queuedAudio: QueuedAudio
    /// Items still taking audio, by stream.
    @exclusivity(unchecked) var openItems: [AudioStreamKey: Item] = [:]
    /// The user's turn taking audio, in a turn-based session.
    @exclusivity(unchecked) var userTurn: Item?
    @exclusivity(unchecked) var itemSequence = 0
    /// Chunks of audio placed in items so far: the order of arrival.
    @exclusivity(unchecked) var audioOrder = 0
    /// Streams already written, with how far they got and where they were cut: a late delta continues them.
    @exclusivity(unchecked) var finishedStreams: [AudioStreamKey: FinishedStream] = [:]
    @exclusivity(unchecked) var finishedOrder: [AudioStreamKey] = []
    /// Truncations that named an item before any of its audio arrived.
    @exclusivity(unchecked) var pendingCuts: [ItemReference: Int] = [:]

    @exclusivity(unchecked) private var turnDetection: Bool?
    @exclusivity(unchecked) private var clientTakesTurns = false
    @exclusivity(unchecked) var sawUserAudio = false
    @exclusivity(unchecked) var sawPositionedAssistant = false
    @exclusivity(unchecked) var sawPositionedUser = false
    /// The session's first message time, and the latest time since it.
    @exclusivity(unchecked) private var firstTime: Double?
    @exclusivity(unchecked) var timeClock = 0.0
    /// Vocabularies without stream ids have one stream a turn: the turn's number.
    @exclusivity(unchecked) var assistantTurn = 0
    /// ElevenLabs: audio events up to this id arriving after an interruption are dropped.
    @exclusivity(unchecked) var dropEventsUpTo: Int?
    /// The server's voice detection: spans of user speech, in seconds of user audio (the session clock).
    @exclusivity(unchecked) var speech: [(start: Double, end: Double?)] = []
    @exclusivity(unchecked) var finishing = false
    @exclusivity(unchecked) var releasingAll = false
    /// Sample storage of written items, kept for the next items (at most four, none past ``largestSpareBuffer``).
    @exclusivity(unchecked) var spareSampleBuffers: [[Int16]] = []
    static var largestSpareBuffer: Int { 1 << 22 }
    /// Streams written whose leftover byte (half a sample) is to be ended once the joiner is not mid-call.
    @exclusivity(unchecked) var retiredStreams: [AudioStreamKey] = []
    @exclusivity(unchecked) var overlapWarned = Set<AudioTrack>()

    /// Creates a timeline writing `selection` to `sink`.
    package init(selection: TrackSelection, keepsTruncated: Bool = false, sink: Sink) {
        self.selection = selection
        self.keepsTruncated = keepsTruncated
        self.sink = sink
        queuedAudio = QueuedAudio(keepsTruncated: keepsTruncated)
    }

    /// Whether the session takes turns (push-to-talk) rather than streaming the microphone.
    package var isTurnBased: Bool { turnDetection == false || (turnDetection == nil && clientTakesTurns) }

    /// The session clock now, in seconds: how much user audio has arrived, or the time since the first message,
    /// whichever is later.
    package var clock: Double { max(userTrack.endSeconds, timeClock) }

    /// Frames of audio held because they may still be cut (not yet given to the sink).
    /// Seconds of assistant audio queued to play, not yet written.
    package var queuedSeconds: Double { queuedAudio.seconds }

    package var heldFrameCount: Int { queue.reduce(0) { $0 + $1.samples.count } }

    /// Takes the notes gathered since the last call (audio that could not be placed as the log asked, half samples).
    package func takeNotes() -> [TimelineNote] {
        defer { notes.removeAll() }
        return notes
    }

    // MARK: - Messages

    /// Notes the time a message was logged (seconds since the epoch), before its audio and signals.
    package func noteTime(_ time: Double?) {
        guard let time else { return }
        let first = firstTime ?? time
        firstTime = first
        if time - first > timeClock {
            timeClock = time - first
            statistics.usedMessageTimes = true
        }
    }

    /// Takes a decoded payload of a track that is written.
    ///
    /// - Parameters:
    ///   - bytes: The payload's bytes (PCM16 little-endian or G.711 per `delta.format`).
    ///   - delta: Where it came from: its track, stream, format, position.
    ///   - message: The bytes `delta` points into.
    ///   - line: Where the message is, for notes.
    package func take(_ bytes: UnsafeRawBufferPointer, of delta: AudioDelta, in message: UnsafeRawBufferPointer, line: Int) throws(Sink.Failure) {
        guard acceptsSource(of: delta) else { return }
        let key = streamKey(delta, message)
        try joiner.append(bytes, format: delta.format, key: key, line: line) { (samples) throws(Sink.Failure) in
            try place(samples, frameCount: samples.count, of: delta, key: key, line: line)
        }
        endRetiredStreams()
    }

    /// Takes a payload of a track that is not written, by its length alone: the user's audio is the clock even when
    /// only the assistant is recorded.
    ///
    /// - Parameters:
    ///   - byteCount: The payload's decoded length in bytes.
    package func advance(byteCount: Int, of delta: AudioDelta, in message: UnsafeRawBufferPointer, line: Int) throws(Sink.Failure) {
        guard acceptsSource(of: delta) else { return }
        let frames = delta.format.encoding == .pcm16 ? byteCount / 2 : byteCount
        try place(nil, frameCount: frames, of: delta, key: streamKey(delta, message), line: line)
        endRetiredStreams()
    }

    /// Takes what a message says besides its audio: a stream done, a truncation, an interruption, turn signals.
    /// Call it after the message's audio.
    package func takeSignals(of event: Event, line: Int) throws(Sink.Failure) {
        let message = event.message
        switch event.content {
        case .audioDone(let reference):
            let key = AudioStreamKey(reference, in: message)
            if let item = openItems[key] { markDone(item) }
        case .truncation(let truncation):
            let itemID = truncation.itemID.map { JSONString.decode(message, $0, hasEscapes: message[$0].contains(UInt8(ascii: "\\"))) } ?? ""
            truncate(ItemReference(itemID: itemID, contentIndex: truncation.contentIndex), at: truncation.audioEndMilliseconds,
                     isRequest: truncation.isRequest, line: line)
        case .interruption(let interruption):
            interrupt(interruption, line: line)
        case .audio, .audioParts, .other:
            break
        }
        let turns = event.turns
        if let interruption = turns.interruption { interrupt(interruption, line: line) }
        if let detection = turns.turnDetection { turnDetection = detection }
        if turns.endsUserTurn {
            clientTakesTurns = true
            endUserTurn()
        }
        if turns.endsAssistantTurn { endAssistantTurn() }
        if let (started, milliseconds) = turns.userSpeech {
            let seconds = Double(milliseconds) / 1000
            // One span open at a time; a start without a stop closes the span before it.
            if let last = speech.indices.last, speech[last].end == nil {
                if started { speech[last].end = seconds } else { speech[last].end = max(speech[last].start, seconds) }
            }
            if started { speech.append((seconds, nil)) }
            if speech.count > 64 { speech.removeFirst(speech.count - 64) }
        }
        try release()
        endRetiredStreams()
    }

    /// Writes every item held, as if it could no longer be cut: for a live input that stalls, whose audio so far must
    /// reach the file. An item still taking audio goes on as a new item placed after it (as after a pause); a cut that
    /// comes later for audio written here cannot apply.
    package func releaseHeld() throws(Sink.Failure) {
        releasingAll = true
        defer { releasingAll = false }
        if let turn = userTurn, queue.contains(where: { $0 === turn }) { userTurn = nil }
        try release()
        endRetiredStreams()
    }

    /// Ends the session: every item is written, the tracks end together (both tracks), half samples are noted.
    package func finish() throws(Sink.Failure) {
        finishing = true
        endUserTurn()
        try release()
        endRetiredStreams()
        for half in joiner.halfSamples {
            noteHalfSample(half)
            _ = joiner.end(half.stream)
        }
        if selection == .both {
            let end = max(assistantTrack.endSeconds, userTrack.endSeconds)
            try pad(.assistant, to: end, rate: assistantTrack.rate != 0 ? assistantTrack.rate : userTrack.rate)
            try pad(.user, to: end, rate: userTrack.rate != 0 ? userTrack.rate : assistantTrack.rate)
        }
        statistics.assistantEndSeconds = assistantTrack.endSeconds
        statistics.userEndSeconds = userTrack.endSeconds
        statistics.rule = sawPositionedAssistant ? .positioned : isTurnBased && sawUserAudio ? .turnBased
            : sawUserAudio ? .continuousInput : .assistantOnly
    }
}
