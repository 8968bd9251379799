public import DeltaTapeKernels

/// Turns an audio delta's base64 payload into the payload's bytes, in a buffer reused from call to call.
///
/// An undecodable payload becomes silence of the length it would have had, so that a timeline stays
/// aligned; the decoding error is returned alongside for the caller to report.
///
/// `decode` is inlinable: generic over the caller's result and error types, it would otherwise look up their runtime
/// metadata on every call across the module boundary (measured: about 3% of a conversion's user time).
public struct PayloadDecoder: Sendable {
    @usableFromInline var decoded: [UInt8] = []
    @usableFromInline var unescaped: [UInt8] = []

    /// Creates a decoder.
    public init() {}

    /// The result of decoding one payload.
    public struct Result {
        /// The decoded bytes (silence when ``error`` is set), valid until the next call.
        public var bytes: UnsafeRawBufferPointer
        /// Why the payload could not be decoded, when it could not.
        public var error: Base64.DecodingError?

        @usableFromInline init(bytes: UnsafeRawBufferPointer, error: Base64.DecodingError?) {
            self.bytes = bytes
            self.error = error
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
        let capacity = Base64.maximumDecodedByteCount(encodedByteCount: text.count)
        if decoded.count < capacity { decoded = [UInt8](repeating: 0, count: max(capacity, 2 * decoded.count)) }
        return try decoded.withUnsafeMutableBufferPointer { (decoded) throws(Failure) in
            let output = UnsafeMutableRawBufferPointer(decoded)
            let decodedCount: Int
            do throws(Base64.DecodingError) {
                decodedCount = try Base64.decode(text, into: output)
            } catch {
                var padding = 0
                while padding < text.count, padding < 2, text[text.count - 1 - padding] == UInt8(ascii: "=") { padding += 1 }
                let count = Base64.nominalDecodedByteCount(encodedByteCount: text.count, paddingCount: padding)
                let silence = UnsafeMutableRawBufferPointer(rebasing: output[..<count])
                silence.initializeMemory(as: UInt8.self, repeating: silenceByte)
                return try body(Result(bytes: UnsafeRawBufferPointer(silence), error: error))
            }
            return try body(Result(bytes: UnsafeRawBufferPointer(rebasing: output[..<decodedCount]), error: nil))
        }
    }
}
