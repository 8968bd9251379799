@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// The dispatching decoder (AVX2 blocks where the CPU has them) against the plain scalar reference.
@Suite struct Base64SIMDTests {
    /// Decodes `text` placed at `alignment` bytes into a buffer, with both decoders; returns both results.
    private func both(_ text: [UInt8], alignment: Int) -> (fast: Result<[UInt8], Base64.DecodingError>, reference: Result<[UInt8], Base64.DecodingError>) {
        var padded = [UInt8](repeating: 0x41, count: alignment) + text
        let capacity = Base64.maximumDecodedByteCount(encodedByteCount: text.count) + alignment
        func run(_ decoder: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws(Base64.DecodingError) -> Int) -> Result<[UInt8], Base64.DecodingError> {
            var output = [UInt8](repeating: 0xEE, count: capacity)
            return padded.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    let input = UnsafeRawBufferPointer(rebasing: source[alignment...])
                    let target = UnsafeMutableRawBufferPointer(rebasing: destination[alignment...])
                    do throws(Base64.DecodingError) {
                        let count = try decoder(input, target)
                        return .success(Array(target[..<count]))
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
        defer { padded.removeAll() }
        return (run(Base64.decode), run(Base64.scalarDecode))
    }

    private func randomBase64(byteCount: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Array(Data(bytes).base64EncodedString().utf8)
    }

    /// Without this, a broken dispatch would leave the tests comparing the scalar code with itself.
    @Test func usesTheAVX2KernelWhereTheCPUHasIt() throws {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let hasAVX2 = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("avx2") ?? false
        #expect(SIMDSupport.avx2 == hasAVX2)
    }

    @Test func agreesWithTheReferenceAtEveryLengthAndAlignment() {
        var generator = SeededGenerator()
        // Every text length 0...4096 (valid base64 where the length allows, else random alphabet text),
        // each at an alignment cycling through 0...31; and every alignment for lengths up to 256.
        for length in 0...4096 {
            var text = randomBase64(byteCount: length / 4 * 3, using: &generator)
            while text.count < length { text.append(UInt8(ascii: "Q")) }
            let alignments = length <= 256 ? Array(0..<32) : [length % 32]
            for alignment in alignments {
                let (fast, reference) = both(text, alignment: alignment)
                #expect(fast == reference, "length \(length) alignment \(alignment), \(generator)")
            }
        }
    }

    @Test func findsEveryInvalidCharacterPositionInLongInput() {
        var generator = SeededGenerator()
        let valid = randomBase64(byteCount: 300, using: &generator)  // 400 characters, no padding
        for position in 0..<valid.count {
            var text = valid
            text[position] = [UInt8(ascii: "!"), UInt8(ascii: "="), 0x80, 0x00, UInt8(ascii: "-")][position % 5]
            let (fast, reference) = both(text, alignment: position % 32)
            #expect(fast == reference, "position \(position), \(generator)")
            guard case .failure(let error) = fast else {
                Issue.record("accepted a bad character at \(position)")
                continue
            }
            #expect(error.offset == position)
        }
    }

    @Test func paddingAtTheEndOfLongInput() {
        var generator = SeededGenerator()
        for byteCount in 60...100 {
            let text = randomBase64(byteCount: byteCount, using: &generator)
            let (fast, reference) = both(text, alignment: byteCount % 7)
            #expect(fast == reference, "\(generator)")
            #expect((try? fast.get())?.count == byteCount, "\(generator)")
        }
    }

    @Test func randomBytesAgreeWithTheReference() {
        var generator = SeededGenerator()
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...200, using: &generator) * 4
            var text = randomBase64(byteCount: length / 4 * 3, using: &generator)
            for _ in 0..<Int.random(in: 0...3, using: &generator) where !text.isEmpty {
                text[Int.random(in: 0..<text.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            let (fast, reference) = both(text, alignment: Int.random(in: 0..<32, using: &generator))
            #expect(fast == reference, "\(String(decoding: text, as: UTF8.self)), \(generator)")
        }
    }
}
