import NIOCore

/// Joins the frames of one message (a text or binary frame, then continuations until one is final).
struct MessageAssembler {
    let limit: Int
    private var bytes: [UInt8] = []
    private var oversized = false

    init(limit: Int) { self.limit = limit }

    /// Takes a frame's payload (`continues` for a continuation frame, `isFinal` for one with FIN); returns the message it
    /// completed, if it did (nothing for a message past the limit: the recording would skip it anyway, and holding it
    /// would take memory without bound).
    ///
    /// A message is handed over in an array of its own size: the recording holds it until recorded, and an array that
    /// kept the capacity of the largest message before it (a 1 MiB instruction, then thousands of 1-KiB deltas) would
    /// hold that much memory for each one.
    mutating func add(_ data: ByteBuffer, continues: Bool, isFinal: Bool) -> [UInt8]? {
        if !continues {
            bytes = []
            oversized = false
            // A message in one frame, the usual case: copied once, at its size.
            if isFinal { return data.readableBytes > limit ? nil : Array(data.readableBytesView) }
        }
        if !oversized {
            if bytes.count + data.readableBytes > limit {
                oversized = true
                bytes = []
            } else {
                bytes.append(contentsOf: data.readableBytesView)
            }
        }
        guard isFinal else { return nil }
        defer { bytes = [] }
        return oversized ? nil : bytes
    }
}
