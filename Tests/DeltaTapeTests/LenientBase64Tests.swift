@_spi(Blocks) import DeltaTape
import Foundation
import TestSupport
import Testing

/// Base64 as found in the wild (issue 14, item 4): MIME line breaks, the URL-safe alphabet, missing padding are
/// decoded, with one warning a stream; an undecodable payload becomes silence as long as its characters (line breaks
/// aside) would have decoded to. Payloads are made by Foundation's encoder, expectations from the PCM put in.
@Suite struct LenientBase64Tests {
    @Test func wildBase64IsDecodedWithOneWarningAStream() throws {
        var generator = SeededGenerator()
        func pcm(_ sampleCount: Int) -> Data {
            var data = Data()
            for _ in 0..<sampleCount { withUnsafeBytes(of: Int16.random(in: .min ... .max, using: &generator).littleEndian) { data.append(contentsOf: $0) } }
            return data
        }
        func delta(_ response: String, _ payload: String) throws -> String {
            let object: [String: Any] = ["type": "response.output_audio.delta", "response_id": response, "item_id": "item_\(response)",
                                         "output_index": 0, "content_index": 0, "delta": payload]
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        var lines = [#"{"type":"session.created","session":{"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm","rate":24000}}}}}"#]
        var expected = Data()
        // Stream A: MIME base64, CRLF every 76 characters (Foundation's own wrapping).
        for _ in 0..<3 {
            let audio = pcm(1_000)
            expected += audio
            lines.append(try delta("A", audio.base64EncodedString(options: .lineLength76Characters)))
        }
        // Stream B: the URL-safe alphabet without padding (lengths that need padding).
        for count in [1_001, 1_003, 998] {
            let audio = pcm(count)
            expected += audio
            let text = audio.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            lines.append(try delta("B", text))
        }
        // Stream C: strict base64, then a payload broken by a character no alphabet has, wrapped by a line break:
        // "QUFB\r\nQU!B" holds 8 base64 characters, 6 bytes' worth, so 3 samples of silence (not 10 characters' 7 bytes).
        let strict = pcm(500)
        expected += strict
        lines.append(try delta("C", strict.base64EncodedString()))
        lines.append(try delta("C", "QUFB\r\nQU!B"))
        expected += Data(count: 6)
        let tail = pcm(400)
        expected += tail
        lines.append(try delta("C", tail.base64EncodedString()))

        let (output, problems) = try convertInlineSession(lines)

        #expect(try soxDecodeToPCM16(output) == expected, "\(generator)")
        #expect(problems.map(\.line) == [2, 5, 9], "\(problems)")
        #expect(problems.count == 3 && problems[0].message.contains("line breaks"), "\(problems)")
        #expect(problems.count == 3 && problems[1].message.contains("URL-safe") && problems[1].message.contains("no padding"), "\(problems)")
        #expect(problems.count == 3 && problems[2].message.contains("'!' at offset 8"), "\(problems)")
    }

    /// Damage is not taken for leniency: a character replaced by a space (every later bit shifted), or `-` among `+`
    /// and `/` (two alphabets), stays silence of the payload's length, with the error.
    @Test(arguments: [(" ", true), ("-", false)]) func damageIsNotDecodedLeniently(_ replacement: String, _ spaced: Bool) throws {
        let intact = Data((0..<600).map { UInt8(truncatingIfNeeded: $0 &* 37) }).base64EncodedString()  // has '+' and '/'
        #expect(intact.contains("+") || intact.contains("/"))
        var characters = Array(intact)
        characters[100] = Character(replacement)
        let message = Array("{\"delta\":\"\(String(characters))\"}".utf8)
        let payload = 10..<(10 + characters.count)
        let delta = AudioDelta(track: .assistant, format: AudioFormat(encoding: .pcm16, sampleRate: 24_000, channelCount: 1),
                               payload: payload, payloadHasEscapes: false)
        var decoder = PayloadDecoder()
        let (bytes, failed) = message.withUnsafeBytes { message in
            decoder.decode(delta, in: message) { (Array($0.bytes), $0.error != nil) }
        }
        #expect(failed)
        // Silence as long as the characters that are base64 (a space is not one).
        let characterCount = spaced ? characters.count - 1 : characters.count
        #expect(bytes == [UInt8](repeating: 0, count: characterCount * 3 / 4))
    }
}
