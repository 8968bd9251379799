@_spi(Blocks) import DeltaTapeEvents
@_spi(Blocks) import DeltaTapeKernels
import Foundation
import Testing
import TestSupport

/// The payload decoder alone: what it decodes equals Foundation's base64, `\/` escapes resolved, an undecodable
/// payload becomes the encoding's silence at the length the payload would have had, one buffer reused throughout.
@Suite struct PayloadDecoderTests {
    /// The byte G.711 encodes silence with (ITU-T G.711: mu-law 0xFF, A-law 0xD5); zero for PCM16.
    static let silence: [SampleEncoding: UInt8] = [.pcm16: 0x00, .mulaw: 0xFF, .alaw: 0xD5]

    /// Decodes `text` as the payload of a `delta` member, JSON escapes as written; returns the bytes and whether it failed.
    static func decode(_ text: String, _ decoder: inout PayloadDecoder, encoding: SampleEncoding = .pcm16) -> (bytes: [UInt8], failed: Bool) {
        let message = Array(#"{"delta":""#.utf8) + Array(text.utf8) + Array(#""}"#.utf8)
        let payload = 10..<(10 + text.utf8.count)
        let delta = AudioDelta(track: .assistant, format: AudioFormat(encoding: encoding, sampleRate: 8_000), payload: payload,
                               payloadHasEscapes: text.contains("\\"))
        return message.withUnsafeBytes { message in
            decoder.decode(delta, in: message) { result in (Array(result.bytes), result.error != nil) }
        }
    }

    /// Lengths that grow and shrink, so the reused buffer is both too small and larger than needed.
    static func lengths(_ random: inout SplitMix64) -> [Int] {
        var lengths = [0, 1, 2, 3, 4, 5, 47, 48, 49, 50_000, 7, 0, 30, 31, 32, 33, 1_000, 2, 70_001]
        lengths += (0..<200).map { _ in Int.random(in: 0...400, using: &random) }
        return lengths.shuffled(using: &random) + [100_000, 1]
    }

    @Test func validPayloadsEqualFoundationsDecoding() {
        let seed = testSeed(0xBA5E_64)
        var random = SplitMix64(seed: seed)
        var decoder = PayloadDecoder()
        for length in Self.lengths(&random) {
            let text = Data(random.bytes(length)).base64EncodedString()
            let decoded = Self.decode(text, &decoder)
            #expect(!decoded.failed && firstDifference(decoded.bytes, Data(base64Encoded: text)!) == nil, "seed \(seed), \(length) bytes")
        }
    }

    /// Some loggers write `/` as `\/`: the payload decodes as if they had not.
    @Test func escapedSlashesAreResolved() {
        let seed = testSeed(0x5_1A54)
        var random = SplitMix64(seed: seed)
        var decoder = PayloadDecoder()
        var escapedCount = 0
        for length in Self.lengths(&random) {
            let text = Data(random.bytes(length)).base64EncodedString()
            guard text.contains("/") else { continue }
            escapedCount += 1
            let decoded = Self.decode(text.replacingOccurrences(of: "/", with: #"\/"#), &decoder)
            #expect(!decoded.failed && firstDifference(decoded.bytes, Data(base64Encoded: text)!) == nil, "seed \(seed), \(length) bytes")
            // And a plain payload right after an escaped one.
            #expect(firstDifference(Self.decode(text, &decoder).bytes, Self.decode(text.replacingOccurrences(of: "/", with: #"\/"#), &decoder).bytes) == nil)
        }
        #expect(escapedCount > 100)
    }

    /// A payload with a byte outside the alphabet becomes silence of the length the intact payload decodes to (by
    /// Foundation), in the encoding's silence byte, with the error; whatever the buffer held before does not show.
    @Test(arguments: SampleEncoding.allCases)
    func anUndecodablePayloadBecomesSilenceOfItsNominalLength(_ encoding: SampleEncoding) {
        let seed = testSeed(0x51_1E4C)
        var random = SplitMix64(seed: seed)
        var decoder = PayloadDecoder()
        let silence = Self.silence[encoding]!
        #expect(encoding.silenceByte == silence)
        for length in Self.lengths(&random) where length > 0 {
            // Fill the buffer with data first, so stale bytes would show.
            let previous = Data(random.bytes(Int.random(in: 0...3 * length, using: &random))).base64EncodedString()
            _ = Self.decode(previous, &decoder, encoding: encoding)
            let intact = Data(random.bytes(length)).base64EncodedString()
            var characters = Array(intact)
            let unpadded = characters.lastIndex { $0 != "=" }!
            let spoiled = Int.random(in: 0...unpadded, using: &random)
            // Bytes no lenient reading takes either (`-`, `_` and spaces are the URL-safe alphabet and line breaks:
            // LenientBase64Tests).
            characters[spoiled] = ["*", "!", ".", "#"].randomElement(using: &random)!
            let expected = [UInt8](repeating: silence, count: Data(base64Encoded: intact)!.count)
            let decoded = Self.decode(String(characters), &decoder, encoding: encoding)
            #expect(decoded.failed && firstDifference(decoded.bytes, expected) == nil, "seed \(seed), \(length) bytes, spoiled at \(spoiled)")
            // The same through the escaped path: the length is the unescaped text's.
            let escaped = Self.decode(String(characters).replacingOccurrences(of: "/", with: #"\/"#), &decoder, encoding: encoding)
            #expect(escaped.failed && firstDifference(escaped.bytes, expected) == nil, "seed \(seed), \(length) bytes, spoiled at \(spoiled), escaped")
        }
    }

    /// The error names the offset of the first byte outside the alphabet.
    @Test func theErrorIsReturned() {
        var decoder = PayloadDecoder()
        let message = Array(#"{"delta":"AAAA*AAA"}"#.utf8)
        let delta = AudioDelta(track: .user, format: .mulaw8k, payload: 10..<18, payloadHasEscapes: false)
        let error = message.withUnsafeBytes { message in decoder.decode(delta, in: message) { $0.error } }
        #expect(error == Base64.DecodingError(.invalidCharacter(UInt8(ascii: "*")), at: 4))
    }
}
