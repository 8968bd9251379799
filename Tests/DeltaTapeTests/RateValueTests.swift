import DeltaTape
import Foundation
import TestSupport
import Testing

/// A session's rate as loggers write it (issue 14, item 5): a numeric string is read, with a warning; a rate that is
/// no whole number of hertz is a warning naming it, and the previous format stays. Never a silent 24 kHz for a
/// 16 kHz session (which plays 1.5 times too fast).
@Suite struct RateValueTests {
    @Test(arguments: [(#""16000""#, 16_000, "is a string, not a number; read as 16000 Hz"),
                      ("16000.5", 24_000, "16000.5 is not a whole number of hertz"),
                      (#""fast""#, 24_000, "'fast' is not a whole number of hertz"),
                      ("16000", 16_000, nil)])
    func aRateIsReadOrNamedInAWarning(_ written: String, _ expectedRate: Int, _ warning: String?) throws {
        let audio = Data((0..<3_200).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let lines = [
            #"{"type":"session.updated","session":{"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm","rate":\#(written)}}}}}"#,
            #"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","content_index":0,"delta":"\#(audio.base64EncodedString())"}"#,
        ]
        let (output, problems) = try convertInlineSession(lines)
        let soxi = try run("soxi", ["-r", output])
        #expect(soxi.status == 0 && String(decoding: soxi.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(expectedRate)")
        if let warning {
            #expect(problems.count == 1 && problems.first?.line == 1 && problems.first?.message.contains(warning) == true, "\(problems)")
        } else {
            #expect(problems.isEmpty, "\(problems)")
        }
        #expect(try soxDecodeToPCM16(output) == audio)
    }
}
