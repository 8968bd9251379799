import Dispatch
package import DeltaTapeContainers
import Synchronization

/// Runs a heavy writer (an Opus encoder and its container) on a thread of its own, behind a bounded buffer, so that
/// reading, decoding and resampling on the caller's thread overlap with encoding: on two cores a conversion takes
/// about as long as the encoding alone.
///
/// Samples are gathered into blocks of about a quarter second; at most `maximumBlocksInFlight` blocks wait for the
/// encoder, so memory stays bounded and a fast producer is held back when the encoder falls behind:
/// - ``write(_:)`` waits for a free slot by blocking its thread. Call it from a thread of its own (the converter runs
///   on one), never from a task of the cooperative pool, whose few threads must not block.
/// - Async code awaits ``waitForSpace()`` first, which suspends instead of blocking; a ``write(_:)`` of at most one
///   block's worth of samples then never blocks.
///
/// A failure on the encoder's thread is reported by the next ``write(_:)`` or by ``close()``.
package final class EncoderThread: PCMWriter, Sendable {
    /// The writer. Unchecked for this one property: it is used only on `queue` (and by `close()`, `frameCount` and `deliveredFrameCount` after
    /// draining it with `queue.sync`), one call at a time.
    nonisolated(unsafe) private let inner: any PCMWriter
    /// Runs the writer; a block's bytes count against `maximumBlocksInFlight` blocks until it is written.
    private let queue: SerialThread
    private let state: Mutex<State>
    /// Samples gathered for the next block, on the caller's side.
    private let pending: Mutex<[Int16]>
    /// The storage of blocks written, emptied, for the next blocks: fresh memory for every block costs a page fault
    /// per 4 KiB at its first touch (measured: a tenth of the reading thread's time, converting a session to WAV).
    private let spareBlocks = Mutex<[[Int16]]>([])
    private let blockSampleCount: Int
    private let maximumBlocksInFlight: Int

    package let path: String
    package let sampleRate: Int
    package let channelCount: Int
    package let sampleFormat: PCMSampleFormat

    private struct State {
        var failure: OutputError?
        var closed = false
    }

    /// Starts a thread for `inner`.
    ///
    /// - Parameters:
    ///   - inner: The writer to run; it must not be used elsewhere afterwards.
    ///   - maximumBlocksInFlight: How many blocks may wait for the writer.
    ///   - blockSeconds: Seconds of audio in a block (a quarter second by default; longer blocks cost fewer hand-overs
    ///     where the writer is fast, as a WAV file's is).
    ///   - inBackground: Whether the thread runs at a lower priority (``ConversionOptions/runsInBackground``).
    package init(_ inner: any PCMWriter, maximumBlocksInFlight: Int = 4, blockSeconds: Double = 0.25, inBackground: Bool = false) {
        path = inner.path
        sampleRate = inner.sampleRate
        channelCount = inner.channelCount
        sampleFormat = inner.sampleFormat
        blockSampleCount = max(1_024, Int(Double(inner.sampleRate * inner.channelCount) * blockSeconds))
        self.maximumBlocksInFlight = max(1, maximumBlocksInFlight)
        // Counted in bytes of blocks: a writer is held back while `maximumBlocksInFlight` blocks are not yet written,
        // and goes on once one is.
        let blockBytes = blockSampleCount * MemoryLayout<Int16>.stride
        queue = SerialThread(name: "deltatape-enc", inBackground: inBackground,
                             watermarks: BufferWatermarks(low: (self.maximumBlocksInFlight - 1) * blockBytes,
                                                          high: self.maximumBlocksInFlight * blockBytes))
        state = Mutex(State())
        var gathered: [Int16] = []
        gathered.reserveCapacity(blockSampleCount)
        pending = Mutex(gathered)
        self.inner = inner
    }

    /// Frames written by the inner writer (complete once ``close()`` has returned).
    package var frameCount: Int { queue.sync { [self] in inner.frameCount } }

    /// Frames the inner writer has delivered to its sink (``PCMWriter/deliveredFrameCount``), once the blocks handed
    /// over so far are written.
    package var deliveredFrameCount: Int { queue.sync { [self] in inner.deliveredFrameCount } }

    /// Samples one call of ``write(_:)`` may pass after ``waitForSpace()`` without blocking.
    package var samplesPerBlock: Int { blockSampleCount }

    package func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        if let error = state.withLock({ $0.failure }) { throw error }
        var remaining = samples[...]
        while !remaining.isEmpty {
            let full: Block? = pending.withLock { gathered in
                let taken = remaining.prefix(blockSampleCount - gathered.count)
                gathered.append(contentsOf: taken)
                remaining = remaining.dropFirst(taken.count)
                return gathered.count == blockSampleCount ? takeBlock(&gathered) : nil
            }
            if let full { submit(full) }
        }
    }

    /// Hands the samples gathered so far to the encoder's thread, which then flushes the writer: what was written
    /// before reaches the sink without waiting for a whole block.
    package func flush() throws(OutputError) {
        if let error = state.withLock({ $0.failure }) { throw error }
        let partial = pending.withLock { $0.isEmpty ? nil : takeBlock(&$0) }
        if let partial { submit(partial) }
        queue.async { [self] in
            guard state.withLock({ $0.failure }) == nil else { return }
            do throws(OutputError) {
                try inner.flush()
            } catch {
                state.withLock { $0.failure = error }
            }
        }
    }

    /// Returns once a block slot is free, suspending (not blocking) while the encoder is behind.
    package func waitForSpace() async {
        await queue.waitForRoom()
    }

    package func close() throws(OutputError) {
        let alreadyClosed = state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        let last = pending.withLock { $0.isEmpty ? nil : takeBlock(&$0) }
        // The recording ends: its last blocks must not wait for an idle core.
        queue.raiseFromIdlePriority()
        if let last { submit(last) }
        queue.sync {}  // every submitted block has been written
        if let error = state.withLock({ $0.failure }) {
            // Still close the writer (its sink's descriptor, what it can finalize); the first failure is the one to tell.
            try? inner.close()
            throw error
        }
        try inner.close()
    }

    /// Takes the gathered samples as a block, leaving `gathered` empty with the storage of a block written before (or
    /// new storage, the first few times).
    private func takeBlock(_ gathered: inout [Int16]) -> Block {
        let block = Block(spareBlocks.withLock { $0.popLast() } ?? [])
        block.samples.reserveCapacity(blockSampleCount)
        swap(&block.samples, &gathered)
        return block
    }

    /// Hands a block to the encoder's thread, waiting (blocking) while too many are in flight.
    private func submit(_ block: Block) {
        queue.async(holding: block.samples.count * MemoryLayout<Int16>.stride) { [self] in
            // Taken out of the box: the only reference to its storage, which is kept for a later block.
            var samples: [Int16] = []
            swap(&samples, &block.samples)
            if state.withLock({ $0.failure }) == nil {
                do throws(OutputError) {
                    try samples.withUnsafeBufferPointer { (samples) throws(OutputError) in try inner.write(samples) }
                } catch {
                    state.withLock { $0.failure = error }
                }
            }
            samples.removeAll(keepingCapacity: true)
            spareBlocks.withLock { if $0.count <= maximumBlocksInFlight { $0.append(samples) } }
        }
    }
}

/// A block of samples on its way to the encoder's thread, boxed so that the thread can take the only reference to its
/// storage. Unchecked: it is touched by one thread at a time, handed over through the encoder's queue.
private final class Block: @unchecked Sendable {
    var samples: [Int16]

    init(_ samples: [Int16]) {
        self.samples = samples
    }
}
