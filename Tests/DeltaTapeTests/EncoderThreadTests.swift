import DeltaTape
import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport

/// The encoder thread alone, around a fake writer that records what it gets, takes its time, waits at a gate or
/// fails when told: order, back-pressure, failures, `waitForSpace()`, close.
@Suite struct EncoderThreadTests {
    /// A value shared between threads.
    final class Shared<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        var value: Value { mutex.withLock { $0 } }
        func update<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// A writer that keeps every sample, sleeps `delay` per write, waits at `gate` when it has one, fails at the
    /// `failingWrite`th write (1-based), and counts its closes.
    final class FakeWriter: PCMWriter, Sendable {
        let path = "fake.wav"
        let sampleRate: Int
        let channelCount: Int
        let sampleFormat = PCMSampleFormat.s16
        let delay: TimeInterval
        let gate: DispatchSemaphore?
        let failingWrite: Int?
        let samples = Shared<[Int16]>([])
        let writeCount = Shared(0)
        let closeCount = Shared(0)
        static let failure = OutputError(path: "fake.wav", reason: "disk full after some bytes", code: 28)

        init(sampleRate: Int = 8_000, channelCount: Int = 1, delay: TimeInterval = 0, gate: DispatchSemaphore? = nil, failingWrite: Int? = nil) {
            self.sampleRate = sampleRate
            self.channelCount = channelCount
            self.delay = delay
            self.gate = gate
            self.failingWrite = failingWrite
        }

        var frameCount: Int { samples.value.count / channelCount }
        /// No sink behind it: everything taken counts as delivered.
        var deliveredFrameCount: Int { frameCount }

        func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
            gate?.wait()
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            let count = writeCount.update { $0 += 1; return $0 }
            if count == failingWrite { throw Self.failure }
            self.samples.update { $0.append(contentsOf: samples) }
        }

