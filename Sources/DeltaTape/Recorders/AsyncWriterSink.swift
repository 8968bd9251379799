package import DeltaTapeContainers
import Dispatch
import Synchronization

/// A ``ByteSink`` that hands its bytes, in order, to an async writer of the caller's (an upload stream, a socket).
///
/// The writers above it are synchronous and run on threads of their own (the recorder's, the encoder's), so a write
/// waits — blocking that thread, never a task of the cooperative pool — while the async writer holds `bufferedBytes`
/// not yet written. The bytes go through the engine's ``IngressQueue``, whose consumer here is the writer's task; a
/// chunk counts until the writer has written it. The first error the writer throws fails the next write and
/// ``close()``. The writer's task runs on a thread of its own (``ThreadTaskExecutor``), so it runs even when the
/// blocking calls that wait for it were made from every thread of the cooperative pool; what the writer awaits on
/// other executors (an actor's) still needs those.
package final class AsyncWriterSink: ByteSink, Sendable {
    package let name: String
    private let chunks: IngressQueue<[UInt8]>
    private let shared = Shared()
    /// Signalled when the writer's task has ended.
    private let endedSignal: DispatchSemaphore

    private struct State {
        var written = 0
        var failure: String?
        var closed = false
    }

    /// What the sink and the writer's task share.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    /// Starts the writer's task.
    ///
    /// - Parameters:
    ///   - name: The sink's name in messages.
    ///   - bufferedBytes: How many bytes may wait for the writer before a write waits.
    ///   - write: Receives the bytes in order.
    package init(name: String, bufferedBytes: Int = 1 << 20, write: @escaping @Sendable (_ bytes: [UInt8]) async throws -> Void) {
        self.name = name
        let limit = max(1, bufferedBytes)
        // A write waits while the bytes not yet written would pass the limit, and goes on once any chunk is written.
        let chunks = IngressQueue<[UInt8]>(watermarks: BufferWatermarks(low: limit - 1, high: limit), accounting: .untilNextTake) { $0.count }
        self.chunks = chunks
        let shared = shared
        let endedSignal = DispatchSemaphore(value: 0)
        self.endedSignal = endedSignal
        let executor = ThreadTaskExecutor(name: "deltatape-wrt")
        Task(executorPreference: executor) {
            defer { executor?.stop() }
            while let chunk = await chunks.next() {
                // After a failure the rest is only let go, so that waiting writes return (and throw).
                guard shared.state.withLock({ $0.failure == nil }) else { continue }
                do {
                    try await write(chunk)
                    shared.state.withLock { $0.written += chunk.count }
                } catch {
                    shared.state.withLock { $0.failure = "\(error)" }
                    chunks.refuse()
                }
            }
            endedSignal.signal()
        }
    }

    /// Bytes the writer has taken.
    package var byteCount: Int { shared.state.withLock { $0.written } }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard !bytes.isEmpty else { return }
        try throwFailure()
        do throws(IngressRefusal) {
            try chunks.pushBlocking(Array(bytes), byteCount: bytes.count)
        } catch {
            try throwFailure()
            throw OutputError(path: name, reason: "the sink was closed")
        }
    }

    /// Waits until the writer has taken every byte, then ends its task.
    package func close() throws(OutputError) {
        let alreadyClosed = shared.state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        if !alreadyClosed {
            chunks.refuse(.finished)
            endedSignal.wait()
        }
        try throwFailure()
    }

    private func throwFailure() throws(OutputError) {
        if let (failure, written) = shared.state.withLock({ state in state.failure.map { ($0, state.written) } }) {
            throw OutputError(path: name, reason: "the writer failed after taking \(written) bytes: \(failure)")
        }
    }
}
