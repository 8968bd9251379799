#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte source into lines, reading it in bounded chunks.
///
/// Memory is one buffer the size of the longest line or the chunk size, whichever is larger: it does
/// not grow with the input's length. A UTF-8 byte order mark at the very start is dropped; `\r\n`
/// line ends keep their `\r`, which JSON treats as whitespace. Lines are numbered from 1.
public final class LineReader<Source: ByteSource> {
    /// The source lines are read from.
    public private(set) var source: Source
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0  // first byte not yet handed out
    private var end = 0  // end of valid bytes
    private var lineNumber = 0
    private var reachedEnd = false
    private var atStartOfInput = true

    /// Total bytes read from the source so far.
    public private(set) var byteCount = 0

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time (the buffer grows past it only for longer lines).
    ///   - prefix: Bytes already read from `source` (for example while detecting the input's kind).
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = []) {
        self.source = source
        let capacity = max(chunkSize, prefix.count, 16)
        buffer = .allocate(byteCount: capacity, alignment: 16)
        prefix.withUnsafeBytes { buffer.copyMemory(from: $0) }
        end = prefix.count
        byteCount = prefix.count
    }

    deinit {
        buffer.deallocate()
    }

    /// Returns the next line (without its `\n`), valid until the next call, with its number; `nil` at the end.
    ///
    /// - Throws: ``InputError`` when the source fails.
    public func nextLine() throws(InputError) -> (number: Int, bytes: UnsafeRawBufferPointer)? {
        var searchFrom = start
        while true {
            if let newline = findNewline(from: searchFrom) {
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<newline])
                start = newline + 1
                return emit(line)
            }
            if reachedEnd {
                guard start < end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                start = end
                return emit(line)
            }
            searchFrom = end - start  // after compaction, the unsearched part begins here
            try fill()
            searchFrom = min(searchFrom, end)
        }
    }

    private func emit(_ line: UnsafeRawBufferPointer) -> (number: Int, bytes: UnsafeRawBufferPointer) {
        lineNumber += 1
        var line = line
        if atStartOfInput {
            atStartOfInput = false
            if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
                line = UnsafeRawBufferPointer(rebasing: line[3...])
            }
        }
        return (lineNumber, line)
    }

    private func findNewline(from index: Int) -> Int? {
        guard index < end, let base = buffer.baseAddress else { return nil }
        guard let found = memchr(base + index, 0x0A, end - index) else { return nil }
        return base.distance(to: found)
    }

    /// Moves the unread bytes to the front, grows the buffer if a line fills it, and reads more.
    private func fill() throws(InputError) {
        let pending = end - start
        if start > 0 {
            if pending > 0, let base = buffer.baseAddress {
                memmove(base, base + start, pending)
            }
            start = 0
            end = pending
        }
        if end == buffer.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<end]))
            buffer.deallocate()
            buffer = grown
        }
        let count = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if count == 0 {
            reachedEnd = true
        } else {
            end += count
            byteCount += count
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Whether the bytes are only JSON whitespace (space, tab, CR, LF).
    public var isBlank: Bool {
        for byte in self where !(byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A) { return false }
        return true
    }
}
