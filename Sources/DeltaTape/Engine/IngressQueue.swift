// The one hand-off of the recording path, hand-written rather than swift-nio's NIOAsyncSequenceProducer or
// swift-async-algorithms' channels, for a design reason: the consumers are synchronous (the session pipeline, the
// encoder) and run on threads of their own, so they must block, and both those types hand elements to an async
// iterator only; the library must also build without the server stack (NIO). Producers come in three kinds: tasks that
// suspend (an archiver's `record`), threads that block (the converter reading a file) and callers that must never wait
// (a relay's event loop). The buffer is counted in bytes, as messages and blocks vary in size. The bookkeeping is a
// plain state machine (`IngressQueueState`), tested on its own; the class around it only waits and wakes.
import Dispatch
import Synchronization

/// How many bytes may wait in a buffer between the producers of a recording and its thread.
public struct BufferWatermarks: Sendable, Equatable {
    /// Under this many bytes waiting, producers held back go on.
    public var low: Int
    /// A producer is held back while adding its element would take the waiting bytes past this (an element larger than
    /// the whole buffer still goes in, alone).
    public var high: Int

    /// Creates watermarks; `low` is at most `high`.
    public init(low: Int = 1 << 20, high: Int = 4 << 20) {
        self.high = max(1, high)
        self.low = min(max(0, low), self.high)
    }
}

/// What a recorder's buffer holds and how often it held its callers back.
public struct BufferStatistics: Sendable, Equatable {
    /// Bytes waiting for the recording now.
    public var bufferedBytes = 0
    /// The most bytes that ever waited.
    public var peakBufferedBytes = 0
    /// How many times a caller was held back (suspended or blocked) because the recording was behind.
    public var suspensions = 0
    /// What was taken so far: messages, or for a recorder of a log, chunks of it.
    public var messageCount = 0
}

/// What a producer's offer did with an element that does not wait for room.
package enum IngressOffer: Sendable, Equatable {
    /// The element is queued (or, from ``IngressQueue/offerNeverWaiting(_:byteCount:)``, held to be queued in order).
    case accepted
    /// The buffer holds ``BufferWatermarks/high`` bytes: the element was not taken.
    case full
}

/// Why a queue takes no more elements.
package enum IngressRefusal: Error, Sendable, Equatable {
    /// The consumer asked for no more (it failed, or it ended).
    case refused
    /// ``IngressQueue/finish(with:)`` was called: the last element is queued.
    case finished
    /// The producing task was cancelled while it waited for room.
    case cancelled
}

