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
