import DeltaTapeKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The window of input the message readers (``LineReader``, ``JSONArrayReader``) work in: bytes read from a
/// source in chunks, with the unread part moved to the front before each read and the buffer doubled only when a
/// single message fills it. Memory is the chunk size or the largest message, whichever is larger.
///
/// From a ``ChunkByteSource`` the window is the source's chunk itself, not a copy: the unread end of the chunk before
/// (a message cut by the chunk's end) is put in the room in front of the next chunk's bytes, and the chunk before is
/// given back. Only a message longer than that room is gathered in a buffer of the reader's own.
final class ReadBuffer<Source: ByteSource> {
    private(set) var source: Source
    /// The source as a ``ChunkByteSource``, when it is one.
    private let chunks: (any ChunkByteSource)?
    /// The chunk ``bytes`` lies in; `nil` while it is the reader's own allocation.
    private var chunk: ByteChunk?
    private(set) var bytes: UnsafeMutableRawBufferPointer
    /// The first byte not yet handed out.
    var start = 0
    /// The end of the valid bytes.
    private(set) var end = 0
    /// Whether the source has reported its end.
    private(set) var reachedEnd = false
    /// Total bytes read from the source.
    private(set) var byteCount = 0

    init(source: Source, chunkSize: Int, prefix: [UInt8]) {
        self.source = source
        chunks = source as? any ChunkByteSource
        // A chunk source's chunks are the window: the reader's own buffer holds only the prefix.
        bytes = .allocate(byteCount: max(chunks == nil ? chunkSize : 0, prefix.count, 16), alignment: 16)
        prefix.withUnsafeBytes { bytes.copyMemory(from: $0) }
        end = prefix.count
        byteCount = prefix.count
    }

    deinit {
        if let chunk { chunks?.recycle(chunk) } else { bytes.deallocate() }
    }

    /// Moves the unread bytes to the front, grows the buffer if they fill it, and reads more.
    func fill() throws(InputError) {
        if let chunks { return try fill(from: chunks) }
        let pending = end - start
        if start > 0 {
            if pending > 0, let base = bytes.baseAddress { memmove(base, base + start, pending) }
            start = 0
            end = pending
        }
        if end == bytes.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count * 2, alignment: 16)
            grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<end]))
            bytes.deallocate()
            bytes = grown
        }
        let count = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[end...]))
        if count == 0 {
            reachedEnd = true
        } else {
            end += count
            byteCount += count
        }
    }

    /// Takes the source's next chunk as the window, the unread bytes put in front of its bytes.
    private func fill(from chunks: any ChunkByteSource) throws(InputError) {
        guard let next = try chunks.nextChunk() else {
            reachedEnd = true
            return
        }
        let pending = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        byteCount += next.byteCount
        if pending.count <= next.start {
            // The usual case: the message cut by the chunk's end fits in the room in front of the next chunk's bytes.
            next.memory.baseAddress!.advanced(by: next.start - pending.count).copyMemory(from: pending.baseAddress!, byteCount: pending.count)
            let newStart = next.start - pending.count
            release()
            chunk = next
            bytes = next.memory
            start = newStart
            end = next.end
            return
        }
        // A message longer than the room: gathered in a buffer of the reader's own, with the next chunk's bytes after it.
        let needed = pending.count + next.byteCount
        if chunk != nil || bytes.count < needed {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(needed, chunk == nil ? bytes.count * 2 : needed), alignment: 16)
            grown.copyMemory(from: pending)
            release()
            bytes = grown
        } else if start > 0, let base = bytes.baseAddress {
            memmove(base, base + start, pending.count)
        }
        start = 0
        end = pending.count
        (bytes.baseAddress! + end).copyMemory(from: next.bytes.baseAddress!, byteCount: next.byteCount)
        end += next.byteCount
        chunks.recycle(next)
    }

    /// Lets go of the window's memory: a chunk goes back to its source, a buffer of the reader's own is freed.
    private func release() {
        if let chunk {
            chunks?.recycle(chunk)
            self.chunk = nil
        } else {
            bytes.deallocate()
        }
    }
}

