import CDeltaTapeSIMD

/// Sample conversions on buffers: PCM16 bytes, Int16 ↔ Float32, interleaving, mixing and gain.
///
/// Each fast form is a loop over unchecked pointers written so the compiler vectorizes it (checked in the
/// benchmarks' samples per second), with AVX2 kernels taking the bulk of float rounding where the CPU has them;
/// beside each is a plain reference with the standard library's conversions, rounding and clamping, which the
/// tests hold the fast form to on every length and alignment.
/// Float to integer conversions round to nearest, ties to even, saturate, and turn NaN into 0.
@_spi(Blocks) public enum PCMConversion {
    /// Copies little-endian PCM16 bytes into samples.
    ///
    /// - Parameters:
    ///   - bytes: An even number of bytes.
    ///   - samples: Room for `bytes.count / 2` samples.
    public static func samplesFromPCM16LittleEndian(_ bytes: UnsafeRawBufferPointer, into samples: UnsafeMutableBufferPointer<Int16>) {
        let count = bytes.count / 2
        precondition(samples.count >= count, "PCMConversion: sample buffer too small")
        guard count > 0, let source = bytes.baseAddress, let destination = samples.baseAddress else { return }
        #if _endian(little)
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 2)
        #else
        for index in 0..<count {
            samples[index] = Int16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: Int16.self))
        }
        #endif
    }

    // MARK: - Int16 ↔ Float32

    /// Scales samples to floats in [-1, 1): `sample / 32768`.
    public static func floats(from samples: UnsafeBufferPointer<Int16>, into floats: UnsafeMutableBufferPointer<Float>) {
        precondition(floats.count >= samples.count, "PCMConversion: float buffer too small")
        guard let source = samples.baseAddress, let destination = floats.baseAddress else { return }
        for index in 0..<samples.count {
            destination[index] = Float(source[index]) * (1 / 32768)
        }
    }

    /// Reference for ``floats(from:into:)``.
    public static func scalarFloats(from samples: UnsafeBufferPointer<Int16>, into floats: UnsafeMutableBufferPointer<Float>) {
        for index in samples.indices { floats[index] = Float(samples[index]) / 32768 }
    }

    /// Scales floats in [-1, 1] to samples: `round(value × 32768)`, saturated to the Int16 range.
    public static func samples(from floats: UnsafeBufferPointer<Float>, into samples: UnsafeMutableBufferPointer<Int16>) {
        precondition(samples.count >= floats.count, "PCMConversion: sample buffer too small")
        guard let source = floats.baseAddress, let destination = samples.baseAddress else { return }
        let done = SIMDSupport.avx2 ? dt_float_to_int16_avx2(source, floats.count, destination, 32768) : 0
        for index in done..<floats.count {
            destination[index] = roundedSample(source[index] * 32768)
        }
    }

    /// Reference for ``samples(from:into:)``.
    public static func scalarSamples(from floats: UnsafeBufferPointer<Float>, into samples: UnsafeMutableBufferPointer<Int16>) {
        for index in floats.indices { samples[index] = referenceRoundedSample(floats[index] * 32768) }
    }

    // MARK: - Channels

    /// Interleaves two channels into stereo frames (`left[0], right[0], left[1], ...`).
    public static func interleave(left: UnsafeBufferPointer<Int16>, right: UnsafeBufferPointer<Int16>, into frames: UnsafeMutableBufferPointer<Int16>) {
        precondition(left.count == right.count && frames.count >= 2 * left.count, "PCMConversion.interleave: buffer sizes")
        guard let l = left.baseAddress, let r = right.baseAddress, let out = frames.baseAddress else { return }
        for index in 0..<left.count {
            out[2 * index] = l[index]
            out[2 * index + 1] = r[index]
        }
    }

    /// Reference for ``interleave(left:right:into:)``.
    public static func scalarInterleave(left: UnsafeBufferPointer<Int16>, right: UnsafeBufferPointer<Int16>, into frames: UnsafeMutableBufferPointer<Int16>) {
        var position = 0
        for (a, b) in zip(left, right) {
            frames[position] = a
            frames[position + 1] = b
            position += 2
        }
    }

    /// Splits stereo frames into two channels.
    public static func deinterleave(_ frames: UnsafeBufferPointer<Int16>, left: UnsafeMutableBufferPointer<Int16>, right: UnsafeMutableBufferPointer<Int16>) {
        let count = frames.count / 2
        precondition(left.count >= count && right.count >= count, "PCMConversion.deinterleave: buffer sizes")
        guard let input = frames.baseAddress, let l = left.baseAddress, let r = right.baseAddress else { return }
        for index in 0..<count {
            l[index] = input[2 * index]
            r[index] = input[2 * index + 1]
        }
    }

    /// Reference for ``deinterleave(_:left:right:)``.
    public static func scalarDeinterleave(_ frames: UnsafeBufferPointer<Int16>, left: UnsafeMutableBufferPointer<Int16>, right: UnsafeMutableBufferPointer<Int16>) {
        for (index, sample) in frames.enumerated() where index < frames.count / 2 * 2 {
            if index % 2 == 0 { left[index / 2] = sample } else { right[index / 2] = sample }
        }
    }

    // MARK: - Mixing and gain

    /// Adds two tracks sample by sample, saturating at the Int16 range (no wrap-around clicks).
    public static func mix(_ first: UnsafeBufferPointer<Int16>, _ second: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        precondition(first.count == second.count && output.count >= first.count, "PCMConversion.mix: buffer sizes")
        guard let a = first.baseAddress, let b = second.baseAddress, let out = output.baseAddress else { return }
        for index in 0..<first.count {
            let sum = Int32(a[index]) &+ Int32(b[index])
            out[index] = Int16(truncatingIfNeeded: sum < -32768 ? -32768 : (sum > 32767 ? 32767 : sum))
        }
    }

    /// Reference for ``mix(_:_:into:)``.
    public static func scalarMix(_ first: UnsafeBufferPointer<Int16>, _ second: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        for index in first.indices { output[index] = Int16(clamping: Int(first[index]) + Int(second[index])) }
    }

    /// Multiplies samples by `gain`, rounding to nearest (ties to even) and saturating.
    public static func applyGain(_ gain: Float, to samples: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        precondition(output.count >= samples.count, "PCMConversion.applyGain: buffer sizes")
        guard let input = samples.baseAddress, let out = output.baseAddress else { return }
        let done = SIMDSupport.avx2 ? dt_apply_gain_avx2(input, samples.count, out, gain) : 0
        for index in done..<samples.count {
            out[index] = roundedSample(Float(input[index]) * gain)
        }
    }

    /// Reference for ``applyGain(_:to:into:)``.
    public static func scalarApplyGain(_ gain: Float, to samples: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        for index in samples.indices { output[index] = referenceRoundedSample(Float(samples[index]) * gain) }
    }

    // MARK: - Rounding

    /// Rounds to nearest-even and saturates with the "magic number" idiom, which vectorizes (Float's
    /// `rounded()` and `Int16(clamping:)` do not on Swift 6.3): adding 1.5 × 2^23 leaves the rounded integer
    /// in the low mantissa bits. NaN becomes 0.
    @inline(__always)
    static func roundedSample(_ value: Float) -> Int16 {
        let finite = value != value ? 0 : value
        let clamped = finite < -32768 ? -32768 : (finite > 32767 ? 32767 : finite)
        let shifted = clamped + 12_582_912
        return Int16(truncatingIfNeeded: Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000)
    }

    /// The standard library's rounding and clamping: the reference for ``roundedSample(_:)``.
    static func referenceRoundedSample(_ value: Float) -> Int16 {
        guard !value.isNaN else { return 0 }
        let bounded = min(max(value, -40_000), 40_000)
        return Int16(clamping: Int(bounded.rounded(.toNearestOrEven)))
    }
}
