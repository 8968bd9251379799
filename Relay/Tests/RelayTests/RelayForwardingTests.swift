// SPEC §9: a client points its base URL at the relay and changes nothing else: path, query, the headers the
// upstream needs, every frame both ways unchanged and in order; secrets never reach stderr or disk.
import Foundation
import Testing

@Suite("Relay: forwarding")
struct RelayForwardingTests {
    @Test func everyFrameEachSideSentReachesTheOtherSideUnchangedAndInOrder() async throws {
        // Text and binary frames, a 100 KB text frame, non-ASCII text and an empty binary frame, both ways.
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).withUnusualFrames()
        try await withRelay(upstream: .init(script: script)) { scenario in
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let outcome = await client.run()
            #expect(outcome.error == nil)
            let connection = try #require(scenario.upstream.connections.first)
            #expect(scenario.upstream.connections.count == 1)
            // What each side sent is what its script says (the harness), and the other side got exactly that.
            #expect(client.sent == script.clientSteps.map(\.frame))
            #expect(connection.sent == script.serverSteps.map(\.frame))
            #expect(client.received.count == connection.sent.count)
            #expect(client.received == connection.sent)
            #expect(await eventually(within: 20) { connection.received.count >= client.sent.count && connection.inboundEnded })
            #expect(connection.received.count == client.sent.count)
            #expect(connection.received == client.sent)
        }
    }

    @Test func theUpstreamGetsTheClientsPathQueryAndRealtimeHeaders() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 3)
        try await withRelay(upstream: .init(script: script)) { scenario in
            let headers = [("Authorization", "Bearer sk-test-456"), ("OpenAI-Beta", "realtime=v1"), ("api-key", "azure-key-789"),
                           ("Sec-WebSocket-Protocol", "realtime, openai-beta.realtime-v1")]
            let client = scenario.client(script, path: "/v1/realtime?model=gpt-realtime&intent=transcription",
                                         headers: headers, closesAfterReceiving: script.serverSteps.count)
            let outcome = await client.run()
            #expect(outcome.error == nil)
            let connection = try #require(scenario.upstream.connections.first)
            #expect(connection.path == "/v1/realtime")
            #expect(connection.query == "model=gpt-realtime&intent=transcription")
            #expect(connection.header("authorization") == ["Bearer sk-test-456"])
            #expect(connection.header("openai-beta") == ["realtime=v1"])
            #expect(connection.header("api-key") == ["azure-key-789"])
            // The subprotocols may arrive as one header or several; their list must be the client's.
            let protocols = connection.header("sec-websocket-protocol")
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            #expect(protocols == ["realtime", "openai-beta.realtime-v1"])
        }
    }

    @Test func aGeminiStylePathWithAKeyInTheQueryReachesTheUpstream() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 2)
        try await withRelay(upstream: .init(script: script)) { scenario in
            let path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=gemini-key-1"
            let client = scenario.client(script, path: path, closesAfterReceiving: script.serverSteps.count)
            #expect(await client.run().error == nil)
            let connection = try #require(scenario.upstream.connections.first)
            #expect(connection.path == "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent")
            #expect(connection.query == "key=gemini-key-1")
        }
    }

    @Test func secretsInHeadersAndQueryAppearNowhereInStderrOrTheOutputFolder() async throws {
        let secrets = ["SECRET123", "SECRET456", "SECRET789", "SECRET000"]
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--save-log", "--format", "wav"]) { scenario in
            let headers = [("Authorization", "Bearer SECRET456"), ("OpenAI-Beta", "realtime=v1"), ("api-key", "SECRET789"),
                           ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.SECRET000")]
            let client = scenario.client(script, path: "/v1/realtime?model=gpt-realtime&key=SECRET123", headers: headers,
                                         closesAfterReceiving: script.serverSteps.count)
            #expect(await client.run().error == nil)
            // The secrets did travel (otherwise their absence proves nothing).
            let connection = try #require(scenario.upstream.connections.first)
            #expect(connection.query?.contains("SECRET123") == true)
            #expect(connection.header("authorization") == ["Bearer SECRET456"])
            _ = try scenario.savedLog(of: try await scenario.finishedRecording(extension: "wav").file)
            let stderr = scenario.relay.standardErrorLines.joined(separator: "\n")
            for secret in secrets {
                #expect(!stderr.contains(secret), "stderr holds \(secret)")
            }
            let enumerator = FileManager.default.enumerator(atPath: scenario.outputDirectory.path)
            var checked = 0
            while let name = enumerator?.nextObject() as? String {
                let data = try Data(contentsOf: scenario.outputDirectory.appendingPathComponent(name))
                checked += 1
                for secret in secrets {
                    #expect(!contains(data, secret), "\(name) holds \(secret)")
                }
            }
            #expect(checked >= 2)
        }
    }

    @Test func anUpstreamRefusalFailsTheClientAndTheRelayServesTheNextConnection() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 3)
        try await withRelay(upstream: .init(script: script, refusesWithoutAuthorization: true)) { scenario in
            let refused = await scenario.client(script).run()
            #expect(refused.error != nil || refused.closeCode != 1000, "a refused upstream must not look like a normal session")
            #expect(scenario.upstream.refusals == 1)
            #expect(scenario.upstream.connections.isEmpty)
            let accepted = scenario.client(script, headers: [("Authorization", "Bearer ok")], closesAfterReceiving: script.serverSteps.count)
            #expect(await accepted.run().error == nil)
            #expect(accepted.received == script.serverSteps.map(\.frame))
        }
    }

    @Test(arguments: [(401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found")])
    func anUpstreamRefusalReachesTheClientAsTheSameHTTPStatus(status: Int, reason: String) async throws {
        let upstream = try RefusingUpstream(status: status, reason: reason)
        defer { upstream.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder)
        defer { relay.stop() }
        let answer = try await httpRequest(port: relay.port, upgradeRequestHead("/v1/realtime?model=m"))
        #expect(upstream.requestHeads.count == 1)
        #expect(upstream.requestHeads.first?.hasPrefix("GET /v1/realtime?model=m HTTP/1.1") == true)
        #expect(answer.status == status)
        #expect(relay.process.isRunning)
    }

    @Test func anUnreachableUpstreamFailsTheClientAndTheRelayKeepsServing() async throws {
        // A port nothing listens on: bound, then closed.
        let refusing = try RefusingUpstream(status: 500, reason: "unused")
        let deadPort = refusing.port
        refusing.stop()
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(deadPort)", outputDirectory: folder)
        defer { relay.stop() }
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 2)
        let outcome = await RealtimeClient(.init(url: relay.webSocketBase + "/v1/realtime", script: script, timeoutSeconds: 30)).run()
        #expect(outcome.error != nil || outcome.closeCode != 1000)
        #expect(relay.process.isRunning)
        #expect(try await httpGet(port: relay.port, path: "/healthz").status == 200)
    }
}
