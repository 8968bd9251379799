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
    private let input: ReadBuffer<Source>
    private var lineNumber = 0
    private var atStartOfInput = true
    /// The longest line handed out; a longer one is skipped in bounded memory and reported.
    public let maximumLineByteCount: Int
    /// Why the last line was not handed out (it was longer than ``maximumLineByteCount``), or `nil`.
    public private(set) var lineProblem: String?

    /// The source lines are read from.
    public var source: Source { input.source }
    /// Total bytes read from the source so far.
    public var byteCount: Int { input.byteCount }

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time (the buffer grows past it only for longer lines).
    ///   - prefix: Bytes already read from `source` (for example while detecting the input's kind).
    ///   - maximumLineByteCount: The longest line handed out (64 MiB by default): a longer one is skipped without
    ///     being held, and ``lineProblem`` says so, so that no input can make memory grow without bound.
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = [], maximumLineByteCount: Int = 64 << 20) {
        input = ReadBuffer(source: source, chunkSize: min(chunkSize, max(16, maximumLineByteCount)), prefix: prefix)
        self.maximumLineByteCount = max(1, maximumLineByteCount)
    }

    /// Returns the next line (without its `\n`), valid until the next call, with its number; `nil` at the end.
    ///
    /// - Throws: ``InputError`` when the source fails.
    public func nextLine() throws(InputError) -> (number: Int, bytes: UnsafeRawBufferPointer)? {
        lineProblem = nil
        var searchFrom = input.start
        while true {
            if let newline = findNewline(from: searchFrom) {
                let line = UnsafeRawBufferPointer(rebasing: input.bytes[input.start..<newline])
                input.start = newline + 1
                return emit(line)
            }
            if input.reachedEnd {
                guard input.start < input.end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: input.bytes[input.start..<input.end])
                input.start = input.end
                return emit(line)
            }
            if input.end - input.start >= maximumLineByteCount { return try skipOversizedLine() }
            searchFrom = input.end - input.start  // after the move to the front, the unsearched part begins here
            try input.fill()
            searchFrom = min(searchFrom, input.end)
        }
    }

    /// Passes over the rest of a line longer than the maximum, a buffer at a time, and hands it out empty with
    /// ``lineProblem`` set.
    private func skipOversizedLine() throws(InputError) -> (number: Int, bytes: UnsafeRawBufferPointer) {
        var skipped = 0
        while true {
            if let newline = findNewline(from: input.start) {
                skipped += newline - input.start
                input.start = newline + 1
                break
            }
            skipped += input.end - input.start
            input.start = input.end
            if input.reachedEnd { break }
            try input.fill()
        }
        atStartOfInput = false
        lineNumber += 1
        lineProblem = "a message of \(skipped) bytes, longer than the limit of \(maximumLineByteCount) bytes; it was skipped, "
            + "so that memory stays bounded (--max-message-bytes sets the limit)"
        return (lineNumber, UnsafeRawBufferPointer(start: nil, count: 0))
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
        guard index < input.end, let base = input.bytes.baseAddress else { return nil }
        guard let found = memchr(base + index, 0x0A, input.end - index) else { return nil }
        return base.distance(to: found)
    }
}

extension UnsafeRawBufferPointer {
    /// Whether the bytes are only JSON whitespace (space, tab, CR, LF).
    public var isBlank: Bool {
        for byte in self where !(byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A) { return false }
        return true
    }
}
