@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// The kernels at the very edge of their buffers: input and output ending flush against an inaccessible page (an
/// access one byte too far faults), and exact outputs inside larger buffers whose slack must stay untouched.
/// Expectations come from Foundation's base64 and from Python (audioop, numpy), never from the kernels' references.
@Suite struct BufferEdgeTests {
    /// Lengths around every SIMD block size (16 and 32 elements, base64's 32 + 8 characters) and a few large ones.
    static let lengths = Array(0...100) + [127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097]

    private func randomBase64(byteCount: Int, using generator: inout SeededGenerator) -> (bytes: [UInt8], text: [UInt8]) {
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return (bytes, Array(Data(bytes).base64EncodedString().utf8))
    }

    @Test func base64DecodesAtPageEndsWithExactlySizedOutput() throws {
        var generator = SeededGenerator()
        for byteCount in 0...600 {
            let (bytes, text) = randomBase64(byteCount: byteCount, using: &generator)
            let capacity = Base64.maximumDecodedByteCount(encodedByteCount: text.count)
            let decoded = try withPageEndCopy(of: text) { input in
                try withPageEndBytes(count: capacity) { output in
                    Array(output[..<(try Base64.decode(input, into: output))])
                }
            }
            #expect(decoded == bytes, "\(byteCount) bytes, \(generator)")
        }
    }

    /// The AVX2 blocks store 32 bytes for every 24 they decode: the decoder must keep those 8 bytes inside the
    /// capacity it is given. Unpadded text (a multiple of 3 bytes) is the tightest case: capacity = decoded length.
    @Test func base64WritesNothingPastItsOutputAndReadsNothingPastItsInput() throws {
        var generator = SeededGenerator()
        let canary: UInt8 = 0xEE
        let trailing = Array(repeating: UInt8(ascii: "Q"), count: 64)  // valid base64 a reader running over would take
        for byteCount in 0...600 {
            let (bytes, text) = randomBase64(byteCount: byteCount, using: &generator)
            let capacity = Base64.maximumDecodedByteCount(encodedByteCount: text.count)
            let source = text + trailing
            var buffer = [UInt8](repeating: canary, count: capacity + 64)
            let count = try source.withUnsafeBytes { input in
                try buffer.withUnsafeMutableBytes { output in
                    try Base64.decode(UnsafeRawBufferPointer(rebasing: input[..<text.count]), into: UnsafeMutableRawBufferPointer(rebasing: output[..<capacity]))
                }
            }
            #expect(Array(buffer[..<count]) == bytes, "\(byteCount) bytes, \(generator)")
            let overrun = buffer[capacity...].firstIndex { $0 != canary }.map { $0 - capacity }
            #expect(overrun == nil, "\(byteCount) bytes: changed the byte \(overrun ?? 0) past the end of the output, \(generator)")
        }
    }

    @Test func base64StreamDecodesChunksAtPageEnds() throws {
        var generator = SeededGenerator()
        for byteCount in stride(from: 0, through: 900, by: 7) {
            let (bytes, text) = randomBase64(byteCount: byteCount, using: &generator)
            var decoder = Base64StreamDecoder()
            var decoded: [UInt8] = []
            var start = 0
            while start < text.count {
                let end = min(text.count, start + Int.random(in: 1...200, using: &generator))
                let chunk = Array(text[start..<end])
                let capacity = Base64StreamDecoder.maximumDecodedByteCount(chunkByteCount: chunk.count)
                decoded += try withPageEndCopy(of: chunk) { input in
                    try withPageEndBytes(count: capacity) { output in Array(output[..<(try decoder.decode(input, into: output))]) }
                }
                start = end
            }
            try decoder.finish()
            #expect(decoded == bytes, "\(byteCount) bytes, \(generator)")
        }
    }

    @Test func jsonStringScanReadsNothingPastItsInput() throws {
        for length in Self.lengths {
            let plain = [UInt8](repeating: UInt8(ascii: "A"), count: length)
            let found = try withPageEndCopy(of: plain) { input in
                JSONStringScan.plainPrefixLength(input.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!, count: length)
            }
            #expect(found == length, "length \(length)")
        }
    }

