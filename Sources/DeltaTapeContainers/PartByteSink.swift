/// Gathers a stream into fixed-size parts and hands each, in order, to a closure: for multipart uploads (S3's
/// `UploadPart`, Google Cloud Storage's XML multipart, Azure's staged blocks), which take a file as numbered parts of
/// a minimum size.
///
/// Every part has ``partByteCount`` bytes except the last, which has the rest (1 byte to ``partByteCount``): a full part
/// is held until a byte after it arrives, so the last part is known when it is handed out and is never empty. A
/// stream of no bytes hands out no part.
///
/// The sink never seeks: it is not a ``PositionalByteSink``, so writers give it their streaming forms. Ogg Opus is
/// the same stream everywhere; WebM is written in its live form (unknown-size Segment and Clusters, as browsers'
/// MediaRecorder writes it); WAV gets the streaming header, both sizes `0xFFFFFFFF` (the form ffmpeg writes to a
/// pipe, which sox, ffmpeg and libsndfile read to the end, and `deltatape repair` turns into exact sizes).
///
/// Memory: one part (the one being gathered, or the full one held until the next byte arrives), allocated once per
/// part and handed over without a copy. What has not been handed out when a process dies is lost, up to one part; pick
/// the part size with that in mind.
public final class PartByteSink: ByteSink {
    /// One part of the stream.
    public struct Part: Sendable {
        /// 1 for the first part, then 2, 3 … (S3's part numbers count from 1 too).
        public var number: Int
        /// Where the part starts in the stream.
        public var offset: Int
        /// The part's bytes: ``PartByteSink/partByteCount`` of them, fewer only in the last part.
        public var bytes: [UInt8]
        /// Whether this is the stream's last part (handed out by ``PartByteSink/close()``).
        public var isLast: Bool
    }

    /// 5 MiB: the smallest part S3 takes (all but the last).
    public static let defaultPartByteCount = 5 << 20

    /// A name for messages.
    public let name: String
    /// Bytes in every part but the last.
    public let partByteCount: Int
    /// Bytes written so far (handed out or not).
    public private(set) var byteCount = 0
    /// Parts handed out so far.
    public private(set) var partCount = 0

    private let handOut: (Part) throws -> Void
    private var gathering: [UInt8] = []
    /// A full part waiting for the next byte (or ``close()``) to tell whether it is the last.
    private var held: [UInt8]?
    private var closed = false

    /// Creates a sink that hands out parts of `partByteCount` bytes to `handOut`.
    ///
    /// - Parameters:
    ///   - name: A name for messages (the object's key, say).
    ///   - partByteCount: Bytes in every part but the last; at least 1 (default 5 MiB, S3's minimum).
    ///   - handOut: Receives each part, in order, on the thread that writes; an error it throws becomes the write's
    ///     ``OutputError`` (and the conversion's), naming the part and how much was handed out before.
    public init(name: String, partByteCount: Int = PartByteSink.defaultPartByteCount, handOut: @escaping (Part) throws -> Void) {
        precondition(partByteCount > 0, "a part holds at least one byte")
        self.name = name
        self.partByteCount = partByteCount
        self.handOut = handOut
        gathering.reserveCapacity(partByteCount)
    }

    /// Appends bytes, handing out every part they complete (each once a byte after it has arrived).
    ///
    /// - Throws: ``OutputError`` when the closure fails, or after ``close()``.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard !closed else { throw OutputError(path: name, reason: "write after close") }
        var remaining = bytes[...]
        while !remaining.isEmpty {
            // A byte beyond a held part: that part was not the last.
            if let full = held {
                held = nil
                try deliver(full, isLast: false)
            }
            let taken = remaining.prefix(partByteCount - gathering.count)
            gathering.append(contentsOf: UnsafeRawBufferPointer(rebasing: taken))
            remaining = remaining.dropFirst(taken.count)
            byteCount += taken.count
            if gathering.count == partByteCount {
                held = gathering
                gathering = []
                gathering.reserveCapacity(partByteCount)
            }
        }
    }

    /// Hands out the last part (what is held or gathered). Called again, it does nothing.
    ///
    /// - Throws: ``OutputError`` when the closure fails.
    public func close() throws(OutputError) {
        guard !closed else { return }
        closed = true
        // Either a full part is held or some bytes are gathered: a byte after a held part hands it out first.
        if let full = held {
            held = nil
            try deliver(full, isLast: true)
        } else if !gathering.isEmpty {
            let last = gathering
            gathering = []
            try deliver(last, isLast: true)
        }
    }

    private func deliver(_ bytes: [UInt8], isLast: Bool) throws(OutputError) {
        let part = Part(number: partCount + 1, offset: partCount * partByteCount, bytes: bytes, isLast: isLast)
        do {
            try handOut(part)
        } catch {
            throw OutputError(path: name, reason: "handing out part \(part.number) (\(bytes.count) bytes at \(part.offset)) failed after "
                + "\(partCount) part(s), \(part.offset) bytes: \(error)")
        }
        partCount += 1
    }
}