/// A bounded, byte-counted hand-off from any number of producers (tasks that suspend, threads that block, callers that
/// never wait) to one consumer (a thread that blocks, or a task). The consumer sees the elements in the order they were
/// queued, then the end once ``finish(with:)`` or ``refuse(_:)`` was called and the queue is empty.
package final class IngressQueue<Element: Sendable>: Sendable {
    private let state: Mutex<IngressQueueState<Element>>
    /// Elements (and the end) for a consumer thread: one signal each.
    private let available = DispatchSemaphore(value: 0)
    /// Room, for producer threads blocked in ``pushBlocking(_:byteCount:)``: one signal each.
    private let roomForThreads = DispatchSemaphore(value: 0)
    /// A consumer task waiting in ``next()``.
    private let waitingConsumer = Mutex<CheckedContinuation<Void, Never>?>(nil)
    /// Whether the consumer is a task (it called ``next()``): only then does a producer look for a waiting one, so
    /// that a consumer thread's producers (a relay's event loop) take no lock for it.
    private let consumerIsTask = Atomic<Bool>(false)
    private let accounting: IngressQueueState<Element>.Accounting
    /// Elements held by ``offerNeverWaiting(_:byteCount:)`` while the queue's lock was busy, in order, with their bytes.
    private let held = Mutex<(elements: [(Element, Int)], byteCount: Int)>(([], 0))
    private let byteCount: @Sendable (Element) -> Int
    package let watermarks: BufferWatermarks

    /// Creates a queue.
    ///
    /// - Parameters:
    ///   - watermarks: How many bytes may wait.
    ///   - accounting: When an element's bytes stop counting.
    ///   - byteCount: The bytes an element holds (the count it was queued with).
    package init(watermarks: BufferWatermarks, accounting: IngressQueueState<Element>.Accounting = .untilTaken,
                 byteCount: @escaping @Sendable (Element) -> Int) {
        state = Mutex(IngressQueueState(watermarks: watermarks, accounting: accounting))
        self.accounting = accounting
        self.watermarks = watermarks
        self.byteCount = byteCount
    }

    /// What the queue holds and has done.
    package struct Statistics: Sendable, Equatable {
        /// Bytes waiting (and, with ``IngressQueueState/Accounting/untilNextTake``, in the consumer's hands).
        package var bufferedBytes: Int
        package var peakBufferedBytes: Int
        /// How many times a producer was held back.
        package var waitCount: Int
        /// Elements queued so far (control elements not counted).
        package var queuedCount: Int
    }

    /// What the queue holds and has done.
    package var statistics: Statistics {
        state.withLock { Statistics(bufferedBytes: $0.bufferedBytes + $0.reservedBytes, peakBufferedBytes: $0.peakBufferedBytes,
                                    waitCount: $0.waitCount, queuedCount: $0.queuedCount) }
    }

    /// Bytes held by ``offerNeverWaiting(_:byteCount:)`` and not yet queued.
    package var heldByteCount: Int { held.withLock { $0.byteCount } }

    // MARK: Producers

    /// Queues `element` if it fits, never waiting for room (it may wait for the lock, briefly).
    package func offer(_ element: Element, byteCount: Int) throws(IngressRefusal) -> IngressOffer {
        let queued = try state.withLock { (state) throws(IngressRefusal) in try state.offer(element, byteCount: byteCount) }
        if queued { signalConsumer() }
        return queued ? .accepted : .full
    }

    /// Queues `element` as ``offer(_:byteCount:)`` does, without ever waiting for the lock either: for a caller that
    /// must never wait (a relay's event loop), where the consumer may run at the lowest priority and be preempted while
    /// it holds the lock (measured at up to 10 ms under load). When the lock is busy the element is held, in order, and
    /// queued by the next call (or by ``finish(with:)``); held bytes count against the high watermark.
    package func offerNeverWaiting(_ element: Element, byteCount: Int) throws(IngressRefusal) -> IngressOffer {
        try held.withLock { (held) throws(IngressRefusal) -> IngressOffer in
            held.elements.append((element, byteCount))
            held.byteCount += byteCount
            while let (next, bytes) = held.elements.first {
                let queued = try state.withLockIfAvailable { (state) throws(IngressRefusal) in try state.offer(next, byteCount: bytes) }
                switch queued {
                case true?:
                    held.elements.removeFirst()
                    held.byteCount -= bytes
                    signalConsumer()
                case nil where held.byteCount <= watermarks.high:
                    return .accepted  // queued by the next call
                case nil, false?:
                    // Not taken, as a full offer takes nothing: the caller's element leaves the held ones.
                    held.elements.removeLast()
                    held.byteCount -= byteCount
                    return .full
                }
            }
            return .accepted
        }
    }

    /// Queues `element`, suspending the calling task while the buffer has no room for it.
    ///
    /// - Throws: ``IngressRefusal/cancelled`` at once when the task is cancelled while it waits (the element is not
    ///   queued); the queue's refusal when it takes no more.
    package func push(_ element: Element, byteCount: Int) async throws(IngressRefusal) {
        while true {
            if Task.isCancelled { throw .cancelled }
            if try state.withLock({ (state) throws(IngressRefusal) in try state.offer(element, byteCount: byteCount) }) {
                signalConsumer()
                return
            }
            await waitForRoom(for: byteCount)
        }
    }

    /// Queues `element`, blocking the calling thread while the buffer has no room for it: for a producer on a thread
    /// of its own, never a task of Swift's cooperative pool.
    package func pushBlocking(_ element: Element, byteCount: Int) throws(IngressRefusal) {
        while true {
            if try state.withLock({ (state) throws(IngressRefusal) in try state.offer(element, byteCount: byteCount) }) {
                signalConsumer()
                return
            }
            waitForRoomBlocking(for: byteCount)
        }
    }

    /// Queues `element` whatever the buffer holds: a control element (a flush, a question for the consumer).
    package func force(_ element: Element, byteCount: Int = 0) throws(IngressRefusal) {
        try state.withLock { (state) throws(IngressRefusal) in try state.force(element, byteCount: byteCount) }
        signalConsumer()
    }

    /// Promises `byteCount` bytes to the calling thread, blocking while they do not fit, for an element it fills outside
    /// the lock; end the promise with ``endReservation(_:queueing:)``.
    package func reserveBlocking(_ byteCount: Int) throws(IngressRefusal) {
        while !(try state.withLock { (state) throws(IngressRefusal) in try state.reserve(byteCount) }) {
            waitForRoomBlocking(for: byteCount)
        }
    }

    /// Promises `byteCount` bytes if they fit now; `false` when they do not.
    package func reserve(_ byteCount: Int) throws(IngressRefusal) -> Bool {
        try state.withLock { (state) throws(IngressRefusal) in try state.reserve(byteCount) }
    }

    /// Ends a reservation: queues `element` in the bytes reserved, or gives them up when it is `nil`.
    package func endReservation(_ byteCount: Int, queueing element: Element?) throws(IngressRefusal) {
        let wakeups = try state.withLock { (state) throws(IngressRefusal) in try state.endReservation(byteCount, queueing: element) }
        wake(wakeups)
        if element != nil { signalConsumer() }
    }

    /// Runs `body` under the lock on the last element queued and not yet taken (for a producer that adds to it in
    /// place); `nil` when there is none, or when no more is taken.
    package func withLastQueued<R: Sendable>(_ body: (Element) -> R) throws(IngressRefusal) -> R? {
        try state.withLock { (state) throws(IngressRefusal) -> R? in
            if let refusal = state.refusal { throw refusal }
            return state.lastQueued.map(body)
        }
    }

    /// Suspends until the buffer has room for `byteCount` bytes (`nil`: until it is down to the low watermark), the
    /// queue takes no more, or the task is cancelled. A producer waits at least until the buffer is down to the low
    /// watermark, so that it is not woken for every element taken.
    package func waitForRoom(for byteCount: Int? = nil) async {
        let waiter = Mutex<(id: UInt64?, cancelled: Bool)>((nil, false))
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let once = ResumeOnce(continuation)
                let registered = state.withLock { state -> Bool in
                    guard let id = state.waitAsTask(for: byteCount, { once.resume() }) else { return false }
                    // A cancellation that came before the registration finds no id: it is honoured here.
                    let cancelledAlready = waiter.withLock { waiter in
                        waiter.id = id
                        return waiter.cancelled
                    }
                    if cancelledAlready { _ = state.cancelWait(id) }
                    return !cancelledAlready
                }
                if !registered { once.resume() }
            }
        } onCancel: {
            let id = waiter.withLock { waiter -> UInt64? in
                waiter.cancelled = true
                return waiter.id
            }
            if let id, let resume = state.withLock({ $0.cancelWait(id) }) { resume() }
        }
    }

    /// Blocks the calling thread until the buffer has room for `byteCount` bytes (`nil`: until it is down to the low
    /// watermark) or the queue takes no more.
    package func waitForRoomBlocking(for byteCount: Int? = nil) {
        if state.withLock({ $0.waitAsThread(for: byteCount) }) { roomForThreads.wait() }
    }

    // MARK: The end

    /// Queues the last element (whatever the buffer holds, after any held ones) and takes no more: later offers throw
    /// ``IngressRefusal/finished``, producers waiting for room are let go, and the consumer gets the end after `last`.
    /// After ``refuse(_:)`` with another reason, `last` is still queued (the held elements are not).
    ///
    /// - Returns: `false` when the queue had ended already (`last` was not queued).
    @discardableResult
    package func finish(with last: Element) -> Bool {
        let held = held.withLock { held in
            defer { held = ([], 0) }
            return held.elements
        }
        let (queued, wakeups) = state.withLock { $0.finish(with: last, held: held) }
        wake(wakeups)
        // One signal for each element queued, and one for the end.
        if queued { for _ in 0...held.count + 1 { signalConsumer() } }
        return queued
    }

    /// Takes no more elements (later offers throw `reason`), letting every waiting producer go on. The consumer still
    /// gets what is queued, and the end only with ``IngressRefusal/finished`` (or after ``finish(with:)``).
    package func refuse(_ reason: IngressRefusal = .refused) {
        wake(state.withLock { $0.refuse(reason) })
        if reason == .finished { signalConsumer() }  // the end, once the queued elements are taken
    }

    // MARK: The consumer

    /// The next element, blocking the calling thread until one comes; `nil` once the queue takes no more and is empty.
    package func take() -> Element? {
        releaseTaken()
        while true {
            available.wait()
            switch takeQueued() {
            case .element(let element): return element
            case .end:
                available.signal()  // the end stays visible to a later call
                return nil
            case .timedOut: continue
            }
        }
    }

    /// What ``take(timeout:)`` found.
    package enum Taken {
        case element(Element)
        /// Nothing came in time.
        case timedOut
        /// The queue takes no more, and is empty.
        case end
    }

    /// The next element, waiting at most `timeout` for it.
    package func take(timeout: Duration) -> Taken {
        releaseTaken()
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        guard available.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return .timedOut }
        let taken = takeQueued()
        if case .end = taken { available.signal() }
        return taken
    }

    /// The next element for a consumer task, suspending until one comes; `nil` at the end.
    package func next() async -> Element? {
        consumerIsTask.store(true, ordering: .releasing)
        releaseTaken()
        while true {
            switch takeQueued() {
            case .element(let element): return element
            case .end: return nil
            case .timedOut: break
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Registered under the queue's lock: a producer's signal after this sees the waiter, one before it
                // left an element (or the end) that the check finds.
                let resumeNow = state.withLock { state -> Bool in
                    guard state.count == 0, state.refusal != .finished else { return true }
                    waitingConsumer.withLock { $0 = continuation }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Lets go of the bytes of the element the consumer took last, before it waits for the next.
    private func releaseTaken() {
        guard accounting == .untilNextTake else { return }
        wake(state.withLock { $0.releaseTaken() })
    }

    private func takeQueued() -> Taken {
        let (taken, wakeups) = state.withLock { state -> (Taken, IngressQueueState<Element>.Wakeups) in
            if let (element, wakeups) = state.take(byteCount: byteCount) { return (.element(element), wakeups) }
            return (state.isAtEnd ? .end : .timedOut, IngressQueueState<Element>.Wakeups())
        }
        wake(wakeups)
        return taken
    }

    private func signalConsumer() {
        if consumerIsTask.load(ordering: .acquiring), let consumer = waitingConsumer.withLock({ (waiting) -> CheckedContinuation<Void, Never>? in
            defer { waiting = nil }
            return waiting
        }) {
            consumer.resume()
        } else {
            available.signal()
        }
    }

    private func wake(_ wakeups: IngressQueueState<Element>.Wakeups) {
        for resume in wakeups.tasks { resume() }
        for _ in 0..<wakeups.threadCount { roomForThreads.signal() }
    }
}

/// A continuation resumed at most once, whoever gets there first (the wakeup or the cancellation).
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume() {
        continuation.withLock { (continuation) -> CheckedContinuation<Void, Never>? in
            defer { continuation = nil }
            return continuation
        }?.resume()
    }
}
