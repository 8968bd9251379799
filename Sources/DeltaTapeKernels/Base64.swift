// Hand-written rather than Foundation's `Data(base64Encoded:)`: every byte of every session passes through here,
// so decoding goes into a caller's reused buffer with no allocation per call, and whole 32-character blocks go
// through an AVX2 kernel (CDeltaTapeSIMD) where the CPU has it, about 3x Foundation's scalar decoder.
import CDeltaTapeSIMD

/// Base64 (RFC 4648 §4, standard alphabet, padded) decoding and encoding into caller-owned buffers.
@_spi(Blocks) public enum Base64 {
    /// Why a base64 payload could not be decoded.
    public struct DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
        /// What was wrong.
        public enum Reason: Equatable, Sendable {
            /// A byte outside the standard alphabet (`A–Z a–z 0–9 + /`) and not valid padding.
            case invalidCharacter(UInt8)
            /// The length is not a multiple of four, so the input is cut short or unpadded.
            case invalidLength
            /// Padding (`=`) where data was expected, or data after padding.
            case misplacedPadding
        }

        /// The reason the input was rejected.
        public var reason: Reason
        /// Offset in the input of the first offending byte (for ``Reason/invalidLength``, the input's length).
        public var offset: Int

        /// Creates an error.
        public init(_ reason: Reason, at offset: Int) {
            self.reason = reason
            self.offset = offset
        }

