import Foundation
import TestSupport
import Testing

/// `deltatape inspect --json` as docs/CLI.md documents it: scripts may decode every report into this type.
struct InspectJSON: Decodable {
    struct Track: Decodable {
        var deltaCount: Int
        var byteCount: Int
        var durationSeconds: Double
        var encoding: String?
        var sampleRate: Int?
        var channelCount: Int?
        var formats: [Format]
    }

    struct Format: Decodable, Equatable {
        var encoding: String
        var sampleRate: Int
        var channelCount: Int
        var description: String
    }

    struct Diagnosis: Decodable {
        var code: String
        var message: String
    }

    struct Problem: Decodable {
        var input: String
        var line: Int
        var message: String
    }

    var input: String
    var kind: String
    var vocabulary: String?
    var vocabularyName: String?
    var wrapper: String?
    var lineCount: Int
    var messageCount: Int
    var eventCounts: [String: Int]
    var formats: [String]
    var assistant: Track
    var user: Track
    var responseCount: Int?
    var itemCount: Int?
    var truncationCount: Int
    var interruptionCount: Int
    var deltasAfterDone: Int
    var webSocketConnectionCount: Int?
    var nonMessageFrameCount: Int?
    var problems: [Problem]
    var diagnoses: [Diagnosis]
}

/// The diagnosis codes docs/CLI.md lists.
let documentedDiagnosisCodes: Set<String> = [
    "openai-ga-names", "openai-beta-names", "openai-shared-names", "vocabulary", "no-vocabulary", "har-without-frames", "webrtc-data-channel",
    "text-only-output", "transcripts-without-audio", "wrapper-not-recognized", "no-assistant-audio", "no-user-audio", "other-track-has-audio",
    "g711", "har-several-connections", "har-frames-skipped", "deltas-after-done", "cut-off", "problems",
]

/// Issue 13, defect 6: every fixture's `inspect --json` decodes into ``InspectJSON``, with numbers to the millisecond,
/// numeric formats per track and coded diagnoses; expectations from the fixture script's manifest and PCM.
@Suite struct InspectJSONTests {
    static var fixtures: [String] {
        get throws {
            let data = try Data(contentsOf: GeneratedSessions.directory().appendingPathComponent("manifest.json"))
            return ((try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]).keys.sorted()
        }
    }

    static func inspect(_ name: String, _ extra: [String] = []) throws -> (report: InspectJSON, text: String) {
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["inspect", try GeneratedSessions.log(name), "--json"] + extra)
        guard result.status == 0 else { throw TestSupportError("inspect \(name): \(result.standardError)") }
        return (try JSONDecoder().decode(InspectJSON.self, from: result.standardOutput), String(decoding: result.standardOutput, as: UTF8.self))
    }

    @Test func everyFixtureDecodes() throws {
        let fixtures = try Self.fixtures
        #expect(fixtures.count >= 25)
        for name in fixtures {
            let extra = name == "envelope-custom-field" ? ["--event-field", "frame"] : []
            let (report, text) = try Self.inspect(name, extra)
            // Numbers to the millisecond: no number in the text has more than three decimals.
            #expect(text.firstMatch(of: /[0-9]\.[0-9]{4,}/) == nil, "\(name): \(text.firstMatch(of: /[0-9]+\.[0-9]{4,}/)?.output ?? "")")
            #expect(report.vocabulary == (try GeneratedSessions.manifest(name).vocabulary), "\(name)")
            for diagnosis in report.diagnoses {
                #expect(documentedDiagnosisCodes.contains(diagnosis.code), "\(name): undocumented code \(diagnosis.code)")
                #expect(!diagnosis.message.isEmpty)
            }
            for track in [report.assistant, report.user] {
                #expect((track.deltaCount > 0) == (track.sampleRate != nil) && (track.deltaCount > 0) == !track.formats.isEmpty, "\(name)")
                if let first = track.formats.first {
                    #expect(track.sampleRate == first.sampleRate && track.encoding == first.encoding && track.channelCount == first.channelCount)
                }
            }
            // Responses and items are OpenAI's ideas; other vocabularies have none to count.
            let openAI = report.vocabulary?.hasPrefix("openai") == true
            #expect((report.responseCount != nil) == openAI && (report.itemCount != nil) == openAI, "\(name)")
        }
    }

    @Test(arguments: ["ga-basic", "gemini", "twilio", "elevenlabs", "g711-ulaw", "gpt-live"])
    func tracksCarryTheirRatesAndDurations(_ name: String) throws {
        let (report, _) = try Self.inspect(name)
        let manifest = try Data(contentsOf: GeneratedSessions.directory().appendingPathComponent("manifest.json"))
        let entry = ((try JSONSerialization.jsonObject(with: manifest) as? [String: [String: Any]]) ?? [:])[name] ?? [:]
        // The script's expected PCM is 16-bit at the track's rate (the manifest's, or OpenAI's 24 kHz).
        let assistantRate = try #require(report.assistant.sampleRate)
        if let rate = entry["rate"] as? Int { #expect(assistantRate == rate) }
        let assistantFrames = try GeneratedSessions.expectedAssistant(name).count / 2
        #expect(report.assistant.durationSeconds == (Double(assistantFrames) / Double(assistantRate) * 1000).rounded() / 1000)
        if let userRate = report.user.sampleRate, let userPCM = try? GeneratedSessions.expectedUser(name) {
            if let rate = entry["user_rate"] as? Int { #expect(userRate == rate) }
            #expect(report.user.durationSeconds == (Double(userPCM.count / 2) / Double(userRate) * 1000).rounded() / 1000)
        }
    }

    @Test func geminiTiesEachFormatToItsTrack() throws {
        let (report, _) = try Self.inspect("gemini")
        #expect(report.assistant.formats == [InspectJSON.Format(encoding: "pcm16", sampleRate: 24_000, channelCount: 1, description: "PCM16 24000 Hz mono")])
        #expect(report.user.formats == [InspectJSON.Format(encoding: "pcm16", sampleRate: 16_000, channelCount: 1, description: "PCM16 16000 Hz mono")])
        let text = try run(TestEnvironment.deltatapeExecutable.path, ["inspect", try GeneratedSessions.log("gemini")])
        let lines = String(decoding: text.standardOutput, as: UTF8.self)
        #expect(lines.contains("assistant audio: ") && lines.contains(" PCM16 24000 Hz mono\n"), "\(lines)")
        #expect(lines.contains("user audio: ") && lines.contains(" PCM16 16000 Hz mono\n"), "\(lines)")
        // Counts that mean something: Gemini has no responses or items; one interruption is singular.
        #expect(!lines.contains("responses") && !lines.contains("items"), "\(lines)")
        #expect(lines.contains("1 interruption") && !lines.contains("(s)") && !lines.contains("1 interruptions"), "\(lines)")
    }

    @Test(arguments: ["ga-basic", "gemini", "twilio", "elevenlabs", "cutoffs", "har-openai", "malformed", "no-audio"])
    func pluralsAreRight(_ name: String) throws {
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["inspect", try GeneratedSessions.log(name)])
        let text = String(decoding: result.standardOutput, as: UTF8.self)
        #expect(!text.contains("(s)"), "\(text)")
        #expect(text.firstMatch(of: /(^|[^0-9.])1 [a-z]+s\b/) == nil, "\(text.firstMatch(of: /(^|[^0-9.])1 [a-z]+s\b/)?.output.0 ?? "")")
    }
}
