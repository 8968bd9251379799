/// Bytes of an open file, sent as a request's body by positional reads (`pread`): the file's offset is left alone, and
/// a retried request reads the range again, so bytes spooled on disk never have to be held in memory.
public struct S3FileRange: Sendable, Hashable {
    /// An open file descriptor, readable, owned by the caller (the client neither moves nor closes it).
    public var descriptor: Int32
    /// Where the range starts in the file.
    public var offset: Int64
    /// How many bytes it holds.
    public var byteCount: Int64

    /// A range of an open file.
    ///
    /// - Parameters:
    ///   - descriptor: The file, open for reading; it must stay open while the request runs.
    ///   - offset: Where the range starts.
    ///   - byteCount: Its length; the file must hold that many bytes from `offset`.
    public init(descriptor: Int32, offset: Int64, byteCount: Int64) {
        self.descriptor = descriptor
        self.offset = offset
        self.byteCount = byteCount
    }
}
