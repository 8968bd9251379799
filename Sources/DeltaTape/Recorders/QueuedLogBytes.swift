@_spi(Blocks) import DeltaTapeEvents

/// The recorder's buffer as the byte source of the session-log reader on the recording thread: chunks are handed over
/// where they lie, and while a live log's bytes do not come the stall handler runs (on this thread, between waits).
final class QueuedLogBytes: ChunkByteSource, SessionLogSource {
    let name: String
    let isLive: Bool
    var stallHandler: InputStallHandler?
    private let recorder: SessionLogRecorder
    /// A chunk partly read by ``read(into:)``.
    private var current: ByteChunk?
    private var failure: InputError?
    /// The caller's request to finish, once it came: the end of the log.
    private var finish: (@Sendable (Result<ConversionSummary, ConversionError>) -> Void)?

    init(recorder: SessionLogRecorder, isLive: Bool) {
        self.recorder = recorder
        name = recorder.name
        self.isLive = isLive
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        while true {
            if let current, current.byteCount > 0 {
                let count = min(buffer.count, current.byteCount)
                guard count > 0, let target = buffer.baseAddress, let bytes = current.bytes.baseAddress else { return 0 }
                target.copyMemory(from: bytes, byteCount: count)
                current.dropFirst(count)
                return count
            }
            guard let next = try nextChunk() else { return 0 }
            current = next
        }
    }

    func nextChunk() throws(InputError) -> ByteChunk? {
        if let current {
            self.current = nil
            if current.byteCount > 0 { return current }
            recorder.recycle(current)
        }
        if let failure { throw failure }
        while finish == nil {
            // A stored log's bytes are waited for as long as they take; a live one's stall is reported.
            guard let entry = recorder.nextEntry(timeout: isLive ? stallHandler?.interval : nil) else {
                stallHandler?.action()
                continue
            }
            switch entry {
            case .chunk(let chunk):
                if chunk.byteCount > 0 { return chunk }
                recorder.recycle(chunk)
            case .readFailure(let error):
                failure = error
                throw error
            case .finish(let deliver):
                finish = deliver
            }
        }
        return nil
    }

    func recycle(_ chunk: ByteChunk) {
        recorder.recycle(chunk)
    }

    func close() {}

    /// Lets go of the log's bytes up to the caller's request to finish, and returns it.
    func finishRequest() -> @Sendable (Result<ConversionSummary, ConversionError>) -> Void {
        if let current {
            self.current = nil
            recorder.recycle(current)
        }
        while true {
            if let finish { return finish }
            switch recorder.nextEntry(timeout: nil) {
            case .chunk(let chunk)?: recorder.recycle(chunk)
            case .finish(let deliver)?: finish = deliver
            case .readFailure?, nil: break
            }
        }
    }
}
