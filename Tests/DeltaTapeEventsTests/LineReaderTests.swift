@_spi(Blocks) import DeltaTapeEvents
import TestSupport
import Testing

/// Lines come out the same whatever size the reads are, with numbers, CRLF, BOM and long lines handled.
@Suite struct LineReaderTests {
    private func lines(_ bytes: [UInt8], readSize: Int, chunkSize: Int) throws -> [(Int, [UInt8])] {
        let reader = LineReader(source: MemoryByteSource(bytes, maximumReadSize: readSize), chunkSize: chunkSize)
        var result: [(Int, [UInt8])] = []
        while let (number, line) = try reader.nextLine() { result.append((number, Array(line))) }
        return result
    }

    /// The expectation, computed by splitting the whole input at once with the standard library.
    private func expected(_ bytes: [UInt8]) -> [(Int, [UInt8])] {
        // Lines end as the first line end says: a bare CR (not followed by LF) makes CR the separator, anything else LF.
        let firstEnd = bytes.firstIndex { $0 == 0x0A || $0 == 0x0D }
        let separator: UInt8 = firstEnd.map { bytes[$0] == 0x0D && bytes[($0 + 1)...].first != 0x0A } == true ? 0x0D : 0x0A
        var parts = bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
        if parts.last == [] { parts.removeLast() }
        // A byte order mark at the very start is dropped (a file of nothing else is one empty line).
        if let first = parts.first, first.starts(with: [0xEF, 0xBB, 0xBF]) { parts[0] = Array(first.dropFirst(3)) }
        return parts.enumerated().map { ($0.offset + 1, $0.element) }
    }

    @Test func sameLinesForEveryReadSize() throws {
        let text = "\u{FEFF}{\"a\":1}\r\n\r\n  \n{\"b\":\"" + String(repeating: "x", count: 300) + "\"}\n{\"c\":3}"
        let bytes = Array(text.utf8)
        let want = expected(bytes)
        for readSize in [1, 2, 3, 7, 16, 64, 1000] {
            for chunkSize in [16, 33, 4096] {
                let got = try lines(bytes, readSize: readSize, chunkSize: chunkSize)
                #expect(got.map(\.0) == want.map(\.0), "read \(readSize) chunk \(chunkSize)")
                #expect(got.map(\.1) == want.map(\.1), "read \(readSize) chunk \(chunkSize)")
            }
        }
    }

    @Test func randomInputsMatchTheStandardLibrarySplit() throws {
        var generator = SeededGenerator()
        for _ in 0..<300 {
            let length = Int.random(in: 0...2000, using: &generator)
            let bytes = (0..<length).map { _ in Bool.random(using: &generator) && Int.random(in: 0..<20, using: &generator) == 0 ? 0x0A : UInt8.random(in: 0x20...0x7E, using: &generator) }
            let got = try lines(bytes, readSize: Int.random(in: 1...300, using: &generator), chunkSize: Int.random(in: 16...512, using: &generator))
            let want = expected(bytes)
            #expect(got.map(\.0) == want.map(\.0), "\(generator)")
            #expect(got.map(\.1) == want.map(\.1), "\(generator)")
        }
    }

    /// A log whose lines end in a bare CR (classic Mac OS line ends) reads as lines, not as one line the length of the log.
    @Test func bareCarriageReturnsEndLines() throws {
        let text = "\u{FEFF}{\"a\":1}\r{\"b\":\"" + String(repeating: "x", count: 300) + "\"}\r\r{\"c\":3}\r"
        let bytes = Array(text.utf8)
        for readSize in [1, 2, 7, 64, 1000] {
            for chunkSize in [16, 33, 4096] {
                let got = try lines(bytes, readSize: readSize, chunkSize: chunkSize)
                #expect(got.map(\.0) == [1, 2, 3, 4], "read \(readSize) chunk \(chunkSize)")
                #expect(got.map { String(decoding: $0.1, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":\"" + String(repeating: "x", count: 300) + "\"}", "", "{\"c\":3}"],
                        "read \(readSize) chunk \(chunkSize)")
            }
        }
    }

    /// CR, LF and CRLF mixed at random, split across reads of every size: the first line end decides.
    @Test func randomLineEndsMatchTheReferenceSplit() throws {
        var generator = SeededGenerator()
        for _ in 0..<300 {
            let length = Int.random(in: 0...600, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                switch Int.random(in: 0..<30, using: &generator) {
                case 0: 0x0A
                case 1: 0x0D
                default: UInt8.random(in: 0x20...0x7E, using: &generator)
                }
            }
            let got = try lines(bytes, readSize: Int.random(in: 1...100, using: &generator), chunkSize: Int.random(in: 16...128, using: &generator))
            let want = expected(bytes)
            #expect(got.map(\.0) == want.map(\.0), "\(generator)")
            #expect(got.map(\.1) == want.map(\.1), "\(generator)")
        }
    }

    @Test func byteOrderMarkOnlyAtTheStart() throws {
        let bytes = Array("\u{FEFF}a\n\u{FEFF}b\n".utf8)
        let got = try lines(bytes, readSize: 5, chunkSize: 16)
        #expect(got.map(\.1) == [Array("a".utf8), Array("\u{FEFF}b".utf8)])
    }

    @Test func countsBytesRead() throws {
        let bytes = Array(repeating: UInt8(ascii: "z"), count: 10_000) + [0x0A]
        let reader = LineReader(source: MemoryByteSource(bytes, maximumReadSize: 999), chunkSize: 64)
        while try reader.nextLine() != nil {}
        #expect(reader.byteCount == bytes.count)
    }

    /// A line longer than the limit is passed over without being held (issue 14, item 1): it comes out empty with a
    /// problem naming its length, and the lines around it, numbered as in the file, come out whole. At every read size.
    @Test func aLineLongerThanTheLimitIsSkippedAndReported() throws {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 5_000)
        let bytes = Array("{\"a\":1}\n".utf8) + long + Array("\n{\"b\":2}\n".utf8) + long
        for readSize in [1, 7, 100, 10_000] {
            let reader = LineReader(source: MemoryByteSource(bytes, maximumReadSize: readSize), chunkSize: 256, maximumLineByteCount: 1_000)
            var got: [(Int, String, String?)] = []
            while let (number, line) = try reader.nextLine() { got.append((number, String(decoding: line, as: UTF8.self), reader.lineProblem)) }
            #expect(got.map(\.0) == [1, 2, 3, 4], "read \(readSize)")
            #expect(got.map(\.1) == [#"{"a":1}"#, "", #"{"b":2}"#, ""], "read \(readSize)")
            #expect(got[0].2 == nil && got[2].2 == nil, "read \(readSize)")
            // The whole line's length, including the part that was already in the buffer when the limit was reached.
            #expect(got[1].2?.contains("5000 bytes") == true && got[3].2?.contains("5000 bytes") == true, "read \(readSize): \(got)")
        }
    }
}
