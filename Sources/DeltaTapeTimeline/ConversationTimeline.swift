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
    /// The tracks written to the sink.
    package let selection: TrackSelection
    /// Whether cuts are ignored: everything generated is kept.
    package let keepsTruncated: Bool
    /// What the timeline did so far.
    @exclusivity(unchecked) package private(set) var statistics = TimelineStatistics()

    private let sink: Sink
    @exclusivity(unchecked) private var notes: [TimelineNote] = []
    @exclusivity(unchecked) private var joiner = TrackAssembler()
    @exclusivity(unchecked) private var assistantTrack = PlacedTrack()
    @exclusivity(unchecked) private var userTrack = PlacedTrack()

    /// Items not yet written, in play order (the order of their first delta).
    @exclusivity(unchecked) private var queue: [Item] = []
    /// The assistant audio of ``queue`` that will play (dropped items and audio past a cut left out), kept current by
    /// the items as they change.
    private let queuedAudio: QueuedAudio
    /// Items still taking audio, by stream.
    @exclusivity(unchecked) private var openItems: [AudioStreamKey: Item] = [:]
    /// The user's turn taking audio, in a turn-based session.
    @exclusivity(unchecked) private var userTurn: Item?
    @exclusivity(unchecked) private var itemSequence = 0
    /// Chunks of audio placed in items so far: the order of arrival.
    @exclusivity(unchecked) private var audioOrder = 0
    /// Streams already written, with how far they got and where they were cut: a late delta continues them.
    @exclusivity(unchecked) private var finishedStreams: [AudioStreamKey: FinishedStream] = [:]
    @exclusivity(unchecked) private var finishedOrder: [AudioStreamKey] = []
    /// Truncations that named an item before any of its audio arrived.
    @exclusivity(unchecked) private var pendingCuts: [ItemReference: Int] = [:]

    @exclusivity(unchecked) private var turnDetection: Bool?
    @exclusivity(unchecked) private var clientTakesTurns = false
    @exclusivity(unchecked) private var sawUserAudio = false
    @exclusivity(unchecked) private var sawPositionedAssistant = false
    @exclusivity(unchecked) private var sawPositionedUser = false
    /// The session's first message time, and the latest time since it.
    @exclusivity(unchecked) private var firstTime: Double?
    @exclusivity(unchecked) private var timeClock = 0.0
    /// Vocabularies without stream ids have one stream a turn: the turn's number.
    @exclusivity(unchecked) private var assistantTurn = 0
    /// ElevenLabs: audio events up to this id arriving after an interruption are dropped.
    @exclusivity(unchecked) private var dropEventsUpTo: Int?
    /// The server's voice detection: spans of user speech, in seconds of user audio (the session clock).
    @exclusivity(unchecked) private var speech: [(start: Double, end: Double?)] = []
    @exclusivity(unchecked) private var finishing = false
    @exclusivity(unchecked) private var releasingAll = false
    /// Sample storage of written items, kept for the next items (at most four, none past ``largestSpareBuffer``).
    @exclusivity(unchecked) private var spareSampleBuffers: [[Int16]] = []
    private static var largestSpareBuffer: Int { 1 << 22 }
    /// Streams written whose leftover byte (half a sample) is to be ended once the joiner is not mid-call.
    @exclusivity(unchecked) private var retiredStreams: [AudioStreamKey] = []
    @exclusivity(unchecked) private var overlapWarned = Set<AudioTrack>()

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

    // MARK: - Placing audio

    /// Whether `delta`'s track takes its audio from `delta`'s vocabulary: the first that delivered audio for the track.
    private func acceptsSource(of delta: AudioDelta) -> Bool {
        switch delta.track {
        case .assistant:
            if statistics.assistantSource == nil { statistics.assistantSource = delta.vocabulary }
            if statistics.assistantSource == delta.vocabulary { return true }
        case .user:
            if statistics.userSource == nil { statistics.userSource = delta.vocabulary }
            if statistics.userSource == delta.vocabulary { return true }
        }
        statistics.otherSourceChunkCount += 1
        return false
    }

    /// The stream of `delta`; for vocabularies without ids, the current turn's.
    private func streamKey(_ delta: AudioDelta, _ message: UnsafeRawBufferPointer) -> AudioStreamKey {
        if delta.track == .user { return Self.userKey }
        guard delta.responseID != nil || delta.itemID != nil else {
            return AudioStreamKey(responseID: "", itemID: "(turn \(assistantTurn + 1))", contentIndex: 0)
        }
        return joiner.streamKey(delta, message)
    }

    /// Clock time without audio after which an unfinished stream counts as paused: its audio so far is written, and
    /// what follows starts where it arrives (a client's playback runs dry the same way).
    static var pauseSeconds: Double { 1 }

    /// How far the assistant's audio may run ahead of the user's before the user's stream counts as paused: longer than
    /// any answer a server sends ahead of playback in a session whose client streams its microphone all along.
    static var userPauseSeconds: Double { 120 }

    private static var userKey: AudioStreamKey { AudioStreamKey(responseID: "", itemID: "(user)", contentIndex: 0) }

    private func place(
        _ samples: UnsafeBufferPointer<Int16>?, frameCount: Int, of delta: AudioDelta, key: AudioStreamKey, line: Int
    ) throws(Sink.Failure) {
        guard frameCount > 0 else { return }
        let rate = delta.format.sampleRate
        switch delta.track {
        case .user:
            sawUserAudio = true
            if isTurnBased && delta.startMilliseconds == nil {
                let turn = userTurn ?? openItem(track: .user, key: key, rate: rate)
                if userTurn == nil { statistics.userTurnCount += 1 }
                userTurn = turn
                audioOrder += 1
                turn.append(samples, frameCount: frameCount, keeping: selection.includes(.user), order: audioOrder)
                return
            }
            if let start = delta.startMilliseconds {
                sawPositionedUser = true
                try placePositioned(samples, frameCount: frameCount, rate: rate, track: .user, at: Double(start) / 1000, line: line)
            } else {
                // With message times, user audio that arrives well after the track's end leaves a gap: silence.
                let duration = Double(frameCount) / Double(rate)
                if statistics.usedMessageTimes, selection == .both, timeClock - duration > userTrack.endSeconds + 0.5 {
                    try pad(.user, to: timeClock - duration, rate: rate)
                }
                try write(samples, frameCount: frameCount, rate: rate, track: .user)
            }
            if statistics.userTurnCount == 0 { statistics.userTurnCount = 1 }
            try release()
        case .assistant:
            if let upTo = dropEventsUpTo, let id = delta.eventID, id <= upTo, !keepsTruncated {
                statistics.droppedSeconds += Double(frameCount) / Double(rate)
                return
            }
            if let start = delta.startMilliseconds {
                sawPositionedAssistant = true
                try placePositioned(samples, frameCount: frameCount, rate: rate, track: .assistant, at: Double(start) / 1000, line: line)
                return
            }
            guard let item = assistantItem(key, rate: rate, frameCount: frameCount) else { return }
            audioOrder += 1
            item.append(samples, frameCount: frameCount, keeping: selection.includes(.assistant), order: audioOrder)
            try release()
        }
    }

    /// The open item of stream `key`, or a new one (a new stream, a stream resumed after it was written, or a change of
    /// rate); `nil` when the stream was cut before this audio.
    private func assistantItem(_ key: AudioStreamKey, rate: Int, frameCount: Int) -> Item? {
        if let item = openItems[key], item.rate == rate { return item }
        var offset = 0
        if let open = openItems[key] {
            // The format changed within a stream: what follows is a new item at the new rate.
            markDone(open)
            openItems[key] = nil
            offset = open.streamOffset + open.frameCount
        } else if let finished = finishedStreams[key] {
            if let cut = finished.cut, !keepsTruncated, finished.frameCount >= cut {
                statistics.droppedSeconds += Double(frameCount) / Double(rate)
                return nil
            }
            offset = finished.frameCount
        }
        // A new item of the assistant ends a user's turn in a turn-based session.
        if isTurnBased { endUserTurn() }
        let item = openItem(track: .assistant, key: key, rate: rate, streamOffset: offset)
        if let cut = pendingCuts.removeValue(forKey: ItemReference(itemID: key.itemID, contentIndex: key.contentIndex)) {
            item.cut = (cut * rate + 500) / 1000
        }
        if let finished = finishedStreams[key] { item.cut = finished.cut }
        statistics.assistantItemCount += 1
        return item
    }

    private func openItem(track: AudioTrack, key: AudioStreamKey, rate: Int, streamOffset: Int = 0) -> Item {
        itemSequence += 1
        let item = Item(track: track, key: key, rate: rate, sequence: itemSequence, arrivalClock: clock, streamOffset: streamOffset,
                        queuedAudio: track == .assistant ? queuedAudio : nil)
        if let spare = spareSampleBuffers.popLast() { item.samples = spare }
        if track == .assistant { openItems[key] = item }
        queue.append(item)
        return item
    }

    /// Audio that carries its position: placed there on both tracks' clock (a gap is silence, an overlap is trimmed);
    /// joined without gaps for one track alone.
    private func placePositioned(
        _ samples: UnsafeBufferPointer<Int16>?, frameCount: Int, rate: Int, track: AudioTrack, at start: Double, line: Int
    ) throws(Sink.Failure) {
        guard selection == .both else {
            return try write(samples, frameCount: frameCount, rate: rate, track: track)
        }
        var placed = self[track]
        let gap = placed.frames(until: start, rate: rate)
        if gap > 0 {
            try pad(track, to: start, rate: rate)
        } else if gap < 0 {
            let overlap = min(-gap, frameCount)
            if overlapWarned.insert(track).inserted {
                notes.append(TimelineNote(line: line, message:
                    "\(track) audio placed at \(Int((start * 1000).rounded())) ms overlaps audio already placed there; "
                    + "its first \(overlap) samples were left out (later overlaps on this track are not reported)"))
            }
            guard overlap < frameCount else { return }
            return try write(samples.map { UnsafeBufferPointer(rebasing: $0[overlap...]) }, frameCount: frameCount - overlap,
                             rate: rate, track: track)
        }
        try write(samples, frameCount: frameCount, rate: rate, track: track)
    }

    // MARK: - Cuts

    private func markDone(_ item: Item) {
        guard !item.isDone else { return }
        item.isDone = true
    }

    private func endUserTurn() {
        guard let turn = userTurn else { return }
        markDone(turn)
        userTurn = nil
    }

    /// The current turn of vocabularies without ids ended: its item is done, and the next audio starts another.
    private func endAssistantTurn() {
        let key = AudioStreamKey(responseID: "", itemID: "(turn \(assistantTurn + 1))", contentIndex: 0)
        if let item = openItems[key] { markDone(item) }
        assistantTurn += 1
    }

    private func truncate(_ reference: ItemReference, at milliseconds: Int, isRequest: Bool, line: Int) {
        guard !keepsTruncated else { return }
        let items = queue.filter { $0.track == .assistant && $0.key.itemID == reference.itemID && $0.key.contentIndex == reference.contentIndex }
        guard let rate = items.first?.rate else {
            if let (key, finished) = finishedStreams.first(where: { $0.key.itemID == reference.itemID && $0.key.contentIndex == reference.contentIndex }) {
                let cut = (milliseconds * finished.rate + 500) / 1000
                // It had finished playing on the session clock before the truncation came: nothing left to cut.
                if cut < finished.frameCount, finished.cut.map({ cut < $0 }) ?? true {
                    statistics.interruptionsWithoutEffect += 1
                }
                finishedStreams[key]?.cut = min(cut, finished.cut ?? .max)
            } else if pendingCuts.count < 1_024 {
                pendingCuts[reference] = min(milliseconds, pendingCuts[reference] ?? .max)
            }
            return
        }
        let cut = (milliseconds * rate + 500) / 1000
        for item in items {
            item.cut = min(cut, item.cut ?? .max)
        }
        // Part of the stream was placed before (it paused): that part stays.
        if let first = items.first, first.streamOffset > cut {
            statistics.interruptionsWithoutEffect += 1
        }
    }

    /// An interruption without an offset: the item playing at the clock's position is cut there, items queued behind it
    /// are dropped. Turn-based sessions and logs where nothing has played yet cut nothing.
    private func interrupt(_ interruption: Interruption, line: Int) {
        defer { endAssistantTurn() }
        guard !keepsTruncated else { return }
        if let id = interruption.eventID { dropEventsUpTo = max(id, dropEventsUpTo ?? id) }
        // A bridge's log: the other side's interruption (a Twilio clear beside OpenAI's truncation) is not this track's.
        if let source = statistics.assistantSource, let vocabulary = interruption.vocabulary, source != vocabulary { return }
        let now = clock
        var position = assistantTrack.endSeconds
        var sawFirst = false
        for item in queue where item.track == .assistant && !item.dropped {
            let start = item.start ?? max(item.arrivalClock, position)
            let length = Double(item.keptFrameCount(keepsTruncated)) / Double(item.rate)
            if !sawFirst {
                sawFirst = true
                // Nothing had started playing (no user audio or message times since the audio arrived), or turns follow
                // each other: there is no position to cut at.
                if now <= start || isTurnBased {
                    statistics.interruptionsWithoutEffect += 1
                    return
                }
            }
            if start >= now {
                item.dropped = true
            } else if now < start + length {
                item.cut = min(item.streamOffset + Int(((now - start) * Double(item.rate)).rounded()), item.cut ?? .max)
                position = now
            } else {
                position = start + length
            }
        }
    }

    // MARK: - Writing

    /// Writes every item at the head of the queue that can no longer change, then the assistant's certain silence.
    private func release() throws(Sink.Failure) {
        while let head = queue.first {
            if head.dropped {
                removeHead()
                statistics.droppedItemCount += 1
                statistics.droppedSeconds += Double(head.frameCount) / Double(head.rate)
                retire(head)
                continue
            }
            let start = head.start ?? startOf(head)
            head.start = start
            try limitLead(of: head, startingAt: start)
            guard isFinal(head, startingAt: start) else { break }
            removeHead()
            try write(head, at: start)
            retire(head)
        }
        try padCertainSilence()
    }

    /// Takes the head item out of the queue (and out of ``queuedAudio``), before it is written: a sink that fails
    /// while writing it leaves the count right.
    private func removeHead() {
        queue.removeFirst().isQueued = false
    }

    /// Continuous input: assistant items queued to end more than ``userPauseSeconds`` ahead of the user's audio mean
    /// the user's stream paused (a client that mutes its microphone while the assistant speaks, in a log without
    /// times): the user track is silent until the item's end, which is then played on the clock. This also bounds what
    /// is held, whatever the input.
    private func limitLead(of item: Item, startingAt start: Double) throws(Sink.Failure) {
        guard item.track == .assistant, !isTurnBased, !sawPositionedUser, !sawPositionedAssistant else { return }
        // The items queued behind play after it: the queue's audio ends no earlier than this. Counted as the items
        // change, not by walking the queue on every release (it ran through every item held for each delta).
        assert(queuedAudio.matches(queue.filter { $0.track == .assistant && !$0.dropped }), "queued assistant audio miscounted")
        let queuedEnd = start + queuedAudio.seconds
        guard queuedEnd - clock > Self.userPauseSeconds else { return }
        let end = start + Double(item.keptFrameCount(keepsTruncated)) / Double(item.rate)
        try pad(.user, to: end, rate: userTrack.rate != 0 ? userTrack.rate : item.rate)
    }

    /// Where `item`, now at the head of the queue, starts.
    private func startOf(_ item: Item) -> Double {
        if isTurnBased || item.track == .user {
            return max(assistantTrack.endSeconds, userTrack.endSeconds)
        }
        return max(item.arrivalClock, assistantTrack.endSeconds)
    }

    private func isFinal(_ item: Item, startingAt start: Double) -> Bool {
        if finishing || releasingAll { return true }
        if item.track == .user { return item.isDone }
        if item.cut != nil, !keepsTruncated { return true }
        // Played to its end on the clock: done, or (no more audio for a second of clock) a stream that paused.
        let end = start + Double(item.frameCount) / Double(item.rate)
        if !isTurnBased, clock > start, clock >= end + (item.isDone ? 0 : Self.pauseSeconds) { return true }
        // A log without a clock (no user audio, no message times so far), or turns: a later turn began
        // after the item's last audio — a new response, a user turn, another turn of a vocabulary without ids — and the
        // item is done, or the later one has had seconds of audio since (a stream that never says it is done). The
        // conversation moved on; a truncation of this item comes before that. (Another item of the same response may
        // still be preceded by this one's truncation; a concurrent response keeps streaming.) Where the clock moves,
        // the item may still be cut while it plays, whatever arrives meanwhile.
        guard isTurnBased || (!sawUserAudio && !statistics.usedMessageTimes) else { return false }
        return queue.contains { later in
            later.firstAudioOrder > item.lastAudioOrder
                && (later.track == .user || later.key.responseID.isEmpty || later.key.responseID != item.key.responseID)
                && Self.hasMovedOn(from: item, to: later)
        }
    }

    /// Whether the conversation has moved on from `item` to `later`: both done (a late delta of `item` may come until
    /// `later` is done too), or `later` has had seconds of audio since (streams that never say they are done).
    private static func hasMovedOn(from item: Item, to later: Item) -> Bool {
        let laterHasPlayed = Double(later.frameCount) >= pauseSeconds * 5 * Double(later.rate)
        return laterHasPlayed || (item.isDone && later.isDone)
    }

    private func write(_ item: Item, at start: Double) throws(Sink.Failure) {
        let kept = item.keptFrameCount(keepsTruncated)
        if kept < item.frameCount {
            statistics.cutItemCount += item.frameCount > 0 ? 1 : 0
            statistics.cutSeconds += Double(item.frameCount - kept) / Double(item.rate)
        }
        if selection == .both { try pad(item.track, to: start, rate: item.rate) }
        if item.track == .assistant { noteOverlap(start: start, seconds: Double(kept) / Double(item.rate)) }
        try item.samples.withUnsafeBufferPointer { (samples) throws(Sink.Failure) in
            let held = item.holdsSamples ? UnsafeBufferPointer(rebasing: samples[..<kept]) : nil
            try write(held, frameCount: kept, rate: item.rate, track: item.track)
        }
        // Written ahead of the user's audio by more than the pause (a log whose clock stood still): the same rule.
        if item.track == .assistant, !isTurnBased, !sawPositionedUser, !sawPositionedAssistant,
           assistantTrack.endSeconds - userTrack.endSeconds > Self.userPauseSeconds {
            try pad(.user, to: assistantTrack.endSeconds, rate: userTrack.rate != 0 ? userTrack.rate : item.rate)
        }
        // Sequential placement: nothing plays on the other track while this item does.
        if selection == .both, isTurnBased {
            let other: AudioTrack = item.track == .user ? .assistant : .user
            try pad(other, to: self[item.track].endSeconds, rate: self[other].rate != 0 ? self[other].rate : item.rate)
        }
    }

    /// Forgets a written item; its stream is remembered (bounded) so that a late delta continues it.
    private func retire(_ item: Item) {
        // Its sample storage serves a later item: an hour of answers otherwise reallocates its way up each time.
        if item.samples.capacity <= Self.largestSpareBuffer, spareSampleBuffers.count < 4 {
            item.samples.removeAll(keepingCapacity: true)
            spareSampleBuffers.append(item.samples)
        }
        item.samples = []
        // The joiner may be mid-call (this runs inside its `emit`): its leftover bytes are ended afterwards.
        guard item.track == .assistant else {
            if item.isDone || finishing { retiredStreams.append(item.key) }
            return
        }
        if openItems[item.key] === item { openItems[item.key] = nil }
        if item.isDone || item.cut != nil { retiredStreams.append(item.key) }
        if finishedStreams[item.key] == nil {
            finishedOrder.append(item.key)
            if finishedOrder.count > 256 { finishedStreams[finishedOrder.removeFirst()] = nil }
        }
        finishedStreams[item.key] = FinishedStream(rate: item.rate, frameCount: item.streamOffset + item.frameCount,
                                                   cut: keepsTruncated ? nil : item.cut)
    }

    /// Continuous input, both tracks: the assistant track is silent until the first item not yet written can start,
    /// and no later item can start before the clock; writing that silence now keeps the tracks level.
    private func padCertainSilence() throws(Sink.Failure) {
        // Where the assistant's audio may carry its own position (a GPT-Live sideband, a Twilio fork of both tracks), it
        // may arrive after the clock passed it: nothing is certain before it does.
        guard selection == .both, !isTurnBased, !sawPositionedAssistant, !sawPositionedUser,
              statistics.userSource != .openAIGPTLive else { return }
        var until = clock
        if let next = queue.first(where: { $0.track == .assistant && !$0.dropped }) {
            until = min(until, next.start ?? max(next.arrivalClock, assistantTrack.endSeconds))
        }
        let rate = assistantTrack.rate != 0 ? assistantTrack.rate
            : queue.first(where: { $0.track == .assistant })?.rate ?? (userTrack.rate != 0 ? userTrack.rate : 24_000)
        try pad(.assistant, to: until, rate: rate)
    }

    private func pad(_ track: AudioTrack, to seconds: Double, rate: Int) throws(Sink.Failure) {
        guard rate > 0 else { return }
        let frames = self[track].frames(until: seconds, rate: rate)
        guard frames > 0 else { return }
        self[track].advance(frames, rate: rate)
        if selection == .both { try sink.writeSilence(frameCount: frames, rate: rate, track: track) }
    }

    private func write(_ samples: UnsafeBufferPointer<Int16>?, frameCount: Int, rate: Int, track: AudioTrack) throws(Sink.Failure) {
        guard frameCount > 0 else { return }
        self[track].advance(frameCount, rate: rate)
        guard selection.includes(track) else { return }
        if let samples {
            try sink.write(samples, rate: rate, track: track)
        } else {
            try sink.writeSilence(frameCount: frameCount, rate: rate, track: track)
        }
    }

    private subscript(track: AudioTrack) -> PlacedTrack {
        get { track == .assistant ? assistantTrack : userTrack }
        set { if track == .assistant { assistantTrack = newValue } else { userTrack = newValue } }
    }

    private func noteOverlap(start: Double, seconds: Double) {
        guard seconds > 0, !speech.isEmpty else { return }
        let end = start + seconds
        for span in speech {
            let overlap = min(end, span.end ?? end) - max(start, span.start)
            if overlap > 0 { statistics.overlapSeconds += overlap }
        }
        // Spans that ended before this item are done with.
        speech.removeAll { $0.end.map { $0 < start } ?? false }
    }

    private func noteHalfSample(_ half: TrackAssembler.HalfSample) {
        let stream = half.stream
        let what = stream.itemID == "(user)" ? "the user's audio" : "the audio of item '\(stream.itemID)'"
            + (stream.responseID.isEmpty ? "" : " (response '\(stream.responseID)')")
        notes.append(TimelineNote(line: half.line, message: "\(what) ends with half a sample; its last byte was dropped"))
    }

    /// Ends the leftover bytes of streams retired since the last call (a half sample is noted), and notes the half
    /// samples the joiner gave up to stay bounded.
    private func endRetiredStreams() {
        for key in retiredStreams {
            if let half = joiner.end(key) { noteHalfSample(half) }
        }
        retiredStreams.removeAll(keepingCapacity: true)
        guard !joiner.givenUp.isEmpty else { return }
        for half in joiner.givenUp { noteHalfSample(half) }
        joiner.givenUp.removeAll()
    }
}

