#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Something that hands out one message at a time with the line it starts on: JSON Lines or a JSON array.
public protocol MessageSource: AnyObject {
    /// Total bytes read from the input so far.
    var byteCount: Int { get }
    /// The next message's bytes (valid until the next call) and the 1-based line it starts on; `nil` at the end.
    func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)?
}

extension LineReader: MessageSource {
    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        guard let (number, bytes) = try nextLine() else { return nil }
        return (number, bytes)
    }
}

/// Splits a file holding one JSON array of messages into its elements, reading in bounded chunks.
///
/// Only the array's structure is followed here (strings, escapes, nesting); each element is validated by the
/// ``EventReader``. Memory is one buffer the size of the largest element or the chunk size.
public final class JSONArrayReader<Source: ByteSource>: MessageSource {
    private var source: Source
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    private var reachedEnd = false
    private var line = 1
    private var openedArray = false
    private var closedArray = false
    public private(set) var byteCount = 0

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time.
    ///   - prefix: Bytes already read from `source`.
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = []) {
        self.source = source
        buffer = .allocate(byteCount: max(chunkSize, prefix.count, 16), alignment: 16)
        prefix.withUnsafeBytes { buffer.copyMemory(from: $0) }
        end = prefix.count
        byteCount = prefix.count
    }

    deinit {
        buffer.deallocate()
    }

    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        guard !closedArray else { return nil }
        // Skip to the next element: whitespace, a byte order mark, the opening bracket, commas.
        while true {
            if start == end {
                if reachedEnd { return nil }
                try fill()
                continue
            }
            let byte = buffer[start]
            if byte == 0x0A { line += 1 }
            let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
            let isByteOrderMark = !openedArray && (byte == 0xEF || byte == 0xBB || byte == 0xBF)
            if isSpace || isByteOrderMark {
                start += 1
            } else if !openedArray && byte == UInt8(ascii: "[") {
                openedArray = true
                start += 1
            } else if openedArray && byte == UInt8(ascii: ",") {
                start += 1
            } else if openedArray && byte == UInt8(ascii: "]") {
                closedArray = true
                return nil
            } else {
                break
            }
        }
        // Scan the element to its end, following strings and nesting.
        let elementLine = line
        var offset = 0  // from `start`
        var depth = 0
        var inString = false, escaped = false
        scan: while true {
            if start + offset == end {
                if reachedEnd { break scan }  // cut short: the event reader reports it as invalid JSON
                try fill()
                continue
            }
            let byte = buffer[start + offset]
            if byte == 0x0A { line += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                offset += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { break scan }  // the array's closing bracket right after a scalar element
                depth -= 1
                if depth == 0 {
                    offset += 1
                    break scan  // an object or array element is complete
                }
            case UInt8(ascii: ","):
                if depth == 0 { break scan }  // a scalar element ends
            default:
                break
            }
            offset += 1
        }
        let element = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + offset)])
        start += offset
        return (elementLine, element)
    }

    /// Moves unread bytes to the front, grows the buffer if an element fills it, and reads more.
    private func fill() throws(InputError) {
        let pending = end - start
        if start > 0 {
            if pending > 0, let base = buffer.baseAddress { memmove(base, base + start, pending) }
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
        if count == 0 { reachedEnd = true } else { end += count; byteCount += count }
    }
}