    /// All 256 codes through the buffer decoder (AVX2 where the CPU has it), at a page end, against audioop.
    @Test(arguments: [SampleEncoding.mulaw, .alaw]) func g711DecodeMatchesAudioopOnEveryCode(_ law: SampleEncoding) throws {
        let script = """
            import audioop, sys, warnings
            warnings.simplefilter("ignore")
            convert = audioop.ulaw2lin if sys.argv[1] == "mulaw" else audioop.alaw2lin
            sys.stdout.buffer.write(convert(bytes(range(256)) * 3, 2))
            """
        let expected = pcm16Samples(try python(script, [law == .mulaw ? "mulaw" : "alaw"]))
        let codes = (0..<768).map { UInt8($0 & 0xFF) }
        for length in Self.lengths where length <= codes.count {
            let decoded: [Int16] = try atPageEnds(Array(codes[..<length]), outputCount: length) { G711.decode(UnsafeRawBufferPointer($0), law: law, into: $1) }
            #expect(decoded[...] == expected[..<length], "\(law), \(length) codes")
        }
    }

    /// A-law encoding of all 65 536 values against audioop (whose A-law encoder is ITU-T G.191's). audioop's mu-law
    /// encoder is Sun's, which rounds 508 negative values differently from G.191: mu-law encoding is held to G.191's
    /// algorithm in `SampleKernelTests.g711EncodeMatchesG191OnEveryValue`.
    @Test func alawEncodeMatchesAudioopOnEveryValue() throws {
        let script = """
            import audioop, struct, sys, warnings
            warnings.simplefilter("ignore")
            sys.stdout.buffer.write(audioop.lin2alaw(struct.pack("<65536h", *range(-32768, 32768)), 2))
            """
        let expected = [UInt8](try python(script))
        let all = (Int16.min...Int16.max).map { $0 }
        let codes: [UInt8] = try atPageEnds(all, outputCount: all.count) { G711.encode($0, law: .alaw, into: UnsafeMutableRawBufferPointer($1)) }
        #expect(codes == expected)
        // The scalar formula too (the buffer encoder runs whole blocks of 16 in C where the CPU has AVX2).
        let formula = all.map { G711.alaw(linear: $0) }
        #expect(formula == expected)
    }

    /// Runs `kernel` with `input` and an output of `outputCount` elements each ending flush against a guard page.
    private func atPageEnds<Input, Output>(_ input: [Input], outputCount: Int,
                                            _ kernel: (UnsafeBufferPointer<Input>, UnsafeMutableBufferPointer<Output>) -> Void) throws -> [Output] {
        try withPageEndBytes(count: input.count * MemoryLayout<Input>.stride) { inputBytes in
            let source = inputBytes.bindMemory(to: Input.self)
            _ = source.initialize(from: input)
            return try withPageEndBytes(count: outputCount * MemoryLayout<Output>.stride, fill: 0xA5) { outputBytes in
                let destination = outputBytes.bindMemory(to: Output.self)
                kernel(UnsafeBufferPointer(source), destination)
                return Array(destination)
            }
        }
    }