/// An item named by a truncation: `(item_id, content_index)`, without the response.
struct ItemReference: Hashable {
    var itemID: String
    var contentIndex: Int
}

/// How far a written stream got, for a delta that arrives after it was written.
struct FinishedStream {
    var rate: Int
    var frameCount: Int
    var cut: Int?
}

/// One item of the timeline: an assistant stream (or the part of it after a pause), or a user turn.
final class Item {
    let track: AudioTrack
    let key: AudioStreamKey
    let rate: Int
    let sequence: Int
    /// The clock when its first audio arrived.
    let arrivalClock: Double
    /// Frames of its stream written before it (a stream resumed after a pause or a change of rate).
    let streamOffset: Int
    /// The audio held (empty for a track that is not written: ``frameCount`` alone counts it).
    var samples: [Int16] = []
    var holdsSamples = false
    var frameCount = 0 { didSet { recount() } }
    var isDone = false
    /// Frames of the stream kept (counted from the stream's start), when cut.
    var cut: Int? { didSet { recount() } }
    var dropped = false { didSet { recount() } }
    /// Whether it is in the timeline's queue: from its creation until it is written or dropped.
    var isQueued = true { didSet { recount() } }
    /// Where an assistant item counts the frames it will play while queued.
    private let queuedAudio: QueuedAudio?
    /// Its frames as `queuedAudio` counts them now.
    private var countedFrameCount = 0
    var start: Double?
    /// When its first and last audio arrived, counted in chunks of audio of the session.
    var firstAudioOrder = 0
    var lastAudioOrder = 0

