import DeltaTape
import Foundation
import TestSupport
import Testing

/// A guard for refactoring: every fixture, through every output form, gives the same bytes as the outputs recorded
/// in `OutputChecksums.txt` (made by an earlier commit). Ogg and WebM files are compared whole (with a fixed stream
/// identifier, since serial numbers and track UIDs are random by default); WAV files by their `data` chunk, so that a
/// deliberate header change does not hide behind it, nor a sample change behind a header.
///
/// When an output changes on purpose, record the new checksums (`DELTATAPE_RECORD_CHECKSUMS=1 swift test --filter
/// OutputIdentity`) in the same commit as the change, and say why in its message.
@Suite struct OutputIdentityTests {
    static let checksumFile = TestEnvironment.packageRoot.appendingPathComponent("Tests/DeltaTapeTests/OutputChecksums.txt")

    /// One conversion whose output is pinned.
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var input: @Sendable () throws -> String
        var format: OutputFormat
        var options: @Sendable (inout ConversionOptions) -> Void = { _ in }
        var description: String { name }
    }

    static let sessions = ["beta-basic", "crlf-bom", "cutoffs", "elevenlabs", "envelope", "escaped-slashes", "g711-ulaw",
                           "ga-basic", "gemini", "gpt-live", "har-gemini", "har-openai", "item-create", "json-array",
                           "malformed", "mixed-formats", "odd-splits", "reordered-keys", "twilio", "twilio-bridge"]

    static var cases: [Case] {
        var cases: [Case] = []
        for session in sessions {
            for track in AudioTrack.allCases {
                for format in OutputFormat.allCases {
                    cases.append(Case(name: "\(session).\(track.rawValue).\(format.rawValue)",
                                      input: { try GeneratedSessions.log(session) }, format: format,
                                      options: { $0.track = TrackSelection(track) }))
                }
            }
        }
        let speech = { @Sendable in TestEnvironment.packageRoot.appendingPathComponent("TestAudio/assistant-speech.wav").path }
        cases += [
            Case(name: "ga-basic.f32.wav", input: { try GeneratedSessions.log("ga-basic") }, format: .wav,
                 options: { $0.sampleFormat = .f32 }),
            Case(name: "ga-basic.16k-soxr.wav", input: { try GeneratedSessions.log("ga-basic") }, format: .wav,
                 options: { $0.sampleRate = 16_000 }),
            Case(name: "ga-basic.44k-libsamplerate-low.wav", input: { try GeneratedSessions.log("ga-basic") }, format: .wav,
                 options: { $0.sampleRate = 44_100; $0.resampler = .libsamplerate; $0.quality = .low }),
            Case(name: "ga-basic.44k.ogg", input: { try GeneratedSessions.log("ga-basic") }, format: .ogg,
                 options: { $0.sampleRate = 44_100 }),
            Case(name: "ga-basic.voip-16k-c3-10ms.webm", input: { try GeneratedSessions.log("ga-basic") }, format: .webm,
                 options: { $0.opus = OpusSettings(bitrate: 16_000, complexity: 3, application: .voip, frameMilliseconds: 10) }),
            Case(name: "speech-file.wav", input: speech, format: .wav),
            Case(name: "speech-file.8k.wav", input: speech, format: .wav, options: { $0.sampleRate = 8_000 }),
            Case(name: "speech-file.ogg", input: speech, format: .ogg),
            Case(name: "raw-mulaw-stereo.wav", input: speech, format: .wav,
                 options: { $0.rawInput = AudioFormat(encoding: .mulaw, sampleRate: 8_000, channelCount: 2) }),
            Case(name: "raw-s16le-stereo.webm", input: speech, format: .webm,
                 options: { $0.rawInput = AudioFormat(encoding: .pcm16, sampleRate: 24_000, channelCount: 2) }),
        ]
        return cases
    }

    /// What a conversion gave: a checksum of the pinned bytes and their count, or the kind of failure.
    static func outcome(of test: Case, in folder: URL) -> String {
        let output = folder.appendingPathComponent("\(test.name)")
        var options = ConversionOptions(format: test.format)
        options.streamIdentifier = 0x5EED_0001
        test.options(&options)
        do {
            _ = try SessionConverter.convert(input: try test.input(), to: .file(output.path), options: options)
            var bytes = try Data(contentsOf: output)
            if test.format == .wav { bytes = try wavDataChunk(bytes) }
            return String(format: "%016llx %d", fnv1a64(bytes), bytes.count)
        } catch let error as ConversionError {
            switch error {
            case .badInput: return "fails with exit status 65"
            case .unreadableInput, .output: return "fails with exit status 74"
            case .resampling, .outputIsInput, .inapplicableOption: return "fails with exit status 64"
            case .cancelled: return "cancelled"
            }
        } catch {
            return "fails: \(error)"
        }
    }

    @Test func everyOutputMatchesItsRecordedChecksum() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let outcomes = Self.cases.map { "\($0.name) \(Self.outcome(of: $0, in: folder))" }
        if ProcessInfo.processInfo.environment["DELTATAPE_RECORD_CHECKSUMS"] == "1" {
            try (outcomes.joined(separator: "\n") + "\n").write(to: Self.checksumFile, atomically: true, encoding: .utf8)
        }
        let recorded = try String(contentsOf: Self.checksumFile, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(recorded.count == outcomes.count)
        for (now, before) in zip(outcomes, recorded) {
            #expect(now == before)
        }
        // The pinned set must hold real outputs of every format, not only failures.
        #expect(outcomes.filter { !$0.contains("fails") }.count > 100)
    }
}

/// The payload of a RIFF/RF64 WAV's `data` chunk (to the end of the file when its size is unknown).
func wavDataChunk(_ file: Data) throws -> Data {
    var offset = 12
    while offset + 8 <= file.count {
        let id = String(decoding: file[offset..<(offset + 4)], as: UTF8.self)
        let size = file[(offset + 4)..<(offset + 8)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        if id == "data" { return file[(offset + 8)..<min(file.count, offset + 8 + size)] }
        offset += 8 + size + (size & 1)
    }
    throw TestSupportError("no data chunk")
}

/// FNV-1a, 64 bits: enough to tell outputs apart (this is a refactoring guard, not a security check).
func fnv1a64(_ bytes: Data) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}
