@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// Runs a fast kernel and its reference over every length 0...4096, each with input and output placed at
/// alignments (element offsets) that cycle through 0...15 and 0...6, and records the lengths where they differ.
///
/// Inputs are slices of random buffers refreshed every 64 lengths; buffers are allocated once, so the sweep
/// stays quick in debug builds.
private struct Sweep<Input, Output: Equatable> {
    var makeInput: (Int) -> [Input]  // random input of the given element count
    var inputPerFrame = 1  // input elements per output element (2 for deinterleaving)
    var outputPerFrame = 1  // output elements per input frame (2 for interleaving)
    var filler: Output

    func run(
        lengths: some Sequence<Int> = 0...4096,
        fast: (UnsafeBufferPointer<Input>, UnsafeMutableBufferPointer<Output>) -> Void,
        reference: (UnsafeBufferPointer<Input>, UnsafeMutableBufferPointer<Output>) -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let maximum = 4096 * inputPerFrame + 16
        var input = makeInput(maximum)
        var fastOutput = [Output](repeating: filler, count: 4096 * outputPerFrame + 16)
        var referenceOutput = fastOutput
        var failures: [Int] = []
        for length in lengths {
            if length % 64 == 0 { input = makeInput(maximum) }
            let inputAlignment = length % 16, outputAlignment = length % 7
            let inputCount = length * inputPerFrame, outputCount = length * outputPerFrame
            input.withUnsafeBufferPointer { source in
                let slice = UnsafeBufferPointer(rebasing: source[inputAlignment..<(inputAlignment + inputCount)])
                fastOutput.withUnsafeMutableBufferPointer { fast(slice, UnsafeMutableBufferPointer(rebasing: $0[outputAlignment..<(outputAlignment + outputCount)])) }
                referenceOutput.withUnsafeMutableBufferPointer { reference(slice, UnsafeMutableBufferPointer(rebasing: $0[..<outputCount])) }
            }
            if !fastOutput[outputAlignment..<(outputAlignment + outputCount)].elementsEqual(referenceOutput[..<outputCount]) {
                failures.append(length)
            }
        }
        let firstFailures = Array(failures.prefix(12))
        #expect(failures.count == 0, "differs from the reference at lengths \(firstFailures)...; random inputs from \(TestSeed.variable)=\(TestSeed.value)", sourceLocation: sourceLocation)
    }
}

/// A source of random Int16 samples with the extremes and small values over-represented, seeded for the calling test.
private func randomSamples(name: String = #function) -> (Int) -> [Int16] {
    var generator = SeededGenerator(name: name)
    return { count in
        (0..<count).map { index in
            switch (index &* 2654435761) >> 5 & 7 {
            case 0: .min
            case 1: .max
            case 2: Int16.random(in: -4...4, using: &generator)
            default: Int16(truncatingIfNeeded: generator.next())
            }
        }
    }
}

