/// Conversions from payload bytes to 16-bit samples.
///
/// These are the scalar forms; SIMD forms arrive beside them and are tested against them.
public enum PCMConversion {
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

    /// Decodes G.711 bytes (mu-law or A-law) into samples.
    ///
    /// - Parameters:
    ///   - bytes: One byte per sample.
    ///   - encoding: ``SampleEncoding/mulaw`` or ``SampleEncoding/alaw``.
    ///   - samples: Room for `bytes.count` samples.
    public static func samplesFromG711(_ bytes: UnsafeRawBufferPointer, encoding: SampleEncoding, into samples: UnsafeMutableBufferPointer<Int16>) {
        precondition(samples.count >= bytes.count, "PCMConversion: sample buffer too small")
        let table = encoding == .alaw ? G711.alawTable : G711.mulawTable
        for index in 0..<bytes.count { samples[index] = table[Int(bytes[index])] }
    }
}

/// ITU-T G.711 expansion, computed from the Recommendation's segment formulas.
public enum G711 {
    /// The linear value of a mu-law byte (ITU-T G.711 Table 2, scaled to 16 bits).
    public static func linear(mulaw byte: UInt8) -> Int16 {
        let complement = ~byte
        let exponent = Int32(complement >> 4 & 0x07)
        let mantissa = Int32(complement & 0x0F)
        let magnitude = ((mantissa << 3) + 0x84) << exponent
        return Int16(complement & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84)
    }

    /// The linear value of an A-law byte (ITU-T G.711 Table 1, scaled to 16 bits).
    public static func linear(alaw byte: UInt8) -> Int16 {
        let toggled = byte ^ 0x55
        let exponent = Int32(toggled >> 4 & 0x07)
        let mantissa = Int32(toggled & 0x0F)
        let magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1)
        return Int16(toggled & 0x80 != 0 ? magnitude : -magnitude)
    }

    static let mulawTable: [Int16] = (0...255).map { linear(mulaw: UInt8($0)) }
    static let alawTable: [Int16] = (0...255).map { linear(alaw: UInt8($0)) }
}
