import CDeltaTapeSIMD

/// ITU-T G.711 mu-law and A-law, both directions, bit-exact to the Recommendation's segment formulas
/// (16-bit linear values in the customary scaling: mu-law spans ±32124, A-law ±32256).
///
/// ``linear(mulaw:)``, ``linear(alaw:)``, ``mulaw(linear:)`` and ``alaw(linear:)`` are the formulas, kept as the
/// reference; ``decode(_:law:into:)`` expands 16 codes at a time with AVX2 byte-shuffle lookups where the CPU has
/// them (a 256-entry table elsewhere), and ``encode(_:law:into:)`` compresses 16 at a time with AVX2 (a 64 KiB table
/// built once from the formulas elsewhere).
@_spi(Blocks) public enum G711 {
    // MARK: - The formulas (reference)

    /// The linear value of a mu-law code (ITU-T G.711 Table 2).
    public static func linear(mulaw code: UInt8) -> Int16 {
        let complement = ~code
        let exponent = Int32(complement >> 4 & 0x07)
        let mantissa = Int32(complement & 0x0F)
        let magnitude = ((mantissa << 3) + 0x84) << exponent
        return Int16(complement & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84)
    }

    /// The linear value of an A-law code (ITU-T G.711 Table 1).
    public static func linear(alaw code: UInt8) -> Int16 {
        let toggled = code ^ 0x55
        let exponent = Int32(toggled >> 4 & 0x07)
        let mantissa = Int32(toggled & 0x0F)
        let magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1)
        return Int16(toggled & 0x80 != 0 ? magnitude : -magnitude)
    }

    /// The mu-law code of a linear value, as ITU-T G.191's reference `ulaw_compress` computes it: the 14-bit
    /// magnitude (one's complement for negative values) biased by 33, its segment, four mantissa bits, inverted.
    public static func mulaw(linear sample: Int16) -> UInt8 {
        let value = Int32(sample)
        let magnitude = min(((value >= 0 ? value : ~value) >> 2) + 33, 0x1FFF)
        let segment = Int32(32 - (magnitude >> 6).leadingZeroBitCount)  // 0...7
        let mantissa = (magnitude >> (segment + 1)) & 0x0F
        let code = ~(segment << 4 | mantissa) & 0x7F
        return UInt8(code | (value >= 0 ? 0x80 : 0))
    }

    /// The A-law code of a linear value, as ITU-T G.191's reference `alaw_compress` computes it: the 12-bit
    /// magnitude (one's complement for negative values), its segment, four mantissa bits, even bits toggled.
    public static func alaw(linear sample: Int16) -> UInt8 {
        let value = Int32(sample)
        let magnitude = (value >= 0 ? value : ~value) >> 4  // 0...2047
        var code = magnitude
        if magnitude >= 16 {
            let segment = Int32(32 - magnitude.leadingZeroBitCount) - 4  // 1...7
            code = segment << 4 | (magnitude >> (segment - 1)) & 0x0F
        }
        return UInt8(code | (value >= 0 ? 0x80 : 0)) ^ 0x55
    }

    // MARK: - Buffers

    /// Expands G.711 codes to 16-bit samples.
    ///
    /// - Parameters:
    ///   - codes: One byte per sample.
    ///   - law: ``SampleEncoding/mulaw`` or ``SampleEncoding/alaw``.
    ///   - samples: Room for `codes.count` samples.
    public static func decode(_ codes: UnsafeRawBufferPointer, law: SampleEncoding, into samples: UnsafeMutableBufferPointer<Int16>) {
        precondition(samples.count >= codes.count, "G711.decode: sample buffer too small")
        guard let source = codes.baseAddress, let destination = samples.baseAddress else { return }
        var done = 0
        if SIMDSupport.avx2 {
            done = dt_g711_decode_avx2(source.assumingMemoryBound(to: UInt8.self), codes.count, destination, law == .alaw ? 1 : 0)
        }
        (law == .alaw ? alawLinearTable : mulawLinearTable).withUnsafeBufferPointer { table in
            for index in done..<codes.count { destination[index] = table[Int(codes[index])] }
        }
    }

    /// Expands codes one at a time with the formulas: the reference for ``decode(_:law:into:)``.
    public static func scalarDecode(_ codes: UnsafeRawBufferPointer, law: SampleEncoding, into samples: UnsafeMutableBufferPointer<Int16>) {
        precondition(samples.count >= codes.count, "G711.scalarDecode: sample buffer too small")
        for index in 0..<codes.count {
            samples[index] = law == .alaw ? linear(alaw: codes[index]) : linear(mulaw: codes[index])
        }
    }

    /// Compresses 16-bit samples to G.711 codes.
    ///
    /// - Parameters:
    ///   - samples: The samples.
    ///   - law: ``SampleEncoding/mulaw`` or ``SampleEncoding/alaw``.
    ///   - codes: Room for `samples.count` bytes.
    public static func encode(_ samples: UnsafeBufferPointer<Int16>, law: SampleEncoding, into codes: UnsafeMutableRawBufferPointer) {
        precondition(codes.count >= samples.count, "G711.encode: code buffer too small")
        guard let source = samples.baseAddress, let destination = codes.baseAddress else { return }
        var done = 0
        if SIMDSupport.avx2 {
            done = dt_g711_encode_avx2(source, samples.count, destination.assumingMemoryBound(to: UInt8.self), law == .alaw ? 1 : 0)
        }
        (law == .alaw ? alawTable : mulawTable).withUnsafeBufferPointer { table in
            for index in done..<samples.count {
                codes[index] = table[Int(UInt16(bitPattern: source[index]))]
            }
        }
    }

    /// Compresses samples one at a time with the formulas: the reference for ``encode(_:law:into:)``.
    public static func scalarEncode(_ samples: UnsafeBufferPointer<Int16>, law: SampleEncoding, into codes: UnsafeMutableRawBufferPointer) {
        precondition(codes.count >= samples.count, "G711.scalarEncode: code buffer too small")
        for index in 0..<samples.count {
            codes[index] = law == .alaw ? alaw(linear: samples[index]) : mulaw(linear: samples[index])
        }
    }

    /// Linear values of all 256 codes, from the formulas.
    static let mulawLinearTable: [Int16] = (0...255).map { linear(mulaw: UInt8($0)) }
    static let alawLinearTable: [Int16] = (0...255).map { linear(alaw: UInt8($0)) }

    /// Codes for every 16-bit value (indexed by its bit pattern), from the formulas: 64 KiB per law.
    static let mulawTable: [UInt8] = (0...0xFFFF).map { mulaw(linear: Int16(bitPattern: UInt16($0))) }
    static let alawTable: [UInt8] = (0...0xFFFF).map { alaw(linear: Int16(bitPattern: UInt16($0))) }
}
