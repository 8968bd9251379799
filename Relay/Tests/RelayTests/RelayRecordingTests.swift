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
    private func recordThroughRelay(_ arguments: [String], extension ext: String, session: String = "ga-basic",
                                    check: @Sendable (RelayScenario, RealtimeClient, FakeUpstream) async throws -> Void = { _, _, _ in })
    async throws -> (recording: URL, savedLog: URL?, keep: URL) {
        let keep = try RelayTestEnvironment.temporaryDirectory("relay-kept")
        let script = try await SessionScript.load(RelaySessions.log(session))
        let saved = try await withRelay(upstream: .init(script: script), arguments: arguments) { scenario -> [URL] in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await client.run(), relay: scenario.relay)
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
        let relayed = try await readWAVWithPython(recording.path)
        let converted = try await readWAVWithPython(direct)
        #expect(relayed.channelCount == 2)
        #expect(relayed.sampleRate == 24000)
        #expect(relayed.frameCount > 0)
        #expect(relayed.frameCount == converted.frameCount)
        #expect(relayed == converted)
        // Both tracks hold every sample the generator encoded (placement may add silence, never drop audio).
        let user = try await RelaySessions.expectedUser("ga-basic"), assistant = try await RelaySessions.expectedAssistant("ga-basic")
        #expect(relayed.frameCount >= max(user.count, assistant.count) / 2)
    }

    @Test func theSavedLogHoldsEveryMessageWithItsDirectionInTheEnvelope() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--save-log"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await client.run(), relay: scenario.relay)
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

    /// GA and beta names, and deltas of odd byte counts (a sample split across two messages).
    @Test(arguments: ["assistant", "user"], ["ga-basic", "beta-basic", "odd-splits"])
    func aTrackAloneInWAVEqualsThePCMTheGeneratorEncoded(track: String, session: String) async throws {
        let (recording, _, keep) = try await recordThroughRelay(["--format", "wav", "--track", track], extension: "wav", session: session)
        defer { try? FileManager.default.removeItem(at: keep) }
        let expected = track == "assistant" ? try await RelaySessions.expectedAssistant(session) : try await RelaySessions.expectedUser(session)
        let relayed = try await readWAVWithPython(recording.path)
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
        let relayed = try await decodeWithFFmpeg(recording.path)
        let converted = try await decodeWithFFmpeg(direct)
        #expect(relayed.count > 0)
        #expect(relayed.count == converted.count)
        #expect(relayed == converted)
        #expect(try await probeWithFFprobe(recording.path).channelCount == 2)
    }

    @Test(arguments: ["ogg", "webm"])
    func anOpusAssistantRecordingDecodesToTheExactLengthOfTheGeneratorsSpeech(format: String) async throws {
        let (recording, _, keep) = try await recordThroughRelay(["--format", format, "--track", "assistant"], extension: format)
        defer { try? FileManager.default.removeItem(at: keep) }
        let expectedFrames = try await RelaySessions.expectedAssistant("ga-basic").count / 2
        // ffmpeg decodes Opus at 48 kHz: twice the 24 kHz source's frames, pre-skip and end trimming applied.
        let probe = try await probeWithFFprobe(recording.path)
        #expect(probe.channelCount == 1)
        let decoded = try await decodeWithFFmpeg(recording.path)
        #expect(decoded.count / 2 == expectedFrames * 48000 / 24000)
    }

    @Test func aMonoRecordingIsBitExactToConvertingItsSavedLog() async throws {
        let (recording, savedLog, keep) = try await recordThroughRelay(["--format", "wav", "--track", "both", "--layout", "mono", "--save-log"],
                                                                       extension: "wav")
        defer { try? FileManager.default.removeItem(at: keep) }
        let direct = keep.appendingPathComponent("direct.wav").path
        _ = try await convert(try #require(savedLog).path, to: direct, format: .wav, track: .both, layout: .mono)
        let relayed = try await readWAVWithPython(recording.path)
        #expect(relayed.channelCount == 1)
        #expect(relayed.frameCount > 0)
        #expect(relayed == (try await readWAVWithPython(direct)))
    }

    @Test func separateTrackFilesAreEachBitExactToConvertingTheSavedLog() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script),
                            arguments: ["--format", "wav", "--track", "both", "--layout", "separate", "--save-log"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            expectClean(await client.run(), relay: scenario.relay)
            // x.wav becomes x.user.wav and x.assistant.wav, as `deltatape convert --layout separate` names them.
            var names: [String] = []
            _ = try await eventually(within: 60) {
                names = try files(in: scenario.outputDirectory).filter { $0.hasSuffix(".user.wav") || $0.hasSuffix(".assistant.wav") }
                return names.count == 2
            }
            let user = try #require(names.first { $0.hasSuffix(".user.wav") })
            let assistant = try #require(names.first { $0.hasSuffix(".assistant.wav") })
            let stem = String(user.dropLast(".user.wav".count))
            #expect(RelayContract.isRecordingName(stem + ".wav", connection: 1, extension: "wav"))
            #expect(assistant == stem + ".assistant.wav")
            #expect(await scenario.relay.waitForLine { $0.contains(stem) && !$0.contains("listening on") } != nil)
            let log = scenario.outputDirectory.appendingPathComponent(stem + ".jsonl")
            let keep = try RelayTestEnvironment.temporaryDirectory("relay-kept")
            defer { try? FileManager.default.removeItem(at: keep) }
            _ = try await convert(log.path, to: keep.appendingPathComponent("direct.wav").path, format: .wav, track: .both, layout: .separate)
            let relayedUser = try await readWAVWithPython(scenario.outputDirectory.appendingPathComponent(user).path)
            let relayedAssistant = try await readWAVWithPython(scenario.outputDirectory.appendingPathComponent(assistant).path)
            #expect(relayedUser.frameCount > 0)
            #expect(relayedUser.frameCount == relayedAssistant.frameCount)
            #expect(relayedUser == (try await readWAVWithPython(keep.appendingPathComponent("direct.user.wav").path)))
            #expect(relayedAssistant == (try await readWAVWithPython(keep.appendingPathComponent("direct.assistant.wav").path)))
        }
    }

    @Test func concurrentConnectionsAreNumberedAndRecordedEachOnItsOwn() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--track", "assistant"]) { scenario in
            let first = scenario.client(script, path: "/v1/realtime?model=first", closesAfterReceiving: script.serverSteps.count)
            let second = scenario.client(script, path: "/v1/realtime?model=second", closesAfterReceiving: script.serverSteps.count)
            async let firstOutcome = first.run()
            async let secondOutcome = second.run()
            let outcomes = await [firstOutcome, secondOutcome]
            #expect(outcomes.allSatisfy { $0.error == nil })
            let connections = scenario.upstream.connections
            #expect(connections.count == 2)
            // No cross-talk: each client's upstream connection got exactly that client's frames, and the reverse.
            for (client, model) in [(first, "first"), (second, "second")] {
                let connection = try #require(connections.first { $0.query == "model=\(model)" })
                #expect(client.received == connection.sent)
                #expect(await eventually(within: 20) { connection.received.count == client.sent.count })
                #expect(connection.received == client.sent)
            }
            let expected = try await RelaySessions.expectedAssistant("ga-basic")
            for number in [1, 2] {
                let (file, _) = try await scenario.finishedRecording(connection: number, extension: "wav")
                #expect(try await readWAVWithPython(file.path).samples == expected)
            }
        }
    }
}
