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
///
/// How lines end is decided at the first line end: `\n` (or `\r\n`) as JSON Lines says, or a bare `\r`
/// (classic Mac OS line ends, which some editors and Windows tools still write). In a log of bare `\r` ends every
/// line is then split at `\r`, instead of the whole log being one line too long to read.
@_spi(Blocks) public final class LineReader<Source: ByteSource> {
    private let input: ReadBuffer<Source>
    private var lineNumber = 0
    private var atStartOfInput = true
    /// The longest line handed out; a longer one is skipped in bounded memory and reported.
    public let maximumLineByteCount: Int
    /// Why the last line was not handed out (it was longer than ``maximumLineByteCount``), or `nil`.
    public private(set) var lineProblem: String?
    /// The byte lines end with: `\n` (also for `\r\n`) or `\r`; `nil` until the first line end is seen.
    public private(set) var lineEnd: UInt8?
    /// The last search stopped at a `\r` at the end of the bytes read, which is a line end unless `\n` follows.
    private var endsWithUndecidedCarriageReturn = false

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
            if let newline = findLineEnd(from: searchFrom) {
                let line = UnsafeRawBufferPointer(rebasing: input.bytes[input.start..<newline])
                input.start = newline + 1
                return emitWithinLimit(line)
            }
            if input.reachedEnd {
                guard input.start < input.end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: input.bytes[input.start..<input.end])
                input.start = input.end
                return emitWithinLimit(line)
            }
            if input.end - input.start >= maximumLineByteCount { return try skipOversizedLine() }
            // The unsearched part begins this far into the unread bytes, wherever filling puts them (a `\r` that may
            // precede `\n` is searched again).
            let searched = input.end - input.start - (endsWithUndecidedCarriageReturn ? 1 : 0)
            try input.fill()
            searchFrom = min(input.start + searched, input.end)
        }
    }

    /// Passes over the rest of a line longer than the maximum, a buffer at a time, and hands it out empty with
    /// ``lineProblem`` set.
    private func skipOversizedLine() throws(InputError) -> (number: Int, bytes: UnsafeRawBufferPointer) {
        var skipped = 0
        while true {
            if let newline = findLineEnd(from: input.start) {
                skipped += newline - input.start
                input.start = newline + 1
                break
            }
            let kept = endsWithUndecidedCarriageReturn ? 1 : 0  // searched again once more bytes are read
            skipped += input.end - input.start - kept
            input.start = input.end - kept
            if input.reachedEnd { break }
            try input.fill()
        }
        atStartOfInput = false
        lineNumber += 1
        lineProblem = oversizedMessageProblem(byteCount: skipped, limit: maximumLineByteCount)
        return (lineNumber, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Hands out a whole line, or, when it is longer than the maximum (a source's chunk can hold one whole), its
    /// number with ``lineProblem`` set, as ``skipOversizedLine()`` does.
    private func emitWithinLimit(_ line: UnsafeRawBufferPointer) -> (number: Int, bytes: UnsafeRawBufferPointer) {
        guard line.count > maximumLineByteCount else { return emit(line) }
        atStartOfInput = false
        lineNumber += 1
        lineProblem = oversizedMessageProblem(byteCount: line.count, limit: maximumLineByteCount)
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

    /// The position of the next line end at or after `index`, deciding ``lineEnd`` at the first one; `nil` when the bytes
    /// read so far hold none.
    private func findLineEnd(from index: Int) -> Int? {
        endsWithUndecidedCarriageReturn = false
        guard index < input.end, let base = input.bytes.baseAddress else { return nil }
        if let lineEnd {
            guard let found = memchr(base + index, Int32(lineEnd), input.end - index) else { return nil }
            return base.distance(to: found)
        }
        let newline = memchr(base + index, 0x0A, input.end - index).map { base.distance(to: $0) }
        let searchEnd = newline ?? input.end
        guard let carriageReturn = memchr(base + index, 0x0D, searchEnd - index).map({ base.distance(to: $0) }) else {
            if newline != nil { lineEnd = 0x0A }
            return newline
        }
        if carriageReturn + 1 == input.end && !input.reachedEnd {
            endsWithUndecidedCarriageReturn = true  // `\r\n` or a bare `\r`: the next read tells
            return nil
        }
        if carriageReturn + 1 < input.end && input.bytes[carriageReturn + 1] == 0x0A {
            lineEnd = 0x0A
            return carriageReturn + 1  // `\r\n`: the line keeps its `\r`, which JSON treats as whitespace
        }
        lineEnd = 0x0D
        return carriageReturn
    }
}

/// Why a message longer than the limit was not read, for every message reader.
func oversizedMessageProblem(byteCount: Int, limit: Int) -> String {
    "a message of \(byteCount) bytes, longer than the limit of \(limit) bytes; it was skipped, "
        + "so that memory stays bounded (--max-message-bytes sets the limit)"
}

extension UnsafeRawBufferPointer {
    /// Whether the bytes are only JSON whitespace (space, tab, CR, LF).
    @_spi(Blocks) public var isBlank: Bool {
        for byte in self where !(byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A) { return false }
        return true
    }
}
