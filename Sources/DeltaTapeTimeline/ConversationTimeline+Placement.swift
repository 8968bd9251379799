// Placement: where each chunk of audio goes on the session clock (a stream's item, a user turn, a position it
// carries), by the rules of docs/TIMELINE.md.
@_spi(Blocks) import DeltaTapeEvents
@_spi(Blocks) import DeltaTapeKernels

extension ConversationTimeline {
    /// Whether `delta`'s track takes its audio from `delta`'s vocabulary: the first that delivered audio for the track.
    func acceptsSource(of delta: AudioDelta) -> Bool {
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
    func streamKey(_ delta: AudioDelta, _ message: UnsafeRawBufferPointer) -> AudioStreamKey {
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

    func place(
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
}