        /// The failure in words.
        public var description: String {
            switch reason {
            case .invalidCharacter(let byte):
                let shown = (0x21...0x7E).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x\(String(byte, radix: 16, uppercase: true))"
                return "invalid base64: \(shown) at offset \(offset) is not in the base64 alphabet"
            case .invalidLength:
                return "invalid base64: length \(offset) is not a multiple of 4 (the payload is cut short or unpadded)"
            case .misplacedPadding:
                return "invalid base64: padding '=' misplaced at offset \(offset)"
            }
        }
    }

    /// The number of bytes that `encodedByteCount` characters of padded base64 decode to at most.
    ///
    /// - Parameter encodedByteCount: The length of the base64 text.
    /// - Returns: `encodedByteCount / 4 * 3`, an upper bound that is exact when there is no padding.
    @inlinable
    public static func maximumDecodedByteCount(encodedByteCount: Int) -> Int {
        (encodedByteCount + 3) / 4 * 3
    }

    /// The number of bytes a payload of `encodedByteCount` characters would have held, trailing padding excluded.
    ///
    /// Used to replace an undecodable payload with silence of the same length, so a timeline stays aligned.
    /// - Parameters:
    ///   - encodedByteCount: The length of the base64 text.
    ///   - paddingCount: How many trailing `=` it ends with.
    public static func nominalDecodedByteCount(encodedByteCount: Int, paddingCount: Int) -> Int {
        max(0, encodedByteCount - paddingCount) * 3 / 4
    }

    /// Decodes padded standard base64 into `output`.
    ///
    /// Whole 32-character blocks go through the AVX2 kernel where the CPU has it; the rest, and any block
    /// holding something outside the alphabet, through the scalar code, which finds the exact offending offset.
    /// - Parameters:
    ///   - input: Base64 text, no whitespace, no line breaks.
    ///   - output: Room for at least ``maximumDecodedByteCount(encodedByteCount:)`` bytes.
    /// - Returns: The number of bytes written to `output`.
    /// - Throws: ``DecodingError`` naming the offset of the first byte that is not valid base64.
    ///   `output` may hold partial data then.
    public static func decode(
        _ input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(DecodingError) -> Int {
        var consumed = 0
        if SIMDSupport.avx2, input.count % 4 == 0, input.count >= 40,
           let source = input.baseAddress, let destination = output.baseAddress
        {
            consumed = dt_base64_decode_blocks_avx2(
                source.assumingMemoryBound(to: UInt8.self), input.count,
                destination.assumingMemoryBound(to: UInt8.self), output.count)
        }
        return try decodeScalar(input, from: consumed, into: output, at: consumed / 4 * 3)
    }

    /// Decodes padded standard base64 into `output` with plain scalar code: the reference the SIMD path is tested
    /// against, and the path for CPUs without AVX2.
    ///
    /// Same contract as ``decode(_:into:)``.
    public static func scalarDecode(
        _ input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(DecodingError) -> Int {
        try decodeScalar(input, from: 0, into: output, at: 0)
    }

    /// Decodes `input[start...]` (`start` a multiple of 4) into `output[written...]`.
    private static func decodeScalar(
        _ input: UnsafeRawBufferPointer,
        from start: Int,
        into output: UnsafeMutableRawBufferPointer,
        at written: Int
    ) throws(DecodingError) -> Int {
        let count = input.count
        guard count % 4 == 0 else {
            // Report a bad character before the length: it is the more useful finding.
            if let bad = firstInvalidCharacter(input) { throw bad }
            throw DecodingError(.invalidLength, at: count)
        }
        guard count > 0 else { return 0 }
        precondition(output.count >= count / 4 * 3, "Base64.decode: output buffer too small")
        return try decodeTable.withUnsafeBufferPointer { table throws(DecodingError) in
            var written = written
            var index = start
            let bodyEnd = count - 4  // the last quantum may carry padding
            while index < bodyEnd {
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                let c = table[Int(input[index + 2])], d = table[Int(input[index + 3])]
                if (a | b | c | d) & 0x80 != 0 {
                    throw invalidByte(in: input, from: index)
                }
                let word = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                output[written] = UInt8(truncatingIfNeeded: word >> 16)
                output[written + 1] = UInt8(truncatingIfNeeded: word >> 8)
                output[written + 2] = UInt8(truncatingIfNeeded: word)
                written += 3
                index += 4
            }
            // Last quantum: "xx==", "xxx=" or "xxxx".
            let a = table[Int(input[index])], b = table[Int(input[index + 1])]
            let thirdByte = input[index + 2], fourthByte = input[index + 3]
            if (a | b) & 0x80 != 0 { throw invalidByte(in: input, from: index) }
            if thirdByte == pad {
                guard fourthByte == pad else { throw DecodingError(.misplacedPadding, at: index + 2) }
                output[written] = a << 2 | b >> 4
                return written + 1
            }
            let c = table[Int(thirdByte)]
            if c & 0x80 != 0 { throw DecodingError(.invalidCharacter(thirdByte), at: index + 2) }
            if fourthByte == pad {
                output[written] = a << 2 | b >> 4
                output[written + 1] = b << 4 | c >> 2
                return written + 2
            }
            let d = table[Int(fourthByte)]
            if d & 0x80 != 0 { throw DecodingError(.invalidCharacter(fourthByte), at: index + 3) }
            output[written] = a << 2 | b >> 4
            output[written + 1] = b << 4 | c >> 2
            output[written + 2] = c << 6 | d
            return written + 3
        }
    }

    /// The number of characters encoding `byteCount` bytes takes, padding included.
    public static func encodedByteCount(byteCount: Int) -> Int {
        (byteCount + 2) / 3 * 4
    }

    /// Encodes `input` as padded standard base64 into `output`.
    ///
    /// - Parameters:
    ///   - input: The bytes to encode.
    ///   - output: Room for at least ``encodedByteCount(byteCount:)`` bytes.
    /// - Returns: The number of characters written.
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= encodedByteCount(byteCount: input.count), "Base64.encode: output buffer too small")
        let alphabet = Base64.alphabet
        var written = 0
        var index = 0
        while index + 3 <= input.count {
            let word = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output[written] = alphabet[Int(word >> 18)]
            output[written + 1] = alphabet[Int(word >> 12 & 0x3F)]
            output[written + 2] = alphabet[Int(word >> 6 & 0x3F)]
            output[written + 3] = alphabet[Int(word & 0x3F)]
            written += 4
            index += 3
        }
        let remaining = input.count - index
        if remaining > 0 {
            let first = UInt32(input[index])
            let second = remaining == 2 ? UInt32(input[index + 1]) : 0
            let word = first << 16 | second << 8
            output[written] = alphabet[Int(word >> 18)]
            output[written + 1] = alphabet[Int(word >> 12 & 0x3F)]
            output[written + 2] = remaining == 2 ? alphabet[Int(word >> 6 & 0x3F)] : pad
            output[written + 3] = pad
            written += 4
        }
        return written
    }

    /// Encodes bytes to a base64 `String` (for tests, writers and tools; the hot path uses the buffer form).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        return input.withUnsafeBytes { source in
            String(unsafeUninitializedCapacity: encodedByteCount(byteCount: source.count)) { buffer in
                encode(source, into: UnsafeMutableRawBufferPointer(buffer))
            }
        }
    }

    // MARK: - Tables and error location

    @usableFromInline static let pad = UInt8(ascii: "=")

    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 6-bit value of each byte, or 0xFF for bytes outside the alphabet (padding included).
    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// The first byte at or after `start` that is not in the alphabet, as an error.
    private static func invalidByte(in input: UnsafeRawBufferPointer, from start: Int) -> DecodingError {
        var index = start
        while index < input.count {
            let byte = input[index]
            if decodeTable[Int(byte)] & 0x80 != 0 {
                return byte == pad ? DecodingError(.misplacedPadding, at: index) : DecodingError(.invalidCharacter(byte), at: index)
            }
            index += 1
        }
        return DecodingError(.invalidLength, at: input.count)
    }

    /// The first byte that is neither in the alphabet nor trailing padding, if any.
    private static func firstInvalidCharacter(_ input: UnsafeRawBufferPointer) -> DecodingError? {
        var end = input.count
        while end > 0, input[end - 1] == pad { end -= 1 }
        for index in 0..<end where decodeTable[Int(input[index])] & 0x80 != 0 {
            let byte = input[index]
            return byte == pad ? DecodingError(.misplacedPadding, at: index) : DecodingError(.invalidCharacter(byte), at: index)
        }
        return nil
    }
}
