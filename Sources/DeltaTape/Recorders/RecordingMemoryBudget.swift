// One bound on the memory many recorders take together. Each recorder's own buffer is bounded (its watermarks), but a
// relay runs hundreds of them: a few hostile clients each staying just under their own bound would still add up to
// gigabytes (issue 27: five connections of 60 MiB messages took a relay to 1.48 GB).
import Synchronization

/// The bytes of messages that a group of recorders (a relay's sessions) may hold at once, shared between them.
///
/// A ``SessionRecorder`` made with a budget charges each message it is offered for as long as it holds it: from the
/// offer until the message is recorded (its reading, its journal and log lines, its audio's decoding, which take a few
/// times its size, come within that time). An offer the budget has no room for is refused
/// (``SessionRecorder/Offer/overBudget``); the caller forwards the message unrecorded, as a relay does. A caller that
/// holds message bytes of its own before it offers them (a relay joining a message's frames) charges them with
/// ``reserve(_:)`` and ``release(_:)``.
public final class RecordingMemoryBudget: Sendable {
    /// The most bytes held at once.
    public let limit: Int
    private let held = Atomic<Int>(0)

    /// Creates a budget of `bytes` (at least 1).
    public init(bytes: Int) {
        limit = max(1, bytes)
    }

    /// The bytes held now.
    public var heldBytes: Int { held.load(ordering: .relaxed) }

    /// Charges `byteCount` bytes if they fit; `false` (nothing charged) when they would take the budget past its limit.
    public func reserve(_ byteCount: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard current + byteCount <= limit else { return false }
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + byteCount, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back `byteCount` bytes charged by ``reserve(_:)``.
    public func release(_ byteCount: Int) {
        held.subtract(byteCount, ordering: .relaxed)
    }
}

/// A message's charge against a budget, given back once, when the last reference to it goes (the message recorded, or
/// dropped on any path: a failed recording, a queue thrown away).
final class BudgetCharge: Sendable {
    private let budget: RecordingMemoryBudget
    private let byteCount: Int

    /// Charges `byteCount` bytes to `budget`; nil when they do not fit.
    init?(_ byteCount: Int, to budget: RecordingMemoryBudget) {
        guard budget.reserve(byteCount) else { return nil }
        self.budget = budget
        self.byteCount = byteCount
    }

    deinit { budget.release(byteCount) }
}
