// The held-audio queue: items wait in play order until they can no longer be cut, then are written and retired
// (their storage kept for the next items, their stream remembered for a late delta).
@_spi(Blocks) import DeltaTapeEvents

extension ConversationTimeline {
    /// Writes every item at the head of the queue that can no longer change, then the assistant's certain silence.
    func release() throws(Sink.Failure) {
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

    func noteHalfSample(_ half: TrackAssembler.HalfSample) {
        let stream = half.stream
        let what = stream.itemID == "(user)" ? "the user's audio" : "the audio of item '\(stream.itemID)'"
            + (stream.responseID.isEmpty ? "" : " (response '\(stream.responseID)')")
        notes.append(TimelineNote(line: half.line, message: "\(what) ends with half a sample; its last byte was dropped"))
    }

    /// Ends the leftover bytes of streams retired since the last call (a half sample is noted), and notes the half
    /// samples the joiner gave up to stay bounded.
    func endRetiredStreams() {
        for key in retiredStreams {
            if let half = joiner.end(key) { noteHalfSample(half) }
        }
        retiredStreams.removeAll(keepingCapacity: true)
        guard !joiner.givenUp.isEmpty else { return }
        for half in joiner.givenUp { noteHalfSample(half) }
        joiner.givenUp.removeAll()
    }
}
