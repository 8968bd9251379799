/// Something that hands out one message at a time with the line it starts on: JSON Lines, a JSON array, the
/// WebSocket frames of a HAR export.
public protocol MessageSource: AnyObject {
    /// Total bytes read from the input so far.
    var byteCount: Int { get }
    /// The next message's bytes (valid until the next call) and the 1-based line it starts on; `nil` at the end.
    func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)?
    /// Where the last message came from when its line alone does not say (`WebSocket frame 12`), for reports.
    var messageLabel: String? { get }
    /// Why the last message could not be taken out of its container, when it could not (its bytes are then empty).
    var messageProblem: String? { get }
    /// When the last message was sent or received, in seconds since the Unix epoch, when the container says.
    var messageTime: Double? { get }
}

extension MessageSource {
    public var messageLabel: String? { nil }
    public var messageProblem: String? { nil }
    public var messageTime: Double? { nil }
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
/// ``EventReader``. Memory is one buffer the size of the largest element or the chunk size. Arrays that follow the
/// first (a log appended to) are read too; anything else after the closing bracket is handed out with a
/// ``messageProblem``, so that nothing is dropped unsaid.
public final class JSONArrayReader<Source: ByteSource>: MessageSource {
    private let input: ReadBuffer<Source>
    private var line = 1
    private var openedArray = false
    private var closedArrays = 0
    public var byteCount: Int { input.byteCount }
    public private(set) var messageProblem: String?

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
        messageProblem = nil
        // Skip to the next element: whitespace, a byte order mark, the opening bracket, commas.
        while true {
            guard let byte = try input.peek() else { return nil }
            if byte == 0x0A { line += 1 }
            let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
            let isByteOrderMark = !openedArray && closedArrays == 0 && (byte == 0xEF || byte == 0xBB || byte == 0xBF)
            if isSpace || isByteOrderMark {
                input.start += 1
            } else if !openedArray && byte == UInt8(ascii: "[") {
                openedArray = true
                input.start += 1
            } else if openedArray && byte == UInt8(ascii: ",") {
                input.start += 1
            } else if openedArray && byte == UInt8(ascii: "]") {
                openedArray = false
                closedArrays += 1
                input.start += 1
            } else {
                break
            }
        }
        if closedArrays > 0 && !openedArray {
            messageProblem = "text after the end of the JSON array, where only another array or the end of the file may "
                + "follow; skipped"
        }
        return try input.takeJSONValue(line: &line)
    }
}
