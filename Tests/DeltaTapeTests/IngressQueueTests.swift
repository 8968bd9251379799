import DeltaTape
import Dispatch
import Foundation
import Synchronization
import Testing

/// The engine's one queue: its bookkeeping as a plain state machine, then the waiting and waking around it. Expectations
/// are the watermark rules written out by hand (bytes, not elements), not read back from the queue.
@Suite(.timeLimit(.minutes(1))) struct IngressQueueTests {
    private typealias State = IngressQueueState<Int>

    /// Admission is counted in bytes: elements of 3 KiB under a high watermark of 8 KiB admit two, refuse the third;
    /// one element larger than the whole buffer still goes in alone, and nothing after it.
    @Test func watermarksAreCountedInBytes() throws {
        var state = State(watermarks: BufferWatermarks(low: 2 << 10, high: 8 << 10))
        let outcome1 = try state.offer(1, byteCount: 3 << 10)
        #expect(outcome1)
        let outcome2 = try state.offer(2, byteCount: 3 << 10)
        #expect(outcome2)
        let outcome3 = try state.offer(3, byteCount: 3 << 10)
        #expect(!outcome3, "6 KiB + 3 KiB passes 8 KiB")
        let outcome4 = try state.offer(4, byteCount: 2 << 10)
        #expect(outcome4, "6 KiB + 2 KiB is exactly 8 KiB")
        #expect(state.bufferedBytes == 8 << 10)
        var empty = State(watermarks: BufferWatermarks(low: 2 << 10, high: 8 << 10))
        let outcome5 = try empty.offer(5, byteCount: 100 << 10)
        #expect(outcome5, "an element larger than the buffer goes in alone")
        let outcome6 = try empty.offer(6, byteCount: 1)
        #expect(!outcome6)
    }

    /// A producer that waits is let go only once the buffered bytes are down to the low watermark, not at the first
    /// element taken; the elements come out in order.
    @Test func waitersAreLetGoAtTheLowWatermark() throws {
        var state = State(watermarks: BufferWatermarks(low: 4, high: 10))
        for value in 0..<5 {
            let queued = try state.offer(value, byteCount: 2)
            #expect(queued)
        }
        let outcome7 = state.waitAsThread(for: 2)
        #expect(outcome7, "10 bytes buffered: no room for 2 more")
        let sizes: (Int) -> Int = { _ in 2 }
        let taken1 = state.take(byteCount: sizes)
        let first = try #require(taken1)
        #expect(first.0 == 0 && first.1.isEmpty, "8 bytes left, over the low watermark of 4: nobody woken")
        let taken2 = state.take(byteCount: sizes)
        let second = try #require(taken2)
        #expect(second.0 == 1 && second.1.isEmpty)
        let taken3 = state.take(byteCount: sizes)
        let third = try #require(taken3)
        #expect(third.0 == 2 && third.1.threadCount == 1, "4 bytes left: the waiting thread goes on")
    }

    /// With `untilNextTake` an element's bytes count until the consumer comes back for the next one (an encoder's block
    /// holds memory while it is encoded).
    @Test func bytesInTheConsumersHandsCountUntilItsNextTake() throws {
        var state = State(watermarks: BufferWatermarks(low: 0, high: 4), accounting: .untilNextTake)
        let outcome8 = try state.offer(1, byteCount: 4)
        #expect(outcome8)
        _ = state.take { _ in 4 }
        #expect(state.bufferedBytes == 4)
        let outcome9 = try state.offer(2, byteCount: 1)
        #expect(!outcome9, "the block being encoded still fills the buffer")
        _ = state.releaseTaken()
        #expect(state.bufferedBytes == 0)
        let outcome10 = try state.offer(2, byteCount: 4)
        #expect(outcome10)
    }

    /// A refusal lets every waiter go and fails later offers; finishing still queues the last element after it, and the
    /// end comes only after that.
    @Test func finishingQueuesTheLastElementAfterARefusal() throws {
        var state = State(watermarks: BufferWatermarks(low: 0, high: 1))
        let outcome11 = try state.offer(1, byteCount: 1)
        #expect(outcome11)
        let outcome12 = state.waitAsThread(for: 1)
        #expect(outcome12)
        let outcome13 = state.refuse(.refused)
        #expect(outcome13.threadCount == 1)
        do {
            _ = try state.offer(2, byteCount: 1)
            Issue.record("a refused queue took an element")
        } catch {
            #expect(error == .refused)
        }
        #expect(!state.isAtEnd)
        let outcome14 = state.finish(with: 99, held: [(3, 1)])
        #expect(outcome14.queued)
        let kept = state.take { _ in 1 }?.0
        let last = state.take { _ in 0 }?.0
        #expect(kept == 1)
        #expect(last == 99, "held elements are dropped after a refusal; the last is not")
        #expect(state.isAtEnd)
        let outcome15 = state.finish(with: 100, held: [])
        #expect(!outcome15.queued, "a queue finishes once")
        do {
            _ = try state.offer(4, byteCount: 1)
            Issue.record("a finished queue took an element")
        } catch {
            #expect(error == .finished)
        }
    }

    /// A suspended producer whose task is cancelled returns while the buffer stays full (cancelled, not let in by room
    /// made later), and its element is not queued. Quiet, it returns within a millisecond; the issue's "within 100 ms"
    /// is not asserted as a time: on this shared machine a test run beside a build saw 0.74 s, the cooperative pool's
    /// two threads busy with other tests. Room comes only after 5 s, so a cancellation that does not reach the waiter
    /// fails the test by its result.
    @Test func aCancelledSuspendedOfferReturnsAtOnce() async throws {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 0, high: 8)) { _ in 8 }
        #expect(try queue.offer(1, byteCount: 8) == .accepted)
        let task = Task { () -> (IngressRefusal?, Double) in
            do throws(IngressRefusal) {
                try await queue.push(2, byteCount: 8)
                return (nil, 0)
            } catch {
                return (error, ProcessInfo.processInfo.systemUptime)
            }
        }
        // Until it waits for room (no timed assertion: polled for at most 10 s).
        for _ in 0..<1_000 where queue.statistics.waitCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(queue.statistics.waitCount == 1)
        let cancelled = ProcessInfo.processInfo.systemUptime
        task.cancel()
        // Should the cancellation not reach it, room comes after 5 s: the push then succeeds, and the test fails
        // instead of hanging.
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(5))
            _ = queue.take(timeout: .milliseconds(1))
        }
        let (error, returned) = await task.value
        watchdog.cancel()
        #expect(error == .cancelled)
        #expect(returned - cancelled < 5, "returned \(returned - cancelled) s after its cancellation, only once room came")
        #expect(queue.statistics.queuedCount == 1 && queue.statistics.bufferedBytes == 8, "the buffer is still full")
    }

    /// A task cancelled before it even waits throws at once too.
    @Test func anOfferOfACancelledTaskThrows() async {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 0, high: 8)) { _ in 8 }
        _ = try? queue.offer(1, byteCount: 8)
        let task = Task { () -> IngressRefusal? in
            withUnsafeCurrentTask { $0?.cancel() }
            do throws(IngressRefusal) {
                try await queue.push(2, byteCount: 8)
                return nil
            } catch {
                return error
            }
        }
        #expect(await task.value == .cancelled)
    }

    /// Finishing wakes every waiter: suspended tasks and blocked threads alike, each told the queue finished; the
    /// consumer gets what was queued, then the last element, then the end.
    @Test func aFinishWakesEveryWaiter() async throws {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 0, high: 8)) { _ in 8 }
        #expect(try queue.offer(1, byteCount: 8) == .accepted)
        let outcomes = Mutex<[IngressRefusal?]>([])
        let threadsDone = DispatchGroup()
        for _ in 0..<3 {
            threadsDone.enter()
            Thread.detachNewThread {
                do throws(IngressRefusal) {
                    try queue.pushBlocking(5, byteCount: 8)
                    outcomes.withLock { $0.append(nil) }
                } catch {
                    outcomes.withLock { $0.append(error) }
                }
                threadsDone.leave()
            }
        }
        let tasks = (0..<3).map { _ in
            Task { () -> IngressRefusal? in
                do throws(IngressRefusal) {
                    try await queue.push(6, byteCount: 8)
                    return nil
                } catch {
                    return error
                }
            }
        }
        for _ in 0..<1_000 where queue.statistics.waitCount < 6 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(queue.statistics.waitCount == 6)
        #expect(queue.finish(with: 99))
        for task in tasks { #expect(await task.value == .finished) }  // (a task never woken hangs here: see the threads' bound)
        // Bounded, so that a thread never woken fails the test instead of hanging it.
        #expect(threadsDone.wait(timeout: .now() + 10) == .success, "a blocked thread was never woken")
        #expect(outcomes.withLock { $0 } == [.finished, .finished, .finished])
        #expect(queue.take() == 1)
        #expect(queue.take() == 99)
        #expect(queue.take() == nil)
        #expect(queue.take() == nil, "the end stays the end")
    }

    /// A producer that never waits keeps what finds the lock busy, in order; what it kept counts against the high
    /// watermark and reaches the consumer with the next offer or the finish.
    @Test func offersThatNeverWaitKeepTheirOrder() async throws {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 0, high: 1 << 20)) { _ in 1 }
        let consumed = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while let value = queue.take() { consumed.withLock { $0.append(value) } }
            done.signal()
        }
        for value in 0..<20_000 { #expect(try queue.offerNeverWaiting(value, byteCount: 1) == .accepted) }
        queue.finish(with: -1)
        done.wait()
        #expect(consumed.withLock { $0 } == Array(0..<20_000) + [-1])
    }

    /// The held path itself, made certain: an offer made while the queue's lock is held (from inside `withLastQueued`,
    /// which holds it) is kept, counted, and queued before the next offer's element; one that would pass the high
    /// watermark while held is refused.
    @Test func anOfferThatFindsTheLockBusyIsKeptInOrder() throws {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 0, high: 10)) { _ in 4 }
        #expect(try queue.offer(1, byteCount: 4) == .accepted)
        let whileBusy = try queue.withLastQueued { _ in
            [(try? queue.offerNeverWaiting(2, byteCount: 4)), (try? queue.offerNeverWaiting(3, byteCount: 8))]
        }
        #expect(whileBusy == [.accepted, .full], "2 is kept (4 bytes held), 3 would hold 12 > 10")
        #expect(queue.heldByteCount == 4)
        #expect(queue.statistics.queuedCount == 1, "nothing reached the queue while its lock was busy")
        #expect(try queue.offerNeverWaiting(4, byteCount: 2) == .accepted)
        #expect(queue.heldByteCount == 0)
        queue.finish(with: -1)
        var taken: [Int] = []
        while let value = queue.take() { taken.append(value) }
        #expect(taken == [1, 2, 4, -1])
    }

    /// A consumer task (the async writer's) sees the elements in order and then the end.
    @Test func aConsumerTaskSeesEveryElementThenTheEnd() async throws {
        let queue = IngressQueue<Int>(watermarks: BufferWatermarks(low: 16, high: 64), accounting: .untilNextTake) { _ in 8 }
        let consumer = Task { () -> [Int] in
            var seen: [Int] = []
            while let value = await queue.next() { seen.append(value) }
            return seen
        }
        Thread.detachNewThread {
            for value in 0..<1_000 { try? queue.pushBlocking(value, byteCount: 8) }
            queue.refuse(.finished)
        }
        #expect(await consumer.value == Array(0..<1_000))
        #expect(queue.statistics.peakBufferedBytes <= 64)
    }
}
