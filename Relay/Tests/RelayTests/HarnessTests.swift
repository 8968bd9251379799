// The test machinery checked on its own, with the client talking straight to the fake upstream: if these fail,
// the relay's tests say nothing about the relay.
import Foundation
import Testing

@Suite("The fake upstream and the client, without the relay")
struct HarnessTests {
    @Test func theClientAndTheFakeUpstreamExchangeEveryScriptedFrameInOrder() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).withUnusualFrames()
        let upstream = FakeUpstream(.init(script: script))
        try await upstream.run { port in
            let client = RealtimeClient(.init(url: "ws://127.0.0.1:\(port)/v1/realtime?model=m", script: script,
                                              closesAfterReceiving: script.serverSteps.count))
            let outcome = await client.run()
            #expect(outcome.error == nil)
            let connection = try #require(upstream.connections.first)
            #expect(connection.path == "/v1/realtime")
            #expect(connection.query == "model=m")
            #expect(client.sent == script.clientSteps.map(\.frame))
            #expect(connection.sent == script.serverSteps.map(\.frame))
            #expect(client.received == connection.sent)
            #expect(await eventually(within: 10) { connection.received.count == client.sent.count })
            #expect(connection.received == client.sent)
        }
    }

    @Test func theFakeUpstreamRefusesAnUpgradeWithoutAuthorization() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let upstream = FakeUpstream(.init(script: script, refusesWithoutAuthorization: true))
        try await upstream.run { port in
            let refused = await RealtimeClient(.init(url: "ws://127.0.0.1:\(port)/v1/realtime", script: script)).run()
            #expect(refused.error != nil)
            #expect(upstream.refusals == 1)
            #expect(upstream.connections.isEmpty)
        }
    }

    @Test func theRefusingUpstreamAnswersWithItsStatus() async throws {
        let upstream = try RefusingUpstream(status: 403, reason: "Forbidden")
        defer { upstream.stop() }
        let answer = try await httpGet(port: upstream.port, path: "/v1/realtime")
        #expect(answer.status == 403)
        #expect(upstream.requestHeads.first?.hasPrefix("GET /v1/realtime HTTP/1.1") == true)
    }

    @Test func theCloseRecordingUpstreamSeesTheClientsCloseCode() async throws {
        let printed = try await RelayForwardingTests.closeSeenByUpstream { port in
            try await RelayForwardingTests.connectAndClose(url: "ws://127.0.0.1:\(port)/v1/realtime", code: 4000, reason: "client done")
        }
        #expect(printed.contains("close 4000 client done"))
    }

    @Test func theFakeUpstreamClosesWithTheChosenCodeAndReason() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let upstream = FakeUpstream(.init(script: script, ending: .close(code: 4001, reason: "quota exceeded", afterServerMessages: 5)))
        try await upstream.run { port in
            let client = RealtimeClient(.init(url: "ws://127.0.0.1:\(port)/v1/realtime", script: script))
            let outcome = await client.run()
            #expect(outcome.closeCode == 4001)
            #expect(outcome.closeReason == "quota exceeded")
            #expect(client.received == Array(script.serverSteps.prefix(5).map(\.frame)))
        }
    }

    @Test func theFakeUpstreamPacesAudioByItsDuration() async throws {
        // The only timing claim of the harness: the upstream must not send a session's audio faster than its
        // duration divided by the pace (it may be slower on a busy machine, so only the lower bound is checked).
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let pace = 20.0
        let upstream = FakeUpstream(.init(script: script, pace: pace))
        try await upstream.run { port in
            let client = RealtimeClient(.init(url: "ws://127.0.0.1:\(port)/v1/realtime", script: script, pace: pace,
                                              closesAfterReceiving: script.serverSteps.count))
            let started = ContinuousClock.now
            _ = await client.run()
            let elapsed = ContinuousClock.now - started
            let assistantSeconds = script.serverSteps.map(\.audioSeconds).reduce(0, +)
            let lastAudio = script.serverSteps.last { $0.audioSeconds > 0 }?.audioSeconds ?? 0
            #expect(elapsed >= .seconds((assistantSeconds - lastAudio) / pace))
        }
    }
}
