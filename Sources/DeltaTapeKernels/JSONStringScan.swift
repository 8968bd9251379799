import CDeltaTapeSIMD

/// Finding where a JSON string's content needs attention: the kernel under the JSON scanner's string loop.
package enum JSONStringScan {
    /// The length of the leading run of `count` bytes at `bytes` that are neither `"`, `\`, a control character
    /// (below 0x20) nor a byte of 0x80 or above.
    ///
    /// 32 bytes at a time with AVX2 where the CPU has it, 8 at a time (SWAR) elsewhere, bytewise at the end.
    @inline(__always)
    package static func plainPrefixLength(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int {
        var position = SIMDSupport.avx2 ? dt_json_plain_prefix_avx2(bytes, count) : 0
        while position + 8 <= count {
            if needsAttention(UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self)) { break }
            position += 8
        }
        while position < count, isPlain(bytes[position]) { position += 1 }
        return position
    }

    /// The plain scalar reference for ``plainPrefixLength(_:count:)``.
    package static func scalarPlainPrefixLength(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int {
        var position = 0
        while position < count, isPlain(bytes[position]) { position += 1 }
        return position
    }

    @inline(__always)
    private static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    /// Whether any byte of `word` is `"`, `\`, below 0x20 or at/above 0x80 (SWAR: a zero byte in x shows as a
    /// set high bit in (x - 1) & ~x; bytes below 0x20 likewise for (word - 0x20)).
    @inline(__always)
    private static func needsAttention(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote
        let hasBackslash = (backslash &- ones) & ~backslash
        let hasControl = (word &- ones &* 0x20) & ~word
        return (hasQuote | hasBackslash | hasControl | word) & highs != 0
    }
}
