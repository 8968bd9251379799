// SPEC §9 and issue 16's acceptance: the relay's recording equals converting the same session's log directly
// (bit-exact for WAV, decoded-exact for Ogg and WebM), the saved log holds the messages and converts to the same
// audio, and one track alone equals the PCM the generator encoded (docs/TIMELINE.md: a track alone is its items
// joined without gaps, so arrival times cannot change it).
import DeltaTape
import Foundation
import Testing

@Suite("Relay: recordings")
struct RelayRecordingTests {
    /// Converts `log` with the DeltaTape library, as `deltatape convert` does.
    private func convert(_ log: String, to output: String, format: OutputFormat, track: TrackSelection,
                         layout: ChannelLayout = .stereo) async throws -> ConversionSummary {
        var options = ConversionOptions()
        options.format = format
        options.track = track
        options.layout = layout
        return try await SessionConverter.convert(input: log, to: .file(output), options: options, problem: { _ in })
    }

    /// Runs ga-basic through a relay started with `arguments`; returns the recording and the saved log.
    private func recordThroughRelay(_ arguments: [String], extension ext: String,
                                    check: @Sendable (RelayScenario, RealtimeClient, FakeUpstream) async throws -> Void = { _, _, _ in })
    async throws -> (recording: URL, savedLog: URL?, keep: URL) {
        let keep = try RelayTestEnvironment.temporaryDirectory("relay-kept")
        let script = try SessionScript(log: RelaySessions.log("ga-basic"))
        let saved = try await withRelay(upstream: .init(script: script), arguments: arguments) { scenario -> [URL] in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            #expect(await client.run().error == nil)
            let (file, _) = try await scenario.finishedRecording(extension: ext)
            try await check(scenario, client, scenario.upstream)
            var kept = [keep.appendingPathComponent(file.lastPathComponent)]
            try FileManager.default.copyItem(at: file, to: kept[0])
            if arguments.contains("--save-log") {
                let log = try scenario.savedLog(of: file)
                kept.append(keep.appendingPathComponent(log.lastPathComponent))
                try FileManager.default.copyItem(at: log, to: kept[1])
            }
            return kept
        }
        return (saved[0], saved.count > 1 ? saved[1] : nil, keep)
    }

    @Test func aWAVRecordingIsBitExactToConvertingItsSavedLog() async throws {
        let (recording, savedLog, keep) = try await recordThroughRelay(["--format", "wav", "--track", "both", "--layout", "stereo", "--save-log"],
                                                                       extension: "wav")
        defer { try? FileManager.default.removeItem(at: keep) }
        let log = try #require(savedLog)
        let direct = keep.appendingPathComponent("direct.wav").path
        _ = try await convert(log.path, to: direct, format: .wav, track: .both)
        let relayed = try readWAVWithPython(recording.path)
        let converted = try readWAVWithPython(direct)
        #expect(relayed.channelCount == 2)
        #expect(relayed.sampleRate == 24000)
        #expect(relayed.frameCount > 0)
        #expect(relayed.frameCount == converted.frameCount)
        #expect(relayed == converted)
        // Both tracks hold every sample the generator encoded (placement may add silence, never drop audio).
        let user = try RelaySessions.expectedUser("ga-basic"), assistant = try RelaySessions.expectedAssistant("ga-basic")
        #expect(relayed.frameCount >= max(user.count, assistant.count) / 2)
    }

    @Test func theSavedLogHoldsEveryMessageWithItsDirectionInTheEnvelope() async throws {
        let script = try SessionScript(log: RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--save-log"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            #expect(await client.run().error == nil)
            let log = try scenario.savedLog(of: try await scenario.finishedRecording(extension: "wav").file)
            let connection = try #require(scenario.upstream.connections.first)
            var clientEvents: [NSDictionary] = [], serverEvents: [NSDictionary] = []
            var times: [Double] = []
            let text = try String(contentsOf: log, encoding: .utf8)
            for line in text.split(separator: "\n") where !line.isEmpty {
                let envelope = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let time = try #require(envelope["time"] as? Double)
                times.append(time)
                let event: NSDictionary
                if let object = envelope["event"] as? NSDictionary {
                    event = object
                } else {
                    let string = try #require(envelope["event"] as? String)
                    event = try #require(jsonObject(.text(string)))
                }
                switch envelope["source"] as? String {
                case "client": clientEvents.append(event)
                case "server": serverEvents.append(event)
                default: Issue.record("an envelope without source client or server: \(line.prefix(120))")
                }
            }
            #expect(clientEvents == client.sent.compactMap(jsonObject))
            #expect(serverEvents == connection.sent.compactMap(jsonObject))
            // Times are seconds since the epoch, around now, never going backwards.
            let now = Date().timeIntervalSince1970
            #expect(times.allSatisfy { abs($0 - now) < 600 })
            #expect(times == times.sorted())
        }
    }

    @Test(arguments: ["assistant", "user"])
    func aTrackAloneInWAVEqualsThePCMTheGeneratorEncoded(track: String) async throws {
        let (recording, _, keep) = try await recordThroughRelay(["--format", "wav", "--track", track], extension: "wav")
        defer { try? FileManager.default.removeItem(at: keep) }
        let expected = track == "assistant" ? try RelaySessions.expectedAssistant("ga-basic") : try RelaySessions.expectedUser("ga-basic")
        let relayed = try readWAVWithPython(recording.path)
        #expect(relayed.channelCount == 1)
        #expect(relayed.sampleRate == 24000)
        #expect(relayed.frameCount == expected.count / 2)
        #expect(relayed.samples == expected)
    }

    @Test(arguments: ["ogg", "webm"])
    func anOpusRecordingDecodesToTheSameSamplesAsConvertingItsSavedLog(format: String) async throws {
        let (recording, savedLog, keep) = try await recordThroughRelay(["--format", format, "--track", "both", "--save-log"],
                                                                       extension: format)
        defer { try? FileManager.default.removeItem(at: keep) }
        let log = try #require(savedLog)
        let direct = keep.appendingPathComponent("direct.\(format)").path
        _ = try await convert(log.path, to: direct, format: format == "ogg" ? .ogg : .webm, track: .both)
        let relayed = try decodeWithFFmpeg(recording.path)
        let converted = try decodeWithFFmpeg(direct)
        #expect(relayed.count > 0)
        #expect(relayed.count == converted.count)
        #expect(relayed == converted)
        #expect(try probeWithFFprobe(recording.path).channelCount == 2)
    }

    @Test(arguments: ["ogg", "webm"])
    func anOpusAssistantRecordingDecodesToTheExactLengthOfTheGeneratorsSpeech(format: String) async throws {
        let (recording, _, keep) = try await recordThroughRelay(["--format", format, "--track", "assistant"], extension: format)
        defer { try? FileManager.default.removeItem(at: keep) }
        let expectedFrames = try RelaySessions.expectedAssistant("ga-basic").count / 2
        // ffmpeg decodes Opus at 48 kHz: twice the 24 kHz source's frames, pre-skip and end trimming applied.
        let probe = try probeWithFFprobe(recording.path)
        #expect(probe.channelCount == 1)
        let decoded = try decodeWithFFmpeg(recording.path)
        #expect(decoded.count / 2 == expectedFrames * 48000 / 24000)
    }
}
