@_spi(Blocks) import DeltaTapeCodecs
import Foundation
import TestSupport
import Testing

/// Resamples `input` (mono) in chunks of the given sizes (cycled), then flushes.
private func resample(_ input: [Float], engine: ResamplerEngine, quality: ResamplerQuality, from inputRate: Int, to outputRate: Int,
                      chunks: [Int] = [Int.max]) throws -> [Float] {
    let resampler = try makeResampler(engine: engine, quality: quality, inputRate: inputRate, outputRate: outputRate)
    var output: [Float] = []
    var start = 0
    var chunk = 0
    try input.withUnsafeBufferPointer { buffer in
        while start < buffer.count {
            let end = min(buffer.count, start + max(1, min(chunks[chunk % chunks.count], buffer.count)))
            try resampler.process(UnsafeBufferPointer(rebasing: buffer[start..<end])) { output.append(contentsOf: $0) }
            start = end
            chunk += 1
        }
    }
    try resampler.finish { output.append(contentsOf: $0) }
    return output
}

/// A mix of sines at the given frequencies, sampled at `rate`: its ideal band-limited resampling is the same
/// expression sampled at the other rate, which is the independent reference here.
private func sines(_ frequencies: [Double], rate: Int, seconds: Double) -> [Float] {
    (0..<Int(seconds * Double(rate))).map { index in
        let time = Double(index) / Double(rate)
        var value = 0.0
        for (number, frequency) in frequencies.enumerated() {
            value += 0.25 / Double(number + 1) * sin(2 * Double.pi * frequency * time + Double(number) * 0.7)
        }
        return Float(value)
    }
}

/// Signal-to-noise ratio in dB of `actual` against `expected` at a lag, over the middle (edges excluded:
/// the reference's abrupt start and end are not band-limited).
private func snr(_ actual: [Float], _ expected: [Float], lag: Int = 0, margin: Int) -> Double {
    var signal = 0.0, noise = 0.0
    let count = min(actual.count, expected.count)
    for index in margin..<(count - margin) where index + lag >= 0 && index + lag < actual.count {
        let reference = Double(expected[index])
        signal += reference * reference
        let difference = Double(actual[index + lag]) - reference
        noise += difference * difference
    }
    return 10 * log10(signal / max(noise, 1e-30))
}

@Suite struct ResamplerTests {
    static let cases: [(ResamplerEngine, Int, Int)] = ResamplerEngine.allCases.flatMap { engine in
        [8_000, 16_000, 44_100, 48_000].flatMap { rate in [(engine, 24_000, rate), (engine, rate, 24_000)] }
    }

    @Test(arguments: cases)
    func sinesMatchTheIdealResamplingAtLagZero(_ engine: ResamplerEngine, _ inputRate: Int, _ outputRate: Int) throws {
        let lowerNyquist = Double(min(inputRate, outputRate)) / 2
        // Frequencies well inside the lower rate's passband.
        let frequencies = [0.05, 0.23, 0.51, 0.78].map { $0 * lowerNyquist }
        let seconds = 1.5
        let input = sines(frequencies, rate: inputRate, seconds: seconds)
        let expected = sines(frequencies, rate: outputRate, seconds: seconds)
        let output = try resample(input, engine: engine, quality: .high, from: inputRate, to: outputRate, chunks: [480, 1, 4801, 77])
        // Length: round(n × ratio) within one frame.
        let ideal = (Double(input.count) * Double(outputRate) / Double(inputRate)).rounded()
        #expect(abs(Double(output.count) - ideal) <= 1, "\(output.count) frames for an ideal \(ideal)")
        // Lines up at lag 0: lag 0 is the best fit, and a close one.
        let margin = outputRate / 20
        let atZero = snr(output, expected, margin: margin)
        #expect(atZero >= 50, "SNR \(atZero) dB")
        for lag in [-2, -1, 1, 2] {
            #expect(snr(output, expected, lag: lag, margin: margin) < atZero, "lag \(lag) fits better than lag 0")
        }
    }

    @Test(arguments: ResamplerEngine.allCases)
    func outputIsTheSameWhateverTheChunking(_ engine: ResamplerEngine) throws {
        var generator = SeededGenerator()
        let input = sines([300, 2_100, 5_500], rate: 24_000, seconds: 1)
        for outputRate in [16_000, 44_100] {
            let whole = try resample(input, engine: engine, quality: .high, from: 24_000, to: outputRate)
            for _ in 0..<4 {
                let chunks = (0..<16).map { _ in Int.random(in: 1...3_000, using: &generator) }
                let pieces = try resample(input, engine: engine, quality: .high, from: 24_000, to: outputRate, chunks: chunks)
                #expect(pieces.count == whole.count, "\(engine) chunks \(chunks), \(generator)")
                #expect(pieces.map(\.bitPattern) == whole.map(\.bitPattern), "\(engine) to \(outputRate) in chunks \(chunks), \(generator)")
            }
        }
    }

    /// Speech, band-limited first (to under 2.8 kHz, inside every passband here), resampled by one
    /// engine at high quality and compared with the other engine at its best.
    @Test(arguments: [8_000, 16_000, 44_100, 48_000])
    func speechAgreesWithTheOtherEngine(_ outputRate: Int) throws {
        let url = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/assistant-speech.wav")
        let pcm = try soxDecodeToPCM16(url.path)
        let speech = pcm.withUnsafeBytes { raw in raw.bindMemory(to: Int16.self).map { Float($0) / 32768 } }
        let narrowed = try resample(resample(speech, engine: .soxr, quality: .veryHigh, from: 24_000, to: 6_000),
                                    engine: .soxr, quality: .veryHigh, from: 6_000, to: 24_000)
        let soxr = try resample(narrowed, engine: .soxr, quality: .high, from: 24_000, to: outputRate)
        let libsamplerate = try resample(narrowed, engine: .libsamplerate, quality: .veryHigh, from: 24_000, to: outputRate)
        #expect(abs(soxr.count - libsamplerate.count) <= 1)
        let agreement = snr(soxr, libsamplerate, margin: outputRate / 20)
        #expect(agreement >= 50, "soxr and libsamplerate differ: SNR \(agreement) dB at \(outputRate) Hz")
        // And back to 24 kHz, each engine from the same input.
        let backSoxr = try resample(soxr, engine: .soxr, quality: .high, from: outputRate, to: 24_000)
        let backLibsamplerate = try resample(soxr, engine: .libsamplerate, quality: .veryHigh, from: outputRate, to: 24_000)
        #expect(abs(backSoxr.count - backLibsamplerate.count) <= 1)
        let backAgreement = snr(backSoxr, backLibsamplerate, margin: 1_200)
        #expect(backAgreement >= 50, "soxr and libsamplerate differ: SNR \(backAgreement) dB from \(outputRate) Hz back to 24 kHz")
    }

    @Test func refusesImpossibleRates() {
        #expect(throws: ResamplerError.self) { _ = try makeResampler(engine: .libsamplerate, quality: .high, inputRate: 8_000, outputRate: 8_000 * 300) }
        #expect(throws: ResamplerError.self) { _ = try makeResampler(engine: .soxr, quality: .high, inputRate: 0, outputRate: 8_000) }
    }
}
