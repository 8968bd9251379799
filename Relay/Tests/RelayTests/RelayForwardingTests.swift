// SPEC §9: a client points its base URL at the relay and changes nothing else: path, query, the headers the
// upstream needs, every frame both ways unchanged and in order; secrets never reach stderr or disk.
import Foundation
import HummingbirdWSClient
import Logging
import NIOWebSocket
import Synchronization
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
            #expect(await eventually(within: 20) { connection.received.count >= client.sent.count && connection.inboundEnded },
                    "the upstream got \(connection.received.count) of \(client.sent.count); the relay said \(scenario.relay.standardErrorLines)")
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
            expectClean(await client.run(), relay: scenario.relay)
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
            expectClean(await client.run(), relay: scenario.relay)
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
            expectClean(await accepted.run(), relay: scenario.relay)
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
        // The upstream's body (its JSON error) and content type come along.
        #expect(answer.body == "{}")
        let head = try await upgradeResponseHead(port: relay.port, upgradeRequestHead("/v1/realtime?model=m"))
        #expect(head.status == status)
        #expect(head.headers.filter { $0.name == "content-type" }.map(\.value) == ["application/json"])
        #expect(relay.process.isRunning)
    }

    @Test func anUpstreamThatNeverAnswersTheUpgradeFailsTheClientAsABadGateway() async throws {
        let upstream = try RefusingUpstream(status: nil)
        defer { upstream.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder)
        defer { relay.stop() }
        let started = ContinuousClock.now
        let answer = try await httpRequest(port: relay.port, upgradeRequestHead("/v1/realtime?model=m"))
        #expect(answer.status == 502)
        // Not a timing assertion on speed: the client must not be held for good (the relay gives up after 10 s).
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(relay.process.isRunning)
        // Said as what happened, not as NIO's "Inappropriate operation for state" of the connection it closed.
        let line = await relay.waitForLine(within: 10) { $0.contains("did not accept the connection") }
        #expect(line?.contains("(it did not answer the upgrade request within 10.0 s)") == true, "\(relay.standardErrorLines)")
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
        // Said in words with its errno (ECONNREFUSED is 111 on Linux, and strerror's words for it), not as SwiftNIO's
        // structures (issue 26).
        let line = await relay.waitForLine { $0.contains("did not accept the connection") } ?? "no line"
        #expect(line.contains("cannot connect to 127.0.0.1:\(deadPort): Connection refused, errno 111"), "\(line)")
        #expect(!line.contains("SingleConnectionFailure") && !line.contains("NIOConnectionError"), "\(line)")
    }

    /// An upstream in Python's standard library that accepts one WebSocket connection, reads frames until the close
    /// frame, prints its code and reason and answers with a close frame of its own (4002, "upstream answer"), so that
    /// a client can tell the upstream's answer from one the relay made up: Hummingbird's server never shows a handler
    /// the close frame it got.
    static let closeRecordingUpstream = #"""
    import base64, hashlib, socket, struct, sys
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
    print(server.getsockname()[1], flush=True)
    connection, _ = server.accept(); connection.settimeout(60)
    head = b""
    while b"\r\n\r\n" not in head: head += connection.recv(1)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    def exactly(n):
        data = b""
        while len(data) < n:
            part = connection.recv(n - len(data))
            if not part: raise SystemExit("connection dropped")
            data += part
        return data
    while True:
        first, second = exactly(2)
        length = second & 127
        if length == 126: length = struct.unpack(">H", exactly(2))[0]
        elif length == 127: length = struct.unpack(">Q", exactly(8))[0]
        mask = exactly(4) if second & 128 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(length)))
        if first & 15 == 8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            print("close", code, payload[2:].decode(), flush=True)
            answer = struct.pack(">H", 4002) + b"upstream answer"
            connection.sendall(bytes([0x88, len(answer)]) + answer)
            break
    connection.close()
    """#

    @Test func theClientsCloseCodeAndReasonReachTheUpstream() async throws {
        let printed = try await Self.closeSeenByUpstream { port in
            let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
            defer { try? FileManager.default.removeItem(at: folder) }
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder)
            defer { relay.stop() }
            try await Self.connectAndClose(url: relay.webSocketBase + "/v1/realtime", code: 4000, reason: "client done")
            // The relay ends a connection's recording once the upstream's connection has closed.
            _ = await relay.waitForLine(within: 30) { $0.contains("nothing recorded") || $0.contains(" s of audio") }
        }
        #expect(printed.contains("close 4000 client done"), "the upstream saw: \(printed)")
    }

    @Test func theCloseHandshakeCompletesEndToEnd() async throws {
        // The client's close reaches the upstream, and the upstream's answer (not one the relay made up) the client.
        let answer = Mutex<(code: UInt16, reason: String)?>(nil)
        let printed = try await Self.closeSeenByUpstream { port in
            let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
            defer { try? FileManager.default.removeItem(at: folder) }
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder)
            defer { relay.stop() }
            let received = try await Self.connectAndClose(url: relay.webSocketBase + "/v1/realtime", code: 4000, reason: "client done")
            answer.withLock { $0 = received }
            _ = await relay.waitForLine(within: 30) { $0.contains("nothing recorded") || $0.contains(" s of audio") }
        }
        #expect(printed.contains("close 4000 client done"), "the upstream saw: \(printed)")
        let got = answer.withLock { $0 }
        #expect(got?.code == 4002, "the client got \(String(describing: got))")
        #expect(got?.reason == "upstream answer")
    }

    /// The upstream chooses among the subprotocols the client offered; the client must be answered with that choice.
    @Test(arguments: [(0, "realtime"), (1, "openai-beta.realtime-v1"), (nil, nil)] as [(Int?, String?)])
    func theClientIsAnsweredWithTheSubprotocolTheUpstreamChose(choice: Int?, expected: String?) async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        var behaviour = FakeUpstream.Behaviour(script: script)
        behaviour.subprotocolChoice = choice
        try await withRelay(upstream: behaviour) { scenario in
            let answer = try await upgradeResponseHead(
                port: scenario.relay.port,
                upgradeRequestHead("/v1/realtime?model=m") + "\r\nSec-WebSocket-Protocol: realtime, openai-beta.realtime-v1")
            #expect(answer.status == 101)
            #expect(answer.headers.filter { $0.name == "sec-websocket-protocol" }.map(\.value) == (expected.map { [$0] } ?? []))
        }
    }

    /// Runs the close-recording upstream around `body` (given its port); returns the lines it printed after it.
    static func closeSeenByUpstream(_ body: (Int) async throws -> Void) async throws -> [String] {
        let upstream = try await PythonEnd(closeRecordingUpstream)
        defer { upstream.stop() }
        try await body(upstream.port)
        return try await upstream.remainingLines()
    }

    /// Connects with WSClient, sends one message and closes with `code` and `reason`; returns the close frame that
    /// answered it, if one did.
    @discardableResult
    static func connectAndClose(url: String, code: UInt16, reason: String) async throws -> (code: UInt16, reason: String)? {
        var logger = Logger(label: "relay-test-client")
        logger.logLevel = .critical
        let answer = try await withTimeout(seconds: 60) { [logger] in
            try await WebSocketClient.connect(url: url, logger: logger) { _, outbound, _ in
                try await outbound.write(.text(#"{"type":"input_audio_buffer.clear"}"#))
                try await outbound.close(.unknown(code), reason: reason)
            }
        }
        return answer.map { (RelayTests.code(of: $0.closeCode), $0.reason ?? "") }
    }
}
