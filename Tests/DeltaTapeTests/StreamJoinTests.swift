import DeltaTape
import Foundation
import TestSupport
import Testing

/// Odd-length PCM16 deltas: the leftover byte joins the next delta of the same stream, never another's; a stream
/// that ends with half a sample is a warning naming its item. Expectations computed by make-sessions.py.
@Suite struct StreamJoinTests {
    private func convert(_ name: String) throws -> (written: Data, problems: [Problem]) {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(name).wav")
        var problems: [Problem] = []
        _ = try SessionConverter.convert(input: GeneratedSessions.log(name), to: .file(output.path)) { problems.append($0) }
        return (try soxDecodeToPCM16(output.path), problems)
    }

    /// Two out-of-band responses' deltas interleaved, each delta odd-sized: a leftover shared between streams would
    /// shift one stream's bytes into the other's samples.
    @Test func interleavedStreamsKeepTheirOwnLeftoverByte() throws {
        let (written, problems) = try convert("interleaved-odd")
        #expect(problems.isEmpty, "\(problems)")
        let expected = try GeneratedSessions.expectedAssistant("interleaved-odd")
        #expect(written.count == expected.count)
        #expect(written == expected, "first differing byte: \(String(describing: zip(written, expected).enumerated().first { $1.0 != $1.1 }?.offset))")
    }

    @Test func aStreamEndingWithHalfASampleIsAWarningNamingTheItem() throws {
        let (written, problems) = try convert("half-sample-end")
        #expect(written == (try GeneratedSessions.expectedAssistant("half-sample-end")))
        let manifest = try GeneratedSessions.manifest("half-sample-end")
        #expect(problems.map(\.line) == manifest.problemLines)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("ends with half a sample") == true, "\(problems)")
        #expect(problems.first?.message.contains("item_half") == true, "\(problems)")
    }

    @Test func halfASampleUnderStrictIsAFailure() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("strict.wav")
        #expect {
            _ = try SessionConverter.convert(input: GeneratedSessions.log("half-sample-end"), to: .file(output.path),
                                             options: ConversionOptions(strict: true))
        } throws: { error in
            guard let error = error as? ConversionError, case .badInput(let message) = error else { return false }
            return message.contains("half a sample")
        }
    }
}