        func flush() throws(OutputError) {}
        func close() throws(OutputError) { closeCount.update { $0 += 1 } }
    }

    /// Writes `samples` in pieces of seeded random sizes, from nothing to several blocks.
    static func writeInPieces(_ samples: [Int16], to writer: any PCMWriter, random: inout SplitMix64, largest: Int) throws {
        var index = 0
        try samples.withUnsafeBufferPointer { samples in
            while index < samples.count {
                let count = min(samples.count - index, Int.random(in: 0...largest, using: &random))
                try writer.write(UnsafeBufferPointer(rebasing: samples[index..<(index + count)]))
                index += count
            }
        }
    }

    @Test(arguments: [(8_000, 1), (24_000, 2)])
    func everySampleArrivesInOrder(_ rate: Int, _ channels: Int) throws {
        let seed = testSeed(UInt64(rate + channels))
        var random = SplitMix64(seed: seed)
        let fake = FakeWriter(sampleRate: rate, channelCount: channels, delay: 0.000_3)
        let thread = EncoderThread(fake, maximumBlocksInFlight: 2)
        let input = random.samples((rate * 3 + 17) * channels)
        try Self.writeInPieces(input, to: thread, random: &random, largest: thread.samplesPerBlock * 2 + 5)
        try thread.close()
        #expect(firstDifference(fake.samples.value, input) == nil, "seed \(seed)")
        #expect(thread.frameCount == input.count / channels)
        #expect(fake.closeCount.value == 1)
        // Close is idempotent: nothing more reaches the writer.
        try thread.close()
        #expect(fake.closeCount.value == 1 && fake.samples.value.count == input.count && thread.frameCount == input.count / channels)
    }

    /// With a slow writer, `write` blocks: when it returns, at most `maximumBlocksInFlight` blocks have been handed
    /// over and not yet written.
    @Test(arguments: [1, 3])
    func aSlowWriterHoldsTheProducerBack(_ maximumBlocksInFlight: Int) throws {
        let fake = FakeWriter(delay: 0.015)
        let thread = EncoderThread(fake, maximumBlocksInFlight: maximumBlocksInFlight)
        let block = [Int16](repeating: 3, count: thread.samplesPerBlock)
        var mostAhead = 0
        for submitted in 1...12 {
            try block.withUnsafeBufferPointer { try thread.write($0) }
            mostAhead = max(mostAhead, submitted - fake.writeCount.value)
        }
        #expect(mostAhead <= maximumBlocksInFlight)
        try thread.close()
        #expect(fake.writeCount.value == 12)
    }

    /// A failure of the inner writer comes back, the same error, at the next write after it happened.
    @Test func aFailureSurfacesAtTheNextWrite() throws {
        let fake = FakeWriter(failingWrite: 2)
        let thread = EncoderThread(fake, maximumBlocksInFlight: 4)
        let block = [Int16](repeating: 5, count: thread.samplesPerBlock)
        try block.withUnsafeBufferPointer { try thread.write($0) }
        try block.withUnsafeBufferPointer { try thread.write($0) }
        _ = thread.frameCount  // waits until the queued blocks are written, so the failure has happened
        #expect(throws: FakeWriter.failure) { try block.withUnsafeBufferPointer { try thread.write($0) } }
        #expect(throws: FakeWriter.failure) { try thread.close() }
        #expect(fake.writeCount.value == 2)
    }

    /// A failure while the last blocks are written comes back from `close`.
    @Test func aFailureSurfacesAtClose() throws {
        let fake = FakeWriter(delay: 0.005, failingWrite: 3)
        let thread = EncoderThread(fake, maximumBlocksInFlight: 4)
        let samples = [Int16](repeating: 9, count: thread.samplesPerBlock * 2 + 100)  // the third block is the partial one close sends
        try samples.withUnsafeBufferPointer { try thread.write($0) }
        #expect(throws: FakeWriter.failure) { try thread.close() }
        #expect(fake.writeCount.value == 3 && fake.samples.value.count == thread.samplesPerBlock * 2)
        // The writer is closed all the same (its file descriptor, what it can finalize), once.
        #expect(fake.closeCount.value == 1)
        try thread.close()
        #expect(fake.closeCount.value == 1)
    }

    /// From async code, `waitForSpace()` returns at once while there is room, and otherwise suspends without holding its
    /// thread until the writer takes a block. The waiters run on an executor of one thread of their own: a probe task
    /// queued on it behind them runs only if none of them holds that thread. (The cooperative pool cannot tell: the rest
    /// of the suite may keep it busy for a long time.)
    @Test func waitForSpaceSuspendsWithoutBlocking() async throws {
        let gate = DispatchSemaphore(value: 0)
        let gateOpen = Shared(false)
        let fake = FakeWriter(gate: gate)
        let thread = EncoderThread(fake, maximumBlocksInFlight: 1)
        let block = [Int16](repeating: 1, count: thread.samplesPerBlock)
        await thread.waitForSpace()  // room: returns at once
        try block.withUnsafeBufferPointer { try thread.write($0) }  // the one slot taken; the writer waits at the gate

        let executor = OneThreadExecutor()
        let resumedBeforeSpace = Shared(0), started = Shared(0)
        let waiters = (0..<3).map { _ in
            Task(executorPreference: executor) {
                started.update { $0 += 1 }
                await thread.waitForSpace()
                if !gateOpen.value { resumedBeforeSpace.update { $0 += 1 } }
            }
        }
        // Once a waiter is inside waitForSpace(), a probe on the same thread; a bounded wait for it (should waitForSpace
        // block its thread, the test fails instead of hanging), then the gate opens.
        while started.value == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let probeRan = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) { probeRan.signal() }
        let ran = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            Thread {
                let ran = probeRan.wait(timeout: .now() + 60) == .success
                gateOpen.update { $0 = true }
                gate.signal()
                continuation.resume(returning: ran)
            }.start()
        }
        #expect(ran, "the executor's thread ran nothing while waitForSpace() waited on it: it blocks its thread")
        for waiter in waiters { await waiter.value }
        #expect(resumedBeforeSpace.value == 0, "waitForSpace() returned while no slot was free")
        try thread.close()
        #expect(fake.samples.value == block && thread.frameCount == block.count)
        executor.stop()
    }
}

/// A task executor with one thread of its own, running jobs in order: a job that blocks holds up every later one.
final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        Thread { [self] in
            while let job = next() { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs queued so far have run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func next() -> UnownedJob? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !stopped { condition.wait() }
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }
}