extension ReadBuffer {
    /// The next unread byte, reading more when the buffer is used up; `nil` at the end of the input.
    func peek() throws(InputError) -> UInt8? {
        while start == end {
            if reachedEnd { return nil }
            try fill()
        }
        return bytes[start]
    }

    /// Takes the JSON value that starts at ``start`` (see ``jsonValueLength(line:maximumByteCount:)``): its bytes, valid
    /// until the next read, and the line it starts on. A value longer than `maximumByteCount` is passed over without
    /// being held: its bytes are then empty and `skippedByteCount` says how long it was.
    func takeJSONValue(line: inout Int, maximumByteCount: Int) throws(InputError)
        -> (line: Int, bytes: UnsafeRawBufferPointer, skippedByteCount: Int?) {
        let firstLine = line
        let (length, skipped) = try jsonValueLength(line: &line, maximumByteCount: maximumByteCount)
        let value = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
        start += length
        guard skipped == 0, length <= maximumByteCount else { return (firstLine, UnsafeRawBufferPointer(start: nil, count: 0), skipped + length) }
        return (firstLine, value, nil)
    }

    /// The length of the JSON value that starts at ``start``, found by following strings, escapes and nesting
    /// (not validated: the ``EventReader`` does that), reading more input as needed. A scalar ends before the `,`
    /// or `]` that follows it. When the input ends first, the length runs to its end. The length is at least 1
    /// when any input is left, so a caller always makes progress.
    ///
    /// Once the value is longer than `maximumByteCount`, the bytes behind the reading position are let go as it moves on
    /// (the structure is still followed, so the value's end is found): memory stays bounded whatever the value's length.
    ///
    /// - Parameter line: Incremented for each newline passed.
    /// - Returns: The length from ``start`` of what remains of the value, and the bytes let go before it (0 unless the value
    ///   was longer than the maximum).
    func jsonValueLength(line: inout Int, maximumByteCount: Int) throws(InputError) -> (length: Int, skipped: Int) {
        var skipped = 0
        var offset = 0  // from `start`, which stays put while `fill` moves the bytes
        var depth = 0
        var inString = false, escaped = false
        while true {
            // Locals, not the class's properties, inside the loop: each property access is an exclusivity check.
            let base = UnsafePointer(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) + start
            let available = end - start
            while offset < available {
                if inString {
                    if escaped {
                        escaped = false
                        offset += 1
                        continue
                    }
                    // String content (base64 audio, mostly) is skipped by the string-scan kernel.
                    offset += JSONStringScan.plainPrefixLength(base + offset, count: available - offset)
                    guard offset < available else { break }
                    switch base[offset] {
                    case UInt8(ascii: "\\"): escaped = true
                    case UInt8(ascii: "\""): inString = false
                    case 0x0A: line += 1  // invalid inside a string; counted so later line numbers stay right
                    default: break
                    }
                    offset += 1
                    continue
                }
                switch base[offset] {
                case 0x0A:
                    line += 1
                case UInt8(ascii: "\""):
                    inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    // The enclosing array's closing bracket right after a scalar; a stray closer is a value of its own
                    // (an invalid one, for the event reader to report), so that every call moves on.
                    if depth == 0 { return (skipped + offset == 0 ? 1 : offset, skipped) }
                    depth -= 1
                    if depth == 0 { return (offset + 1, skipped) }  // an object or array is complete
                case UInt8(ascii: ","):
                    if depth == 0 { return (skipped + offset == 0 ? 1 : offset, skipped) }  // a scalar ends (a stray comma: as above)
                default:
                    break
                }
                offset += 1
            }
            if reachedEnd { return (offset, skipped) }
            if skipped + offset > maximumByteCount {
                // Too long to hold: let go of what was passed (the scanning state above carries the structure on).
                start += offset
                skipped += offset
                offset = 0
            }
            try fill()
        }
    }
}
