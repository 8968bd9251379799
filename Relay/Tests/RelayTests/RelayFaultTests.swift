// Issue 16's faults: the upstream closes with an error, the client vanishes, the relay is killed (SIGKILL) or
// asked to stop (SIGTERM), a recording's sink stalls. Each leaves valid recordings; forwarding never waits.
@_spi(Blocks) import DeltaTape
import Foundation
import Testing
import TestSupport

@Suite("Relay: faults")
struct RelayFaultTests {
    @Test(arguments: [(UInt16(1011), "upstream failed"), (UInt16(4001), "quota exceeded")])
    func anUpstreamErrorCloseReachesTheClientWithItsCodeAndReason(code: UInt16, reason: String) async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        // Close in the middle of the first response's audio.
        let firstAudio = try #require(script.serverSteps.firstIndex { $0.audioSeconds > 0 })
        let closeAfter = firstAudio + 10
        try await withRelay(upstream: .init(script: script, ending: .close(code: code, reason: reason, afterServerMessages: closeAfter)),
                            arguments: ["--format", "wav", "--track", "both"]) { scenario in
            let client = scenario.client(script)
            let outcome = await client.run()
            #expect(outcome.error == nil)
            #expect(outcome.closeCode == code)
            #expect(outcome.closeReason == reason)
            #expect(client.received == script.serverSteps.prefix(closeAfter).map(\.frame))
            let (file, _) = try await scenario.finishedRecording(extension: "wav")
            let wav = try await readWAVWithPython(file.path)
            #expect(wav.frameCount > 0)
        }
    }

    @Test func aClientThatVanishesMidSessionLeavesAValidRecordingAndASummaryLine() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let firstAudio = try #require(script.serverSteps.firstIndex { $0.audioSeconds > 0 })
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--track", "both"]) { scenario in
            let client = try VanishingClient(port: scenario.relay.port, pathAndQuery: "/v1/realtime?model=gpt-realtime")
            var pacer = Pacer(pace: RelayTestEnvironment.pace)
            // The user's first turn, then wait until the upstream has sent some of its answer's audio.
            let userTurn = script.serverSteps[firstAudio].clientMessagesBefore
            for step in script.clientSteps.prefix(userTurn) {
                try await pacer.waitForTurn(of: step)
                guard case .text(let text) = step.frame else { continue }
                try client.sendText(text)
            }
            let connection = try #require(await eventually(within: 30) { scenario.upstream.connections.first != nil }
                                          ? scenario.upstream.connections.first : nil)
            #expect(await eventually(within: 30) { connection.sent.count >= firstAudio + 8 })
            client.vanish()
            let (file, summary) = try await scenario.finishedRecording(extension: "wav")
            #expect(summary.contains(file.lastPathComponent))
            let wav = try await readWAVWithPython(file.path)
            #expect(wav.channelCount == 2)
            #expect(wav.frameCount > 0)
            _ = try await decodeWithFFmpeg(file.path)
            // The relay closed the upstream connection too.
            #expect(await eventually(within: 30) { connection.inboundEnded })
        }
    }

    @Test(arguments: ["wav", "ogg", "webm"])
    func aRelayKilledMidSessionLeavesRecordingsValidUpToTheLastFlush(format: String) async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script), arguments: ["--format", format, "--track", "both", "--save-log"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // Kill once a third of the session has gone through and the recording has bytes on disk.
            let third = script.serverSteps.count / 3
            #expect(await eventually(within: 120) { client.receivedCount >= third })
            #expect(try await eventually(within: 60) {
                let file = try scenario.recordings(extension: format).first
                return try file.map { try (FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int ?? 0) > 20_000 } ?? false
            })
            scenario.relay.signal(SIGKILL)
            let exit = await scenario.relay.waitForExit(within: 30)
            #expect(exit?.signalled == true)
            let outcome = await running.value
            #expect(outcome.closeCode != 1000, "a killed relay cannot have closed the client's connection normally")
            let file = try #require(try scenario.recordings(extension: format).first)
            switch format {
            case "wav":
                _ = try WAVRepair.repair(path: file.path)
                let wav = try await readWAVWithPython(file.path)
                #expect(wav.channelCount == 2)
                #expect(wav.frameCount > 0)
            default:
                // Readable as it is, up to its last page or cluster.
                let decoded = try await decodeWithFFmpeg(file.path, requireClean: false)
                #expect(decoded.count > 0)
            }
            // The saved log, too, holds whole lines up to where it stopped, and converts.
            let log = try #require(try scenario.recordings(extension: "jsonl").first)
            let converted = scenario.outputDirectory.appendingPathComponent("from-log.wav").path
            var options = ConversionOptions()
            options.track = .both
            let summary = try await SessionConverter.convert(input: log.path, to: .file(converted), options: options, problem: { _ in })
            #expect(summary.frameCount > 0)
        }
    }

    @Test(arguments: ["wav", "ogg", "webm"])
    func sigtermLetsOpenSessionsGoOnThenFinalizesTheirRecordingsAndExitsZero(format: String) async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script), arguments: ["--format", format, "--track", "both", "--grace-period", "3"]) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let running = Task { await client.run() }
            // The upstream sets the pace: signal once it has sent a quarter of the session (about 9 s remain).
            let quarter = script.serverSteps.count / 4
            #expect(await eventually(within: 120) { (scenario.upstream.connections.first?.sent.count ?? 0) >= quarter })
            let connection = try #require(scenario.upstream.connections.first)
            let upstreamReceivedBefore = connection.received.count, upstreamSentBefore = connection.sent.count
            scenario.relay.signal(SIGTERM)
            // The open session goes on for the grace period: the relay keeps carrying frames between the client and the
            // upstream. Counted at the upstream, in either direction: under a parallel test run the test's WSClient was
            // seen to stop reading and writing for seconds while its socket held 125 KB of the relay's frames unread
            // (`ss`), which holds the upstream's answers back in turn; a relay that closed its sessions at once would
            // stop both.
            let flowed = await eventually(within: 3) {
                connection.received.count > upstreamReceivedBefore + 2 || connection.sent.count > upstreamSentBefore + 2
            }
            let sockets = flowed ? "" : String(decoding: (try? await runProcess("ss", ["-tn", "sport = :\(scenario.relay.port) or dport = :\(scenario.relay.port)"]).standardOutput) ?? Data(), as: UTF8.self)
            #expect(flowed, """
                    at SIGTERM the upstream had received \(upstreamReceivedBefore) and sent \(upstreamSentBefore); 3 s later \
                    \(connection.received.count) and \(connection.sent.count); relay: \(scenario.relay.standardErrorLines); sockets: \(sockets)
                    """)
            // New connections are no longer accepted.
            let late = await RealtimeClient(.init(url: scenario.relay.webSocketBase + "/v1/realtime", script: script.prefix(serverMessages: 1),
                                                  closesAfterReceiving: 1, timeoutSeconds: 20)).run()
            #expect(late.error != nil, "a connection after SIGTERM was accepted: \(late)")
            #expect(scenario.upstream.connections.count == 1)
            let exit = await scenario.relay.waitForExit(within: 60)
            #expect(exit?.signalled == false)
            #expect(exit?.status == 0)
            let outcome = await running.value
            #expect(outcome.error == nil, "the relay closes the client's connection with a close frame")
            // The session (three quarters of 12 s left at 10x) outlasted the 3 s grace: the relay ended it, so the
            // upstream, which paces its sending, never got to send all of it.
            #expect(await eventually(within: 20) { connection.handlerEnded })
            #expect(connection.sent.count < script.serverSteps.count, "the relay ended the session after the grace period")
            let (file, _) = try await scenario.finishedRecording(extension: format, within: 10)
            switch format {
            case "wav":
                // Finalized: Python's wave reads the header's sizes, which must match the file (no repair needed).
                let wav = try await readWAVWithPython(file.path)
                #expect(wav.frameCount > 0)
                let report = try WAVRepair.repair(path: file.path, dryRun: true)
                #expect(!report.neededRepair, "\(report.findings)")
                #expect(report.frameCount == wav.frameCount)
            default:
                let decoded = try await decodeWithFFmpeg(file.path)
                #expect(decoded.count > 0)
            }
        }
    }

    @Test func aStalledRecordingIsAbandonedAndSaysSoWhileFramesKeepFlowing() async throws {
        // The microphone session: its continuous input clock lets the recorder write (and so open its stuck file)
        // once the first answer has played, well before the session ends; what follows is far more than 64 KiB.
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        let fifos = StalledRecordingFIFOs()
        try await withRelay(upstream: .init(script: script), arguments: ["--format", "wav", "--track", "both", "--recording-buffer", "65536"],
                            environment: fifos.environment(in:), prepareOutput: fifos.create(in:)) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let outcome = await client.run()
            #expect(outcome.error == nil)
            let connection = try #require(scenario.upstream.connections.first)
            #expect(client.received == connection.sent)
            #expect(client.received.count == script.serverSteps.count)
            #expect(await eventually(within: 20) { connection.received.count == client.sent.count })
            #expect(connection.received == client.sent)
            // The session's messages are far more than the 64 KiB buffer, so the stall must have been noticed.
            let abandoned = await scenario.relay.waitForLine(within: 20) { $0.contains("abandoned") }
            #expect(abandoned != nil, "stderr: \(scenario.relay.standardErrorLines); the folder: \((try? files(in: scenario.outputDirectory)) ?? [])")
            // Forwarding did not wait for the stalled recording. Decisive without any clock: the FIFO is drained only
            // below, after the client got everything, so a relay whose forwarding waited for its recording would
            // never have delivered the session. And at pace: the time from the upstream sending a message to the
            // client receiving it did not grow over the session while the recording was stuck for good (a relay that
            // waited a little for the recording on every message would fall further behind with each one): the
            // least lag of the last tenth of the messages is within 5 s of the least lag of the first tenth. The lag
            // itself is not bounded: in a parallel run of this suite on a 2-core machine, the test's own client
            // was measured lagging 4 to 25 s behind its fake upstream with no relay between them.
            let delays = zip(connection.sentTimes, client.receivedTimes).map { ($1 - $0) / .milliseconds(1) }
            #expect(delays.count == script.serverSteps.count)
            let tenth = max(1, delays.count / 10)
            let early = delays.prefix(tenth).min() ?? 0, late = delays.suffix(tenth).min() ?? 0
            #expect(late - early < 5_000, "the least lag grew from \(Int(early)) ms to \(Int(late)) ms over the session")
            // Unstick the recorder: it finalizes what it took before it was abandoned, says so, and the bytes it
            // wrote are a WAV file that ffmpeg reads.
            let drained = await fifos.drain(in: scenario.outputDirectory)
            let (name, bytes) = try #require(drained.first)
            let summary = await scenario.relay.waitForSummary(of: name, within: 30)
            #expect(summary?.contains("abandoned") == true, "\(String(describing: summary))")
            let copy = scenario.outputDirectory.appendingPathComponent("drained.wav")
            try bytes.write(to: copy)
            #expect(try await decodeWithFFmpeg(copy.path, requireClean: false).count > 0)
        }
    }
}
