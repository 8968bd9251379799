/// Splits a file holding one JSON array of messages into its elements, reading in bounded chunks.
///
/// Only the array's structure is followed here (strings, escapes, nesting); each element is validated by the
/// ``EventReader``. Memory is one buffer the size of the largest element or the chunk size. Arrays that follow the
/// first (a log appended to) are read too; anything else after the closing bracket is handed out with a
/// ``messageProblem``, so that nothing is dropped unsaid.
@_spi(Blocks) public final class JSONArrayReader<Source: ByteSource>: MessageSource {
    private let input: ReadBuffer<Source>
    private var line = 1
    private var openedArray = false
    private var closedArrays = 0
    private var elementCount = 0
    private var reportedEnd = false
    /// Bytes of the input read so far.
    public var byteCount: Int { input.byteCount }
    /// What was wrong with the element just returned, if anything.
    public private(set) var messageProblem: String?
    /// The longest element handed out; a longer one is passed over in bounded memory and reported.
    public let maximumMessageByteCount: Int

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time.
    ///   - prefix: Bytes already read from `source`.
    ///   - maximumMessageByteCount: The longest element handed out (64 MiB by default): a longer one is passed over
    ///     without being held, and ``messageProblem`` says so, so that no input can make memory grow without bound.
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = [], maximumMessageByteCount: Int = 64 << 20) {
        input = ReadBuffer(source: source, chunkSize: min(chunkSize, max(16, maximumMessageByteCount)), prefix: prefix)
        self.maximumMessageByteCount = max(1, maximumMessageByteCount)
    }

    /// The next element of the array, with its line; `nil` at the end.
    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        messageProblem = nil
        // Skip to the next element: whitespace, a byte order mark, the opening bracket, commas.
        while true {
            guard let byte = try input.peek() else {
                // An array never closed: the file was cut off (a tool killed while writing it), between elements or in one.
                guard openedArray, !reportedEnd else { return nil }
                reportedEnd = true
                messageProblem = "the input ends inside the JSON array, without its closing ']' (after \(elementCount) "
                    + "element\(elementCount == 1 ? "" : "s")): the file was cut off, perhaps while it was written; what it holds was read, "
                    + "what followed is missing"
                return (line, UnsafeRawBufferPointer(start: nil, count: 0))
            }
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
        elementCount += 1
        let (first, bytes, skipped) = try input.takeJSONValue(line: &line, maximumByteCount: maximumMessageByteCount)
        if let skipped { messageProblem = oversizedMessageProblem(byteCount: skipped, limit: maximumMessageByteCount) }
        return (first, bytes)
    }
}
