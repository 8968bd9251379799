@_spi(Blocks) public import DeltaTapeKernels

/// Turns an audio delta's base64 payload into the payload's bytes, in a buffer reused from call to call.
///
/// An undecodable payload becomes silence of the length it would have had, so that a timeline stays
/// aligned; the decoding error is returned alongside for the caller to report.
///
/// `decode` is inlinable: generic over the caller's result and error types, it would otherwise look up their runtime
/// metadata on every call across the module boundary (measured: about 3% of a conversion's user time).
@_spi(Blocks) public struct PayloadDecoder: Sendable {
    @usableFromInline var decoded: [UInt8] = []
    @usableFromInline var unescaped: [UInt8] = []
    /// The payload with line breaks dropped, the URL-safe alphabet mapped and padding restored (the lenient path).
    @usableFromInline var normalized: [UInt8] = []

    /// Creates a decoder.
    public init() {}

    /// The result of decoding one payload.
    public struct Result {
        /// The decoded bytes (silence when ``error`` is set), valid until the next call.
        public var bytes: UnsafeRawBufferPointer
        /// Why the payload could not be decoded, when it could not.
        public var error: Base64.DecodingError?
        /// How the payload strayed from strict base64 and was decoded all the same (empty when it did not).
        public var leniency: Base64Leniency

        @usableFromInline init(bytes: UnsafeRawBufferPointer, error: Base64.DecodingError?, leniency: Base64Leniency = []) {
            self.bytes = bytes
            self.error = error
            self.leniency = leniency
        }
    }

    /// Decodes the payload of `delta`, which points into `message`, and passes the bytes to `body`.
    ///
    /// - Parameters:
    ///   - delta: The audio delta.
    ///   - message: The message bytes the delta's ranges point into.
    ///   - body: Receives the decoded bytes (or silence) and the error, if any.
    @inlinable
    public mutating func decode<R, Failure: Error>(
        _ delta: AudioDelta,
        in message: UnsafeRawBufferPointer,
        _ body: (Result) throws(Failure) -> R
    ) throws(Failure) -> R {
        if delta.payloadHasEscapes {
            // Rare: some loggers escape '/' as '\/'. Resolve escapes into a scratch buffer first.
            unescaped.removeAll(keepingCapacity: true)
            unescaped.reserveCapacity(delta.payload.count)  // escapes only shorten the text
            JSONString.unescape(message, delta.payload, appendingTo: &unescaped)
            let text = unescaped
            return try text.withUnsafeBufferPointer { (text) throws(Failure) in
                try decodeBase64(UnsafeRawBufferPointer(text), silence: delta.format.encoding.silenceByte, body)
            }
        }
        return try decodeBase64(UnsafeRawBufferPointer(rebasing: message[delta.payload]), silence: delta.format.encoding.silenceByte, body)
    }

    @inlinable
    mutating func decodeBase64<R, Failure: Error>(
        _ text: UnsafeRawBufferPointer, silence silenceByte: UInt8, _ body: (Result) throws(Failure) -> R
    ) throws(Failure) -> R {
        // Room for the lenient path too, which may add two padding characters.
        let capacity = Base64.maximumDecodedByteCount(encodedByteCount: text.count + 2)
        // Doubling keeps small payloads from reallocating often; past 1 MiB of slack it grows to what is needed, so a
        // payload near the message limit costs its own size, not twice it.
        if decoded.count < capacity { decoded = [UInt8](repeating: 0, count: max(capacity, min(2 * decoded.count, capacity + (1 << 20)))) }
        return try decoded.withUnsafeMutableBufferPointer { (decoded) throws(Failure) in
            let output = UnsafeMutableRawBufferPointer(decoded)
            let decodedCount: Int
            do throws(Base64.DecodingError) {
                decodedCount = try Base64.decode(text, into: output)
            } catch {
                let lenient = Self.decodeLeniently(text, into: output, scratch: &normalized)
                if let count = lenient.decodedCount {
                    return try body(Result(bytes: UnsafeRawBufferPointer(rebasing: output[..<count]), error: nil, leniency: lenient.leniency))
                }
                // Silence as long as the payload's base64 characters (line breaks aside) would have decoded to.
                let silence = UnsafeMutableRawBufferPointer(rebasing: output[..<lenient.nominalByteCount])
                silence.initializeMemory(as: UInt8.self, repeating: silenceByte)
                return try body(Result(bytes: UnsafeRawBufferPointer(silence), error: lenient.error ?? error))
            }
            return try body(Result(bytes: UnsafeRawBufferPointer(rebasing: output[..<decodedCount]), error: nil))
        }
    }

