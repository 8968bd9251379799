// Expectations for resampled audio come from sox (`rate -v`, its very-high-quality resampler), never from
// DeltaTape's own resampling stage, and are compared by signal-to-noise ratio: two good resamplers differ by
// their filters' noise, far below the signal.
public import Foundation

/// `pcm` (16-bit little-endian, `channelCount` interleaved channels) at `inputRate`, resampled by sox to `outputRate`.
public func soxResampled(_ pcm: Data, from inputRate: Int, to outputRate: Int, channelCount: Int = 1) throws -> [Int16] {
    let folder = try TestEnvironment.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let raw = folder.appendingPathComponent("in.raw")
    try pcm.write(to: raw)
    let format = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-c", "\(channelCount)"]
    let result = try run("sox", format + ["-r", "\(inputRate)", raw.path] + format + ["-r", "\(outputRate)", "-", "rate", "-v"])
    guard result.status == 0 else { throw TestSupportError("sox failed: \(result.standardError)") }
    return pcm16Samples(result.standardOutput)
}

/// The ratio in dB of `reference`'s power to the power of `actual − reference`, over the samples both have, leaving
/// out `margin` samples at each end (where filters' edges differ).
public func signalToNoiseRatio(_ actual: [Int16], _ reference: [Int16], margin: Int = 800) -> Double {
    let end = min(actual.count, reference.count) - margin
    guard end > margin else { return -.infinity }
    var signal = 0.0, noise = 0.0
    for index in margin..<end {
        let expected = Double(reference[index]), difference = Double(actual[index]) - expected
        signal += expected * expected
        noise += difference * difference
    }
    return 10 * log10(signal / max(noise, 1e-9))
}

/// The gain `g` that best maps `reference` onto `actual` (least squares): 1 when the levels agree, whatever noise a
/// lossy codec adds.
public func leastSquaresGain(_ actual: [Int16], _ reference: [Int16]) -> Double {
    var cross = 0.0, power = 0.0
    for index in 0..<min(actual.count, reference.count) {
        cross += Double(actual[index]) * Double(reference[index])
        power += Double(reference[index]) * Double(reference[index])
    }
    return power > 0 ? cross / power : 0
}