    init(track: AudioTrack, key: AudioStreamKey, rate: Int, sequence: Int, arrivalClock: Double, streamOffset: Int, queuedAudio: QueuedAudio?) {
        self.queuedAudio = queuedAudio
        self.track = track
        self.key = key
        self.rate = rate
        self.sequence = sequence
        self.arrivalClock = arrivalClock
        self.streamOffset = streamOffset
    }

    func append(_ incoming: UnsafeBufferPointer<Int16>?, frameCount count: Int, keeping: Bool, order: Int) {
        if firstAudioOrder == 0 { firstAudioOrder = order }
        lastAudioOrder = order
        if keeping, let incoming {
            holdsSamples = true
            // Audio past a known cut is never heard: not held.
            let room = cut.map { max(0, $0 - streamOffset - frameCount) } ?? count
            samples.append(contentsOf: incoming.prefix(min(room, count)))
        }
        frameCount += count
    }

    /// Frames written: all of them, or up to the cut.
    func keptFrameCount(_ keepsTruncated: Bool) -> Int {
        guard let cut, !keepsTruncated else { return frameCount }
        return max(0, min(frameCount, cut - streamOffset))
    }

    /// Brings `queuedAudio` to what the item will play now: its kept frames while queued and not dropped, else none.
    private func recount() {
        guard let queuedAudio else { return }
        let frames = isQueued && !dropped ? keptFrameCount(queuedAudio.keepsTruncated) : 0
        queuedAudio.add(frames - countedFrameCount, rate: rate)
        countedFrameCount = frames
    }
}

