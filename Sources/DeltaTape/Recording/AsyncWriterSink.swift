public import DeltaTapeContainers
import Dispatch
import Synchronization

/// A ``ByteSink`` that hands its bytes, in order, to an async writer of the caller's (an upload stream, a socket).
///
/// The writers above it are synchronous and run on threads of their own (the recorder's, the encoder's), so a write
/// waits — blocking that thread, never a task of the cooperative pool — while the async writer holds `bufferedBytes`
/// not yet written. The first error the writer throws fails the next write and ``close()``.
public final class AsyncWriterSink: ByteSink, Sendable {
    public let name: String
    private let limit: Int
    private let shared = Shared()
    private let chunks: AsyncStream<[UInt8]>.Continuation

    private struct State {
        var written = 0
        var pending = 0
        var failure: String?
        var ended = false
        var closed = false
    }

    /// What the sink and the writer's task share.
    private final class Shared: Sendable {
        let state = Mutex(State())
        /// Signalled each time the writer finishes a chunk (room for more) and when it ends.
        let progress = DispatchSemaphore(value: 0)
    }

    private var progress: DispatchSemaphore { shared.progress }

    /// Starts the writer's task.
    ///
    /// - Parameters:
    ///   - name: The sink's name in messages.
    ///   - bufferedBytes: How many bytes may wait for the writer before a write waits.
    ///   - write: Receives the bytes in order.
    public init(name: String, bufferedBytes: Int = 1 << 20, write: @escaping @Sendable (_ bytes: [UInt8]) async throws -> Void) {
        self.name = name
        limit = max(1, bufferedBytes)
        let shared = shared
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        chunks = continuation
        Task {
            let progress = shared.progress
            for await chunk in stream {
                // After a failure the rest is only counted off, so that waiting writes return (and throw).
                if shared.state.withLock({ $0.failure == nil }) {
                    do {
                        try await write(chunk)
                        shared.state.withLock { $0.written += chunk.count }
                    } catch {
                        shared.state.withLock { $0.failure = "\(error)" }
                    }
                }
                shared.state.withLock { $0.pending -= chunk.count }
                progress.signal()
            }
            shared.state.withLock { $0.ended = true }
            progress.signal()
        }
    }

    /// Bytes the writer has taken.
    public var byteCount: Int { shared.state.withLock { $0.written } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard !bytes.isEmpty else { return }
        while true {
            let admitted = try shared.state.withLock { (state) throws(OutputError) -> Bool in
                if let failure = state.failure { throw failureError(failure, written: state.written) }
                guard state.pending == 0 || state.pending + bytes.count <= limit else { return false }
                state.pending += bytes.count
                return true
            }
            if admitted { break }
            progress.wait()
        }
        chunks.yield(Array(bytes))
    }

    /// Waits until the writer has taken every byte, then ends its task.
    public func close() throws(OutputError) {
        let alreadyClosed = shared.state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        if !alreadyClosed {
            chunks.finish()
            while !shared.state.withLock({ $0.ended }) { progress.wait() }
        }
        if let (failure, written) = shared.state.withLock({ state in state.failure.map { ($0, state.written) } }) {
            throw failureError(failure, written: written)
        }
    }

    private func failureError(_ failure: String, written: Int) -> OutputError {
        OutputError(path: name, reason: "the writer failed after taking \(written) bytes: \(failure)")
    }
}
