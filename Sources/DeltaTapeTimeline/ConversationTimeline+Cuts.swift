// Cuts: turns that end, truncations and interruptions, which mark items done, cut them where the listener stopped
// hearing them, or drop them.
@_spi(Blocks) import DeltaTapeEvents

extension ConversationTimeline {
    func markDone(_ item: Item) {
        guard !item.isDone else { return }
        item.isDone = true
    }

    func endUserTurn() {
        guard let turn = userTurn else { return }
        markDone(turn)
        userTurn = nil
    }

    /// The current turn of vocabularies without ids ended: its item is done, and the next audio starts another.
    func endAssistantTurn() {
        let key = AudioStreamKey(responseID: "", itemID: "(turn \(assistantTurn + 1))", contentIndex: 0)
        if let item = openItems[key] { markDone(item) }
        assistantTurn += 1
    }

    func truncate(_ reference: ItemReference, at milliseconds: Int, isRequest: Bool, line: Int) {
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
    func interrupt(_ interruption: Interruption, line: Int) {
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
}
