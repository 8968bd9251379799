@_spi(Blocks) import DeltaTapeEvents

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
