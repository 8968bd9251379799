@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// Decoding in pieces split at any byte gives what decoding whole gives: the same bytes, or the same error.
@Suite struct Base64StreamTests {
    private func whole(_ text: [UInt8]) -> Result<[UInt8], Base64.DecodingError> {
        var output = [UInt8](repeating: 0, count: Base64.maximumDecodedByteCount(encodedByteCount: text.count))
        return text.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { destination in
                do throws(Base64.DecodingError) {
                    return .success(Array(destination[..<(try Base64.decode(input, into: destination))]))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    private func streamed(_ text: [UInt8], cuts: [Int]) -> Result<[UInt8], Base64.DecodingError> {
        var decoder = Base64StreamDecoder()
        var result: [UInt8] = []
        var start = 0
        for end in cuts + [text.count] where end >= start {
            let chunk = Array(text[start..<end])
            var output = [UInt8](repeating: 0, count: Base64StreamDecoder.maximumDecodedByteCount(chunkByteCount: chunk.count))
            let step: Result<Int, Base64.DecodingError> = chunk.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { destination in
                    Result { () throws(Base64.DecodingError) -> Int in try decoder.decode(input, into: destination) }
                }
            }
            switch step {
            case .success(let count): result += output[..<count]
            case .failure(let error): return .failure(error)
            }
            start = end
        }
        do throws(Base64.DecodingError) {
            try decoder.finish()
        } catch {
            return .failure(error)
        }
        return .success(result)
    }

    @Test func randomSplitsOfValidAndCorruptedText() {
        var generator = SeededGenerator()
        let noise: [UInt8] = Array("=!-_ \n\u{7F}".utf8) + [0x80, 0xFF]
        for round in 0..<4_000 {
            let byteCount = Int.random(in: 0...120, using: &generator)
            var text = Array(Data((0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString().utf8)
            switch round % 4 {
            case 1 where !text.isEmpty: text[Int.random(in: 0..<text.count, using: &generator)] = noise.randomElement(using: &generator)!
            case 2 where !text.isEmpty: text.removeLast(Int.random(in: 1...min(3, text.count), using: &generator))
            case 3: text += Array("QUJD".utf8.prefix(Int.random(in: 0...4, using: &generator)))
            default: break
            }
            let cuts = (0..<Int.random(in: 0...6, using: &generator)).map { _ in Int.random(in: 0...text.count, using: &generator) }.sorted()
            #expect(streamed(text, cuts: cuts) == whole(text), "\(String(decoding: text, as: UTF8.self)) cut at \(cuts), \(generator)")
        }
    }

    @Test func everySingleByteSplit() {
        let text = Array(Data((0..<50).map { UInt8($0 * 7 & 0xFF) }).base64EncodedString().utf8)
        #expect(streamed(text, cuts: Array(1..<text.count)) == whole(text))
    }
}
