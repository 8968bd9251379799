import Dispatch
import DeltaTapeContainers
import Synchronization

/// Runs a heavy writer (an Opus encoder and its container) on its own thread, behind a bounded buffer, so that
/// reading, decoding and resampling on the caller's thread overlap with encoding: on two cores the conversion
/// takes about as long as the encoding alone.
///
/// Samples are gathered into blocks of about a quarter second; at most `maximumBlocksInFlight` blocks wait, so
/// memory stays bounded and a fast reader is held back (back-pressure) when the encoder falls behind.
/// A failure on the writer's thread is reported by the next ``write(_:)`` or by ``close()``.
final class BackgroundPCMWriter: PCMWriter, @unchecked Sendable {
    // @unchecked: `inner` is used only on `queue` between the first write and close(), which drains the queue
    // before touching it; `pending` only on the caller's thread; `failure` is behind a mutex.
    private let inner: any PCMWriter
    private let queue = DispatchQueue(label: "deltatape.background-writer")
    private let slots: DispatchSemaphore
    private let failure = Mutex<OutputError?>(nil)
    private var pending: [Int16] = []
    private let blockSampleCount: Int
    private var closed = false

    init(_ inner: any PCMWriter, maximumBlocksInFlight: Int = 4) {
        self.inner = inner
        slots = DispatchSemaphore(value: maximumBlocksInFlight)
        blockSampleCount = max(1_024, inner.sampleRate * inner.channelCount / 4)
        pending.reserveCapacity(blockSampleCount)
    }

    var path: String { inner.path }
    var sampleRate: Int { inner.sampleRate }
    var channelCount: Int { inner.channelCount }
    var sampleFormat: PCMSampleFormat { inner.sampleFormat }
    /// Frames written by the inner writer (complete once ``close()`` has returned).
    var frameCount: Int { queue.sync { inner.frameCount } }

    func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError) {
        if let error = failure.withLock({ $0 }) { throw error }
        var remaining = samples[...]
        while !remaining.isEmpty {
            let taken = remaining.prefix(blockSampleCount - pending.count)
            pending.append(contentsOf: taken)
            remaining = remaining.dropFirst(taken.count)
            if pending.count == blockSampleCount { submit() }
        }
    }

    func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        if !pending.isEmpty { submit() }
        queue.sync {}  // every submitted block has been written
        if let error = failure.withLock({ $0 }) { throw error }
        try inner.close()
    }

    /// Hands the gathered block to the writer's thread, waiting while too many are in flight.
    private func submit() {
        let block = pending
        pending = []
        pending.reserveCapacity(blockSampleCount)
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard failure.withLock({ $0 }) == nil else { return }
            do throws(OutputError) {
                try block.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Int16>) throws(OutputError) in try inner.write(buffer) }
            } catch {
                failure.withLock { $0 = error }
            }
        }
    }
}