/// The assistant audio queued to play, in frames per sample rate (exact integers: no drift over an hour of adding and
/// taking away), which the queued items keep current as they gain audio, are cut, dropped or written.
final class QueuedAudio {
    /// Whether cuts are ignored (every frame plays).
    let keepsTruncated: Bool
    /// Frames per rate; rates without frames are left out, so this holds one entry or a few. (Unchecked for exclusive
    /// access as the timeline's own state is, and for the same reasons.)
    @exclusivity(unchecked) private var frameCounts: [(rate: Int, frameCount: Int)] = []

    init(keepsTruncated: Bool) {
        self.keepsTruncated = keepsTruncated
    }

    /// The queued audio's length.
    var seconds: Double {
        frameCounts.reduce(0) { $0 + Double($1.frameCount) / Double($1.rate) }
    }

    /// Adds (or, negative, takes away) frames at `rate`.
    func add(_ frameCount: Int, rate: Int) {
        guard frameCount != 0 else { return }
        if let index = frameCounts.firstIndex(where: { $0.rate == rate }) {
            frameCounts[index].frameCount += frameCount
            if frameCounts[index].frameCount == 0 { frameCounts.remove(at: index) }
        } else {
            frameCounts.append((rate, frameCount))
        }
    }

    /// Whether the counts are those of `items` counted afresh (for a debug build's check).
    func matches(_ items: [Item]) -> Bool {
        let fresh = QueuedAudio(keepsTruncated: keepsTruncated)
        for item in items { fresh.add(item.keptFrameCount(keepsTruncated), rate: item.rate) }
        return fresh.frameCounts.sorted { $0.rate < $1.rate }.elementsEqual(frameCounts.sorted { $0.rate < $1.rate }) { $0 == $1 }
    }
}
