@_spi(Blocks) import DeltaTapeEvents
import Foundation
import TestSupport
import Testing

/// A chunk source over bytes in memory, cut where the test says: every chunk handed out and given back is counted.
final class MemoryChunkSource: ChunkByteSource {
    let name = "chunks"
    private var pieces: ArraySlice<[UInt8]>
    private(set) var handedOut = 0
    private(set) var givenBack = 0
    /// What read(into:) has not yet copied out of its piece.
    private var unread: ArraySlice<UInt8> = []

    /// Serves `bytes` in pieces of the sizes `cut` gives, one after another.
    init(_ bytes: [UInt8], cut: (Int) -> Int) {
        var pieces: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let size = min(max(1, cut(pieces.count)), bytes.count - offset)
            pieces.append(Array(bytes[offset..<(offset + size)]))
            offset += size
        }
        self.pieces = pieces[...]
    }

    func nextChunk() throws(InputError) -> ByteChunk? {
        let piece: [UInt8]
        if !unread.isEmpty {
            piece = Array(unread)
            unread = []
        } else if let next = pieces.popFirst() {
            piece = next
        } else {
            return nil
        }
        let chunk = ByteChunk(capacity: piece.count)
        chunk.fill(copying: piece)
        handedOut += 1
        return chunk
    }

    func recycle(_ chunk: ByteChunk) {
        givenBack += 1
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        if unread.isEmpty, let next = pieces.popFirst() { unread = next[...] }
        let taken = unread.prefix(buffer.count)
        buffer.copyBytes(from: taken)
        unread = unread.dropFirst(taken.count)
        return taken.count
    }
}

/// The message readers read the chunks a ``ChunkByteSource`` hands over where they lie, with the tail of a message cut
/// by a chunk's end put in front of the next chunk: the messages, their line numbers, labels, times and problems are the
/// ones the same bytes give read by copying, whatever the cuts, and every chunk is given back.
@Suite struct ChunkSourceTests {
    /// One message as a reader hands it out, with what it says about it.
    struct Read: Equatable {
        var line: Int
        var bytes: [UInt8]
        var label: String?
        var problem: String?
        var time: Double?
    }

    static func readAll(_ reader: some MessageSource) throws -> [Read] {
        var all: [Read] = []
        while let (line, bytes) = try reader.nextMessage() {
            all.append(Read(line: line, bytes: Array(bytes), label: reader.messageLabel, problem: reader.messageProblem, time: reader.messageTime))
        }
        return all
    }

    /// A reader of `kind` over `source`.
    static func reader<Source: ByteSource>(_ kind: String, _ source: Source, limit: Int = 64 << 20) -> any MessageSource {
        switch kind {
        case "har": HARReader(source: source, maximumMessageByteCount: limit)
        case "json": JSONArrayReader(source: source, maximumMessageByteCount: limit)
        default: LineReader(source: source, maximumLineByteCount: limit)
        }
    }

    /// Cut sizes: tiny (a message over many chunks, its tail longer than a chunk), around a message's length, and large.
    static let cutRanges: [ClosedRange<Int>] = [1...40, 200...9_000, 50_000...300_000]

    @Test(arguments: ["ga-basic", "crlf-bom", "malformed", "cut-off-line", "json-array", "har-openai", "har-gemini"])
    func sameMessagesWhateverTheCuts(_ session: String) throws {
        let path = try GeneratedSessions.log(session)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let kind = URL(fileURLWithPath: path).pathExtension
        let expected = try Self.readAll(Self.reader(kind, MemoryByteSource(bytes)))
        #expect(expected.count > 10)
        var generator = SeededGenerator()
        for range in Self.cutRanges {
            let source = MemoryChunkSource(bytes) { _ in Int.random(in: range, using: &generator) }
            var reader: (any MessageSource)? = Self.reader(kind, source)
            let got = try Self.readAll(reader!)
            reader = nil
            #expect(got.count == expected.count, "cuts \(range)")
            let first = got.indices.first { $0 >= expected.count || got[$0] != expected[$0] }
            #expect(first == nil, "cuts \(range): first difference at message \(first ?? -1)")
            #expect(source.handedOut > 0 && source.givenBack == source.handedOut, "cuts \(range): \(source.handedOut) out, \(source.givenBack) back")
        }
    }

    /// Lines longer than the room in front of a chunk (64 KiB), cut anywhere: the standard library's split is the
    /// expectation, and a line over the limit is reported, not handed out, even when one chunk holds it whole.
    @Test func longLinesMatchTheStandardLibrarySplit() throws {
        var generator = SeededGenerator()
        for _ in 0..<20 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                let length = Bool.random(using: &generator) ? Int.random(in: 0...300, using: &generator) : Int.random(in: 60_000...200_000, using: &generator)
                bytes += (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) } + [0x0A]
            }
            let limit = 150_000
            let want = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().enumerated().map { index, line in
                line.count > limit
                    ? Read(line: index + 1, bytes: [], problem: "a message of \(line.count) bytes, longer than the limit of \(limit) bytes; it was skipped, "
                        + "so that memory stays bounded (--max-message-bytes sets the limit)")
                    : Read(line: index + 1, bytes: Array(line))
            }
            let range = Self.cutRanges.randomElement(using: &generator) ?? 1...40
            let source = MemoryChunkSource(bytes) { _ in Int.random(in: range, using: &generator) }
            let got = try Self.readAll(Self.reader("jsonl", source, limit: limit))
            #expect(got == want, "cuts \(range), lines \(want.map(\.bytes.count))")
        }
    }
}
