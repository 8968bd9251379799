import DeltaTapeKernels
import TestSupport
import Testing

/// The JSON string scan (AVX2 / SWAR) against its bytewise reference.
@Suite struct JSONStringScanTests {
    @Test func findsEverySpecialByteAtEveryPositionAndAlignment() {
        let specials: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x00, 0x1F, 0x0A, 0x80, 0xC3, 0xFF]
        var storage = [UInt8](repeating: UInt8(ascii: "A"), count: 200)
        var failures: [String] = []
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for alignment in 0..<32 {
                for length in [0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 100, 150] {
                    let start = base + alignment
                    // No special byte: the whole run is plain.
                    if JSONStringScan.plainPrefixLength(start, count: length) != length { failures.append("plain \(alignment)/\(length)") }
                    for position in 0..<length {
                        let special = specials[(position + alignment) % specials.count]
                        start[position] = special
                        let fast = JSONStringScan.plainPrefixLength(start, count: length)
                        let reference = JSONStringScan.scalarPlainPrefixLength(start, count: length)
                        if fast != reference || fast != position { failures.append("\(special) at \(position), \(alignment)/\(length): \(fast)") }
                        start[position] = UInt8(ascii: "A")
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test func randomBytesAgreeWithTheReference() {
        var generator = SeededGenerator()
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...300, using: &generator)
            // Mostly base64-like text with an occasional special byte.
            let bytes: [UInt8] = (0..<length).map { _ in
                Int.random(in: 0..<200, using: &generator) == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8.random(in: 0x41...0x5A, using: &generator)
            }
            bytes.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                #expect(JSONStringScan.plainPrefixLength(base, count: length) == JSONStringScan.scalarPlainPrefixLength(base, count: length), "\(generator)")
            }
        }
    }
}
