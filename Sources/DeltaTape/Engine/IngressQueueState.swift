// The bookkeeping of the engine's queue, apart from its waiting and waking (IngressQueue.swift), so that it can be
// tested as a plain state machine.

/// The bookkeeping of an ``IngressQueue``: elements in order, the bytes they hold, and who waits for room. No locks and
/// no waiting here; each call says whom to wake.
package struct IngressQueueState<Element> {
    /// Whether an element's bytes stop counting when the consumer takes it, or when it takes the next one (for a
    /// consumer whose work on one element is what holds memory, such as an encoder working on a block).
    package enum Accounting: Sendable {
        case untilTaken
        case untilNextTake
    }

    package let watermarks: BufferWatermarks
    package let accounting: Accounting
    private var slots: [Element?] = []
    private var head = 0
    /// Bytes of the queued elements, the element in the consumer's hands (``Accounting/untilNextTake``) included.
    package private(set) var bufferedBytes = 0
    /// Bytes promised to producers filling an element outside the lock (``reserve(_:)``).
    package private(set) var reservedBytes = 0
    private var inHandBytes = 0
    package private(set) var peakBufferedBytes = 0
    /// How many times a producer was held back.
    package private(set) var waitCount = 0
    /// Elements queued so far.
    package private(set) var queuedCount = 0
    package private(set) var refusal: IngressRefusal?
    /// Tasks waiting for room, by the id their producer gave.
    private var waitingTasks: [(id: UInt64, resume: @Sendable () -> Void)] = []
    /// Threads blocked waiting for room.
    private var waitingThreadCount = 0
    private var nextTaskID: UInt64 = 0

    package init(watermarks: BufferWatermarks, accounting: Accounting = .untilTaken) {
        self.watermarks = watermarks
        self.accounting = accounting
    }

    /// Elements waiting for the consumer.
    package var count: Int { slots.count - head }

    /// Whether `byteCount` more bytes fit under the high watermark (or nothing waits: a large element goes in alone).
    package func hasRoom(for byteCount: Int) -> Bool {
        let waiting = bufferedBytes + reservedBytes
        return waiting == 0 || waiting + byteCount <= watermarks.high
    }

    /// Whether producers held back may go on: the waiting bytes are down to the low watermark, or no more is taken.
    private var releasesWaiters: Bool { bufferedBytes + reservedBytes <= watermarks.low || refusal != nil }

    /// Queues `element` if it fits; `false` when it does not. Throws when no more is taken.
    package mutating func offer(_ element: Element, byteCount: Int) throws(IngressRefusal) -> Bool {
        if let refusal { throw refusal }
        guard hasRoom(for: byteCount) else { return false }
        append(element, byteCount: byteCount)
        return true
    }

    /// Queues `element` whatever the buffer holds: a control element (not counted in ``queuedCount``), or an element
    /// held back before (`counted`).
    package mutating func force(_ element: Element, byteCount: Int, counted: Bool = false) throws(IngressRefusal) {
        if let refusal { throw refusal }
        append(element, byteCount: byteCount, counted: counted)
    }

    private mutating func append(_ element: Element, byteCount: Int, counted: Bool = true) {
        slots.append(element)
        bufferedBytes += byteCount
        peakBufferedBytes = max(peakBufferedBytes, bufferedBytes)
        if counted { queuedCount += 1 }
    }

    /// Promises `byteCount` bytes to a producer that fills its element outside the lock; `false` when they do not fit.
    package mutating func reserve(_ byteCount: Int) throws(IngressRefusal) -> Bool {
        if let refusal { throw refusal }
        guard hasRoom(for: byteCount) else { return false }
        reservedBytes += byteCount
        return true
    }

    /// Ends a reservation: its element is queued (`element`), or it is given up (`nil`). Returns the waiters to wake.
    package mutating func endReservation(_ byteCount: Int, queueing element: Element?) throws(IngressRefusal) -> Wakeups {
        reservedBytes -= byteCount
        guard let element else { return wakeupsIfReleased() }
        if let refusal { throw refusal }
        append(element, byteCount: byteCount)
        return Wakeups()
    }

    /// The last element queued and not yet taken, for a producer that adds to it in place.
    package var lastQueued: Element? { head < slots.count ? slots[slots.count - 1] : nil }

    /// Takes the next element, if any, with the waiters its leaving lets go on.
    package mutating func take(byteCount: (Element) -> Int) -> (Element, Wakeups)? {
        guard head < slots.count, let element = slots[head] else { return nil }
        slots[head] = nil  // its memory is let go now, not when the array is next compacted
        head += 1
        if head > 1_024, head * 2 > slots.count {
            slots.removeFirst(head)
            head = 0
        }
        let bytes = byteCount(element)
        if accounting == .untilNextTake { inHandBytes = bytes } else { bufferedBytes -= bytes }
        return (element, wakeupsIfReleased())
    }

    /// The consumer is done with the element it took last (``Accounting/untilNextTake``): its bytes stop counting.
    package mutating func releaseTaken() -> Wakeups {
        guard inHandBytes > 0 else { return Wakeups() }
        bufferedBytes -= inHandBytes
        inHandBytes = 0
        return wakeupsIfReleased()
    }

    /// Stops taking elements (later offers throw `reason`); every waiting producer is let go. Only
    /// ``IngressRefusal/finished`` ends the consumer's elements; after another refusal ``finish(with:held:)`` still
    /// queues a last element (the request to finish a recording that failed).
    package mutating func refuse(_ reason: IngressRefusal) -> Wakeups {
        if refusal == nil || reason == .finished { refusal = reason }
        return takeAllWaiters()
    }

    /// Queues the elements held back before and `last`, whatever the buffer holds, and ends the queue. `false` when it
    /// had ended already. The held elements are dropped after another refusal (nobody takes them).
    package mutating func finish(with last: Element, held: [(Element, Int)]) -> (queued: Bool, Wakeups) {
        guard refusal != .finished else { return (false, Wakeups()) }
        if refusal == nil {
            for (element, bytes) in held { append(element, byteCount: bytes) }
        }
        append(last, byteCount: 0, counted: false)
        return (true, refuse(.finished))
    }

    /// Whether the consumer has had every element: the queue ended and is empty.
    package var isAtEnd: Bool { refusal == .finished && count == 0 }

    /// Whether a producer that wants room for `byteCount` bytes (`nil`: down to the low watermark) must wait.
    private func mustWait(for byteCount: Int?) -> Bool {
        guard refusal == nil else { return false }
        guard let byteCount else { return !releasesWaiters }
        return !hasRoom(for: byteCount)
    }

    /// Registers a task waiting for room for `byteCount` bytes (`nil`: until the buffer is down to the low watermark),
    /// unless it may go on at once (`nil`). The id lets a cancellation find it.
    package mutating func waitAsTask(for byteCount: Int?, _ resume: @escaping @Sendable () -> Void) -> UInt64? {
        guard mustWait(for: byteCount) else { return nil }
        nextTaskID += 1
        waitCount += 1
        waitingTasks.append((nextTaskID, resume))
        return nextTaskID
    }

    /// Removes a cancelled task's wait; returns its resume if it was still waiting.
    package mutating func cancelWait(_ id: UInt64) -> (@Sendable () -> Void)? {
        guard let index = waitingTasks.firstIndex(where: { $0.id == id }) else { return nil }
        return waitingTasks.remove(at: index).resume
    }

    /// Registers a thread about to block for room for `byteCount` bytes (`nil`: until the buffer is down to the low
    /// watermark); `false` when it may go on at once.
    package mutating func waitAsThread(for byteCount: Int?) -> Bool {
        guard mustWait(for: byteCount) else { return false }
        waitCount += 1
        waitingThreadCount += 1
        return true
    }

    private mutating func wakeupsIfReleased() -> Wakeups {
        releasesWaiters ? takeAllWaiters() : Wakeups()
    }

    private mutating func takeAllWaiters() -> Wakeups {
        defer {
            waitingTasks = []
            waitingThreadCount = 0
        }
        return Wakeups(tasks: waitingTasks.map(\.resume), threadCount: waitingThreadCount)
    }

    /// Producers to let go on, once the lock is released.
    package struct Wakeups {
        package var tasks: [@Sendable () -> Void] = []
        package var threadCount = 0

        package var isEmpty: Bool { tasks.isEmpty && threadCount == 0 }
    }
}
