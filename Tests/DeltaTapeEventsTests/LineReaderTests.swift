import DeltaTapeEvents
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
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        var parts = body.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        if parts.last == [] { parts.removeLast() }
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
}