    /// Base64 as loggers and other encoders write it: line breaks and spaces (MIME wraps at 76), the URL-safe alphabet
    /// (`-` and `_`, RFC 4648 §5), missing padding. Taken only after strict decoding failed, so strict payloads cost
    /// nothing extra.
    ///
    /// - Returns: The decoded length and how the text strayed, or `nil` when it does not decode even so; and the
    ///   length its characters would have decoded to (for silence of the right length).
    @usableFromInline
    static func decodeLeniently(
        _ text: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, scratch normalized: inout [UInt8]
    ) -> (decodedCount: Int?, leniency: Base64Leniency, nominalByteCount: Int, error: Base64.DecodingError?) {
        var leniency: Base64Leniency = []
        // The first byte no base64 text holds, at its place in the payload as written: the error to report.
        var stray: Base64.DecodingError?
        var hasStandardOnlyCharacters = false  // `+` or `/`: with `-` or `_` too, the alphabets are mixed
        normalized.removeAll(keepingCapacity: true)
        normalized.reserveCapacity(text.count + 3)  // once, not by doubling: the text may be tens of megabytes
        for (offset, byte) in text.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "="):
                normalized.append(byte)
            case UInt8(ascii: "+"), UInt8(ascii: "/"):
                hasStandardOnlyCharacters = true
                normalized.append(byte)
            case 0x20, 0x09, 0x0A, 0x0D: leniency.insert(.whitespace)
            case UInt8(ascii: "-"): normalized.append(UInt8(ascii: "+")); leniency.insert(.urlSafeAlphabet)
            case UInt8(ascii: "_"): normalized.append(UInt8(ascii: "/")); leniency.insert(.urlSafeAlphabet)
            default:
                if stray == nil { stray = Base64.DecodingError(.invalidCharacter(byte), at: offset) }
                normalized.append(byte)
            }
        }
        var padding = 0
        while padding < normalized.count, padding < 2, normalized[normalized.count - 1 - padding] == UInt8(ascii: "=") { padding += 1 }
        let nominal = Base64.nominalDecodedByteCount(encodedByteCount: normalized.count, paddingCount: padding)
        // Each kind of leniency alone looks like what encoders write; together with a length or alphabet that does not
        // fit they look like damage (a character replaced by a space shifts every bit after it), which stays silence.
        let mixedAlphabets = leniency.contains(.urlSafeAlphabet) && hasStandardOnlyCharacters
        if normalized.count % 4 != 0 {
            guard padding == 0, normalized.count % 4 != 1, !leniency.contains(.whitespace) else { return (nil, [], nominal, stray) }
            normalized.append(contentsOf: repeatElement(UInt8(ascii: "="), count: 4 - normalized.count % 4))
            leniency.insert(.missingPadding)
        }
        guard !leniency.isEmpty, stray == nil, !mixedAlphabets else { return (nil, [], nominal, stray) }
        let count = normalized.withUnsafeBytes { text in try? Base64.decode(text, into: output) }
        return (count, leniency, nominal, nil)
    }
}

/// How a base64 payload strayed from strict RFC 4648 §4 and was decoded all the same.
@_spi(Blocks) public struct Base64Leniency: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    /// Creates a set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Spaces or line breaks inside the text (MIME base64 wraps at 76 characters).
    public static let whitespace = Base64Leniency(rawValue: 1)
    /// `-` and `_` in place of `+` and `/` (the URL-safe alphabet, RFC 4648 §5).
    public static let urlSafeAlphabet = Base64Leniency(rawValue: 2)
    /// No `=` padding at the end.
    public static let missingPadding = Base64Leniency(rawValue: 4)

    /// `line breaks, the URL-safe alphabet and no padding`.
    public var description: String {
        [contains(.whitespace) ? "line breaks or spaces" : nil, contains(.urlSafeAlphabet) ? "the URL-safe alphabet" : nil,
         contains(.missingPadding) ? "no padding" : nil].compactMap { $0 }.joined(separator: ", ")
    }
}
