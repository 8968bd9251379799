// Comparing decoded audio with the input: used by the Ogg and WebM tests.
public import Foundation

/// Int16 samples from little-endian bytes.
public func pcm16Samples(_ data: Data) -> [Int16] {
    data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
}

/// The lag (in samples) at which `decoded` best matches `reference` (cross-correlation peak), over ±`range`,
/// on a window from a quarter into the reference.
public func correlationPeakLag(_ decoded: [Int16], _ reference: [Int16], range: Int = 60) -> Int {
    let start = min(24_000, reference.count / 4), length = min(48_000, reference.count / 2)
    var best = (lag: 0, score: -Double.infinity)
    for lag in -range...range {
        var score = 0.0
        for index in start..<(start + length) where index + lag >= 0 && index + lag < decoded.count {
            score += Double(decoded[index + lag]) * Double(reference[index])
        }
        if score > best.score { best = (lag, score) }
    }
    return best.lag
}

/// Session `name`'s expected assistant track at 48 kHz, upsampled by sox (an independent resampler).
public func expectedAssistantAt48kHz(_ name: String, rate: Int) throws -> [Int16] {
    let raw = try GeneratedSessions.directory().appendingPathComponent("\(name).assistant.raw").path
    let result = try run("sox", ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-c", "1", "-r", "\(rate)", raw,
                                 "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-r", "48000", "-", "rate", "-v"])
    guard result.status == 0 else { throw TestSupportError("sox failed: \(result.standardError)") }
    return pcm16Samples(result.standardOutput)
}

/// The amplitude of the `frequency` Hz component of `samples` (one DFT bin, computed directly), in sample units:
/// a full-scale sine at that frequency gives 32767.
public func toneAmplitude(_ samples: [Int16], frequency: Double, sampleRate: Int) -> Double {
    var real = 0.0, imaginary = 0.0
    for (index, sample) in samples.enumerated() {
        let phase = 2 * Double.pi * frequency * Double(index) / Double(sampleRate)
        real += Double(sample) * cos(phase)
        imaginary -= Double(sample) * sin(phase)
    }
    return samples.isEmpty ? 0 : 2 * (real * real + imaginary * imaginary).squareRoot() / Double(samples.count)
}
