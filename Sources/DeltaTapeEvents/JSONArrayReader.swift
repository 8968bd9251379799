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
    private let input: ReadBuffer<Source>
    private var line = 1
    private var openedArray = false
    private var closedArray = false
    public var byteCount: Int { input.byteCount }

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time.
    ///   - prefix: Bytes already read from `source`.
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = []) {
        input = ReadBuffer(source: source, chunkSize: chunkSize, prefix: prefix)
    }

    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        guard !closedArray else { return nil }
        // Skip to the next element: whitespace, a byte order mark, the opening bracket, commas.
        while true {
            if input.start == input.end {
                if input.reachedEnd { return nil }
                try input.fill()
                continue
            }
            let byte = input.bytes[input.start]
            if byte == 0x0A { line += 1 }
            let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
            let isByteOrderMark = !openedArray && (byte == 0xEF || byte == 0xBB || byte == 0xBF)
            if isSpace || isByteOrderMark {
                input.start += 1
            } else if !openedArray && byte == UInt8(ascii: "[") {
                openedArray = true
                input.start += 1
            } else if openedArray && byte == UInt8(ascii: ",") {
                input.start += 1
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
            if input.start + offset == input.end {
                if input.reachedEnd { break scan }  // cut short: the event reader reports it as invalid JSON
                try input.fill()
                continue
            }
            let byte = input.bytes[input.start + offset]
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
        let element = UnsafeRawBufferPointer(rebasing: input.bytes[input.start..<(input.start + offset)])
        input.start += offset
        return (elementLine, element)
    }
}
