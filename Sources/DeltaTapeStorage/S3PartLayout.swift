/// Where each part of a spooled upload lies in its spool file: parts of ``basePartByteCount`` bytes, doubled every
/// 1,000 parts (so that 10,000 parts hold far more than any recording), and a last part with the rest. The upload
/// sink plans its parts by it while writing, and a repair finds them again by it from the manifest alone.
public struct S3PartLayout: Sendable, Hashable {
    /// One part: its number (1-based), where it starts in the spool file, and its length.
    public struct Part: Sendable, Hashable {
        /// 1 to 10,000.
        public var number: Int
        /// Where it starts in the spool file.
        public var offset: Int
        /// Its length.
        public var byteCount: Int
        /// Its bytes' range in the spool file.
        public var range: Range<Int> { offset..<(offset + byteCount) }
    }

    /// Bytes of each of the first 1,000 parts (at least S3's 5 MiB).
    public let basePartByteCount: Int

    /// A layout of parts of `basePartByteCount` bytes (raised to 5 MiB when smaller).
    ///
    /// - Parameter basePartByteCount: Bytes of each of the first 1,000 parts.
    public init(basePartByteCount: Int) {
        self.basePartByteCount = max(Int(S3MultipartLimits.minimumPartByteCount), basePartByteCount)
    }

    /// Bytes of part `number` when it is not the last.
    ///
    /// - Parameter number: The part's number (1-based).
    /// - Returns: Its length.
    public func byteCount(ofPart number: Int) -> Int {
        basePartByteCount << min(20, max(0, number - 1) / 1_000)
    }

    /// The part after `parts` (the parts planned so far, in order) when `byteCount` bytes are written and more may
    /// come: a whole part that is not the last (bytes follow it), or `nil`.
    ///
    /// - Parameters:
    ///   - previous: The last part planned so far, if any.
    ///   - byteCount: Bytes written.
    /// - Returns: The next whole part, or `nil` while it is not whole or the 10,000th part is due (the last holds the rest).
    public func wholePart(after previous: Part?, byteCount: Int) -> Part? {
        let number = (previous?.number ?? 0) + 1
        let offset = previous.map { $0.offset + $0.byteCount } ?? 0
        let size = self.byteCount(ofPart: number)
        guard byteCount - offset > size, number < S3MultipartLimits.maximumPartCount else { return nil }
        return Part(number: number, offset: offset, byteCount: size)
    }

    /// Every part of a finished spool file of `byteCount` bytes, the last one holding the rest: what the sink sends
    /// when it closes. No part for an empty file.
    ///
    /// - Parameter byteCount: The spool file's length.
    /// - Returns: The parts in order.
    public func parts(forByteCount byteCount: Int) -> [Part] {
        var parts: [Part] = []
        while let next = wholePart(after: parts.last, byteCount: byteCount) { parts.append(next) }
        let end = parts.last.map { $0.offset + $0.byteCount } ?? 0
        if byteCount > end { parts.append(Part(number: parts.count + 1, offset: end, byteCount: byteCount - end)) }
        return parts
    }
}
