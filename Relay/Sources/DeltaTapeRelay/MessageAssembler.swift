import NIOCore

/// Joins the frames of one message (a text or binary frame, then continuations until one is final).
struct MessageAssembler {
    let limit: Int
    private var bytes: [UInt8] = []
    private var oversized = false

    init(limit: Int) { self.limit = limit }

    /// Takes a frame's payload (`continues` for a continuation frame, `isFinal` for one with FIN); returns the message it completed, if it did (nothing for a message past the limit: the
    /// recording would skip it anyway, and holding it would take memory without bound).
    mutating func add(_ data: ByteBuffer, continues: Bool, isFinal: Bool) -> [UInt8]? {
        if !continues {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            oversized = false
        }
        if !oversized {
            if bytes.count + data.readableBytes > limit {
                oversized = true
                bytes = []
            } else {
                data.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
        }
        guard isFinal else { return nil }
        defer { bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20) }
        return oversized ? nil : bytes
    }
}