    /// The sample kernels, at page ends, against numpy on the same inputs: float → int16 (round half to even,
    /// saturate, NaN → 0), int16 → float (÷ 32768), gain (float32 product, then the same rounding), saturating mix,
    /// interleaving and deinterleaving.
    @Test func sampleKernelsMatchNumpyAtPageEnds() throws {
        var generator = SeededGenerator()
        let count = 4097
        let specials: [Float] = [.nan, .infinity, -.infinity, 1, -1, 0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                 32767.5 / 32768, -32768.5 / 32768, 0.5 / 32768, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768, -2.5 / 32768]
        let floats: [Float] = (0..<count).map { index in
            switch index % 4 {
            case 0: specials[(index / 4) % specials.count]
            case 1: Float(Int.random(in: -40_000...40_000, using: &generator)) / 32768 + 0.5 / 32768  // exact halves
            default: Float.random(in: -1.2...1.2, using: &generator)
            }
        }
        let first: [Int16] = (0..<count).map { index in index % 9 == 0 ? (index % 2 == 0 ? .min : .max) : Int16.random(in: .min ... .max, using: &generator) }
        let second: [Int16] = (0..<count).map { index in index % 7 == 0 ? (index % 2 == 0 ? .max : .min) : Int16.random(in: .min ... .max, using: &generator) }
        let gains: [Float] = [0, 1, -1, 0.5, 2, 0.70710677, 1.999, 100, -3.25, .nan, .infinity]

        let script = """
            import sys, numpy as np
            n = int(sys.argv[1]); gains = np.array([float(g) for g in sys.argv[2:]], dtype=np.float32)
            data = sys.stdin.buffer.read()
            floats = np.frombuffer(data, dtype="<f4", count=n)
            first = np.frombuffer(data, dtype="<i2", count=n, offset=4 * n)
            second = np.frombuffer(data, dtype="<i2", count=n, offset=6 * n)
            def to_int16(values):
                with np.errstate(all="ignore"):
                    values = np.where(np.isnan(values), np.float32(0), values)
                    return np.clip(np.rint(values), -32768, 32767).astype("<i2")
            out = sys.stdout.buffer
            with np.errstate(all="ignore"):
                out.write(to_int16(floats * np.float32(32768)).tobytes())
                out.write((first.astype(np.float32) / np.float32(32768)).astype("<f4").tobytes())
                out.write(np.clip(first.astype(np.int32) + second, -32768, 32767).astype("<i2").tobytes())
                out.write(np.column_stack([first, second]).ravel().astype("<i2").tobytes())
                for gain in gains:
                    out.write(to_int16(first.astype(np.float32) * gain).tobytes())
            """
        let input = floats.withUnsafeBytes { Data($0) } + first.withUnsafeBytes { Data($0) } + second.withUnsafeBytes { Data($0) }
        let answer = try python(script, ["\(count)"] + gains.map { "\($0)" }, input: input)
        try #require(answer.count == count * (2 + 4 + 2 + 4 + 2 * gains.count))
        var offset = 0
        func next<T>(_ type: T.Type, _ elements: Int) -> [T] {
            defer { offset += elements * MemoryLayout<T>.stride }
            return answer.withUnsafeBytes { Array(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + elements * MemoryLayout<T>.stride)]).bindMemory(to: T.self)) }
        }
        let rounded = next(Int16.self, count), scaled = next(Float.self, count), mixed = next(Int16.self, count)
        let interleaved = next(Int16.self, 2 * count)
        let gained = gains.map { _ in next(Int16.self, count) }

        for length in Self.lengths where length <= count {
            let tag = "length \(length), \(generator)"
            let samples: [Int16] = try atPageEnds(Array(floats[..<length]), outputCount: length) { PCMConversion.samples(from: $0, into: $1) }
            #expect(samples[...] == rounded[..<length], "float → int16, \(tag)")
            let back: [Float] = try atPageEnds(Array(first[..<length]), outputCount: length) { PCMConversion.floats(from: $0, into: $1) }
            #expect(back[...] == scaled[..<length], "int16 → float, \(tag)")
            // Two-input kernels: both inputs as halves of one page-end buffer, the second half flush with the page.
            let pair = Array(first[..<length]) + Array(second[..<length])
            let sum: [Int16] = try atPageEnds(pair, outputCount: length) { input, output in
                PCMConversion.mix(UnsafeBufferPointer(rebasing: input[..<length]), UnsafeBufferPointer(rebasing: input[length...]), into: output)
            }
            #expect(sum[...] == mixed[..<length], "mix, \(tag)")
            let frames: [Int16] = try atPageEnds(pair, outputCount: 2 * length) { input, output in
                PCMConversion.interleave(left: UnsafeBufferPointer(rebasing: input[..<length]), right: UnsafeBufferPointer(rebasing: input[length...]), into: output)
            }
            #expect(frames[...] == interleaved[..<(2 * length)], "interleave, \(tag)")
            let split: [Int16] = try atPageEnds(frames, outputCount: 2 * length) { input, output in
                PCMConversion.deinterleave(input, left: UnsafeMutableBufferPointer(rebasing: output[..<length]), right: UnsafeMutableBufferPointer(rebasing: output[length...]))
            }
            #expect(split == pair, "deinterleave, \(tag)")
            for (gain, expected) in zip(gains, gained) {
                let result: [Int16] = try atPageEnds(Array(first[..<length]), outputCount: length) { PCMConversion.applyGain(gain, to: $0, into: $1) }
                #expect(result[...] == expected[..<length], "gain \(gain), \(tag)")
            }
        }
    }
}