/// Every fast sample kernel against its plain reference on every length and alignment.
@Suite struct SampleKernelTests {
    @Test(arguments: [SampleEncoding.mulaw, .alaw]) func g711DecodeMatchesTheFormulas(_ law: SampleEncoding) {
        var generator = SeededGenerator()
        Sweep<UInt8, Int16>(makeInput: { count in (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }, filler: 0x5555).run(
            fast: { G711.decode(UnsafeRawBufferPointer($0), law: law, into: $1) },
            reference: { G711.scalarDecode(UnsafeRawBufferPointer($0), law: law, into: $1) })
    }

    @Test(arguments: [SampleEncoding.mulaw, .alaw]) func g711EncodeMatchesTheFormulas(_ law: SampleEncoding) {
        Sweep<Int16, UInt8>(makeInput: randomSamples(), filler: 0xAA).run(
            fast: { G711.encode($0, law: law, into: UnsafeMutableRawBufferPointer($1)) },
            reference: { G711.scalarEncode($0, law: law, into: UnsafeMutableRawBufferPointer($1)) })
    }

    @Test func g711CodesRoundTrip() {
        // Every code survives decoding and encoding again (mu-law's "negative zero" 0x7F comes back as 0xFF).
        for code in UInt8(0)...255 {
            #expect(G711.alaw(linear: G711.linear(alaw: code)) == code, "A-law \(code)")
            #expect(G711.mulaw(linear: G711.linear(mulaw: code)) == (code == 0x7F ? 0xFF : code), "mu-law \(code)")
        }
    }

    /// The encoders against ITU-T G.191's reference algorithm (`ulaw_compress`, `alaw_compress`), re-written in
    /// Python from its description, on all 65 536 sample values.
    @Test func g711EncodeMatchesG191OnEveryValue() throws {
        let script = """
            def ulaw(x):
                absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
                absno = min(absno, 0x1FFF)
                i = absno >> 6; segno = 1
                while i != 0:
                    segno += 1; i >>= 1
                high = 8 - segno; low = 15 - ((absno >> segno) & 0xF)
                code = (high << 4) | low
                return code | 0x80 if x >= 0 else code
            def alaw(x):
                ix = ((~x) >> 4) if x < 0 else (x >> 4)
                if ix > 15:
                    iexp = 1
                    while ix > 16 + 15:
                        ix >>= 1; iexp += 1
                    ix -= 16; ix += iexp << 4
                if x >= 0: ix |= 0x80
                return ix ^ 0x55
            import sys
            sys.stdout.buffer.write(bytes(ulaw(x) for x in range(-32768, 32768)))
            sys.stdout.buffer.write(bytes(alaw(x) for x in range(-32768, 32768)))
            """
        let tables = [UInt8](try python(script))
        try #require(tables.count == 2 * 65536)
        var mismatches = 0
        for (offset, value) in (-32768...32767).enumerated() {
            let sample = Int16(value)
            if G711.mulaw(linear: sample) != tables[offset] || G711.alaw(linear: sample) != tables[65536 + offset] {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        // The buffer encoder (AVX2 where the CPU has it) on all values too.
        let all = (Int16.min...Int16.max).map { $0 }
        for (law, offset) in [(SampleEncoding.mulaw, 0), (.alaw, 65536)] {
            var codes = [UInt8](repeating: 0, count: all.count)
            all.withUnsafeBufferPointer { samples in codes.withUnsafeMutableBytes { G711.encode(samples, law: law, into: $0) } }
            #expect(codes[...] == tables[offset..<(offset + 65536)], "\(law)")
        }
    }

    @Test func floatConversionsMatchTheReferenceAndRoundTrip() {
        Sweep<Int16, Float>(makeInput: randomSamples(), filler: .nan).run(
            fast: { PCMConversion.floats(from: $0, into: $1) },
            reference: { PCMConversion.scalarFloats(from: $0, into: $1) })
        // Known values (the scale is 1/32768: full negative scale is exactly -1).
        let known: [Int16] = [-32768, -16384, -1, 0, 1, 16384, 32767]
        var knownFloats = [Float](repeating: .nan, count: known.count)
        known.withUnsafeBufferPointer { source in knownFloats.withUnsafeMutableBufferPointer { PCMConversion.floats(from: source, into: $0) } }
        let expectedFloats: [Float] = [-1, -0.5, -0x1p-15, 0, 0x1p-15, 0.5, 32767 * 0x1p-15]
        #expect(knownFloats == expectedFloats)
        // Back to samples: exact for every 16-bit value.
        let all = (Int16.min...Int16.max).map { $0 }
        var floats = [Float](repeating: 0, count: all.count), back = [Int16](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { source in floats.withUnsafeMutableBufferPointer { PCMConversion.floats(from: source, into: $0) } }
        floats.withUnsafeBufferPointer { source in back.withUnsafeMutableBufferPointer { PCMConversion.samples(from: source, into: $0) } }
        #expect(back == all)
    }

    @Test func floatToSampleRoundsSaturatesAndHandlesNaNLikeTheReference() {
        let specials: [Float] = [.nan, .infinity, -.infinity, 1, -1, 1.5, -1.5, 0.5 / 32768, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768,
                                 32767.5 / 32768, -32768.5 / 32768, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0, -0.0]
        var generator = SeededGenerator()
        Sweep<Float, Int16>(makeInput: { count in
            (0..<count).map { index in index % 3 == 0 ? specials[index % specials.count] : Float.random(in: -1.2...1.2, using: &generator) }
        }, filler: 7).run(
            fast: { PCMConversion.samples(from: $0, into: $1) },
            reference: { PCMConversion.scalarSamples(from: $0, into: $1) })
    }

    @Test func interleavingMatchesTheReference() {
        // Input: left then right halves of one buffer, so one slice carries both channels.
        Sweep<Int16, Int16>(makeInput: randomSamples(), inputPerFrame: 2, outputPerFrame: 2, filler: 9).run(
            fast: { input, output in
                let half = input.count / 2
                PCMConversion.interleave(left: UnsafeBufferPointer(rebasing: input[..<half]), right: UnsafeBufferPointer(rebasing: input[half...]), into: output)
            },
            reference: { input, output in
                let half = input.count / 2
                PCMConversion.scalarInterleave(left: UnsafeBufferPointer(rebasing: input[..<half]), right: UnsafeBufferPointer(rebasing: input[half...]), into: output)
            })
    }

    @Test func deinterleavingMatchesTheReference() {
        // Output: left then right halves of one buffer.
        Sweep<Int16, Int16>(makeInput: randomSamples(), inputPerFrame: 2, outputPerFrame: 2, filler: 9).run(
            fast: { input, output in
                let half = output.count / 2
                PCMConversion.deinterleave(input, left: UnsafeMutableBufferPointer(rebasing: output[..<half]), right: UnsafeMutableBufferPointer(rebasing: output[half...]))
            },
            reference: { input, output in
                let half = output.count / 2
                PCMConversion.scalarDeinterleave(input, left: UnsafeMutableBufferPointer(rebasing: output[..<half]), right: UnsafeMutableBufferPointer(rebasing: output[half...]))
            })
    }

    @Test func interleaveThenDeinterleaveGivesTheChannelsBack() {
        let samples = randomSamples()
        let left = samples(1001), right = samples(1001)
        var frames = [Int16](repeating: 0, count: 2002), splitLeft = [Int16](repeating: 0, count: 1001), splitRight = splitLeft
        left.withUnsafeBufferPointer { l in right.withUnsafeBufferPointer { r in frames.withUnsafeMutableBufferPointer { PCMConversion.interleave(left: l, right: r, into: $0) } } }
        #expect(frames[0] == left[0] && frames[1] == right[0] && frames[2001] == right[1000])
        frames.withUnsafeBufferPointer { f in splitLeft.withUnsafeMutableBufferPointer { l in splitRight.withUnsafeMutableBufferPointer { PCMConversion.deinterleave(f, left: l, right: $0) } } }
        #expect(splitLeft == left && splitRight == right)
    }

    @Test func mixingSaturatesLikeTheReference() {
        // Input: the two tracks as halves of one buffer.
        Sweep<Int16, Int16>(makeInput: randomSamples(), inputPerFrame: 2, filler: 3).run(
            fast: { input, output in
                let half = input.count / 2
                PCMConversion.mix(UnsafeBufferPointer(rebasing: input[..<half]), UnsafeBufferPointer(rebasing: input[half...]), into: output)
            },
            reference: { input, output in
                let half = input.count / 2
                PCMConversion.scalarMix(UnsafeBufferPointer(rebasing: input[..<half]), UnsafeBufferPointer(rebasing: input[half...]), into: output)
            })
    }

    @Test(arguments: [Float(0), 1, -1, 0.5, 2, 0.70710677, 1.999, 100, -3.25, .nan, .infinity])
    func gainRoundsAndSaturatesLikeTheReference(_ gain: Float) {
        Sweep<Int16, Int16>(makeInput: randomSamples(), filler: 5).run(
            lengths: stride(from: 0, through: 4096, by: 3),
            fast: { PCMConversion.applyGain(gain, to: $0, into: $1) },
            reference: { PCMConversion.scalarApplyGain(gain, to: $0, into: $1) })
    }
}
