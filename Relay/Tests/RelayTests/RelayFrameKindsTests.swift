// SPEC §9: every frame forwarded unchanged, whatever its kind: fragments of a message, ping and pong, close frames with
// their code and reason. Both ends are raw sockets in Python's standard library, so that each frame on the wire shows
// (WSClient and Hummingbird's server join fragments and answer pings and closes themselves).
import DeltaTape
import Foundation
import Testing

@Suite("Relay: frame kinds")
struct RelayFrameKindsTests {
    /// Prints the upstream's port, reads the relay's from stdin, then opens one connection through the relay, playing
    /// both ends: `client` and `upstream` are their sockets; `frame` makes a frame, `read` prints the next one an end got
    /// (`client|upstream OPCODE FIN MASKED PAYLOAD`).
    static let bothEnds = #"""
    import base64, os, socket, struct, sys
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
    print(server.getsockname()[1], flush=True)
    relay_port = int(sys.stdin.readline())
    def head(sock):
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(1)
            if not part: raise SystemExit("no head")
            data += part
        return data
    def exactly(sock, n):
        data = b""
        while len(data) < n:
            part = sock.recv(n - len(data))
            if not part: raise EOFError
            data += part
        return data
    def frame(opcode, payload, fin=True, mask=False):
        first = (0x80 if fin else 0) | opcode
        key = os.urandom(4) if mask else b""
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if mask else payload
        length = len(payload)
        size = bytes([length]) if length < 126 else bytes([126]) + struct.pack(">H", length) if length < 65536 else bytes([127]) + struct.pack(">Q", length)
        return bytes([first, (0x80 if mask else 0) | size[0]]) + size[1:] + key + masked
    def read(sock, name):
        first, second = exactly(sock, 2)
        length = second & 127
        key = exactly(sock, 4) if second & 128 else b"\0\0\0\0"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(exactly(sock, length)))
        print(name, first & 15, "fin" if first & 128 else "more", "masked" if second & 128 else "plain", payload.hex(), flush=True)
        return first & 15
    client = socket.create_connection(("127.0.0.1", relay_port)); client.settimeout(30)
    client.sendall(b"GET /v1/realtime HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    upstream, _ = server.accept(); upstream.settimeout(30)
    request = head(upstream)
    key = [l.split(b":", 1)[1].strip() for l in request.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    import hashlib
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    upstream.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    print("client answer", head(client).split(b"\r\n")[0].decode(), flush=True)
    """#

    /// Fragments, ping and pong each way, then the client's close and the upstream's answer.
    static let everyKind = bothEnds + "\n" + #"""
    # The upstream: a text message in three fragments, then a ping.
    upstream.sendall(frame(1, b"hel", fin=False) + frame(0, b"lo ", fin=False) + frame(0, b"world") + frame(9, b"u-ping"))
    for _ in range(4): read(client, "client")
    # The client: a binary message in two fragments, a ping and a pong.
    client.sendall(frame(2, b"\x01\x02", fin=False, mask=True) + frame(0, b"\x03", mask=True)
                   + frame(9, b"c-ping", mask=True) + frame(10, b"c-pong", mask=True))
    for _ in range(4): read(upstream, "upstream")
    # The client closes; the upstream answers with a close of its own.
    client.sendall(frame(8, struct.pack(">H", 4000) + b"bye", mask=True))
    read(upstream, "upstream")
    upstream.sendall(frame(8, struct.pack(">H", 4002) + b"ok"))
    read(client, "client")
    try:
        print("client eof" if client.recv(1) == b"" else "client more", flush=True)
    except socket.timeout:
        print("client still open", flush=True)
    upstream.close()
    """#

    /// The upstream sends 100 MB while the client reads nothing, for as long as its writes go through within 5 s.
    static let unreadClient = bothEnds + "\n" + #"""
    upstream.settimeout(5)
    big = frame(2, bytes(1 << 20))
    sent = 0
    try:
        while sent < 100 << 20:
            upstream.sendall(big)
            sent += len(big)
    except socket.timeout:
        pass
    print("upstream sent", sent, flush=True)
    """#

    /// The upstream sends 1 500 messages of 64 KiB (text deltas: parsed, nothing to write) as fast as the client reads
    /// them; the client only counts them.
    static let manyLargeMessages = bothEnds + "\n" + #"""
    def skip(sock):
        first, second = exactly(sock, 2)
        length = second & 127
        if length == 126: length = struct.unpack(">H", exactly(sock, 2))[0]
        elif length == 127: length = struct.unpack(">Q", exactly(sock, 8))[0]
        exactly(sock, length)
    message = b'{"type":"response.output_text.delta","response_id":"r1","item_id":"i1","delta":"' + b"x" * 65536 + b'"}'
    import threading
    sender = threading.Thread(target=lambda: [upstream.sendall(frame(1, message)) for _ in range(1500)])
    sender.start()
    for _ in range(1500): skip(client)
    sender.join()
    print("client read 1500", flush=True)
    """#

    @Test func fragmentsPingPongAndCloseFramesCrossUnchangedEachWay() async throws {
        let (lines, relayLines, _) = try await Self.run(Self.everyKind)
        func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
        #expect(lines == [
            "client answer HTTP/1.1 101 Switching Protocols",
            // Fragments as they were, a server's frames unmasked.
            "client 1 more plain \(hex("hel"))",
            "client 0 more plain \(hex("lo "))",
            "client 0 fin plain \(hex("world"))",
            "client 9 fin plain \(hex("u-ping"))",
            // A client's frames masked, as the upstream must get them.
            "upstream 2 more masked 0102",
            "upstream 0 fin masked 03",
            "upstream 9 fin masked \(hex("c-ping"))",
            "upstream 10 fin masked \(hex("c-pong"))",
            // The client's close reaches the upstream, and the upstream's answer the client; then the relay closes.
            "upstream 8 fin masked 0fa0\(hex("bye"))",
            "client 8 fin plain 0fa2\(hex("ok"))",
            "client eof",
        ], "relay: \(relayLines)")
    }

    @Test func aClientThatReadsNothingHoldsTheUpstreamBackInsteadOfFillingTheRelaysMemory() async throws {
        // The relay stops reading the upstream while the client's connection cannot take more, so what the upstream
        // gets through is bounded by the sockets' buffers (a few MB on loopback), not the 100 MB it tries to send.
        let (lines, relayLines, _) = try await Self.run(Self.unreadClient)
        let sent = try #require(lines.last.flatMap { $0.hasPrefix("upstream sent ") ? Int($0.dropFirst(14)) : nil }, "\(lines)")
        #expect(sent < 40 << 20, "the upstream got \(sent) bytes through to a client that read nothing; relay: \(relayLines)")
    }

    /// Messages already recorded are let go: 96 MB of 64-KiB messages through the relay raise its peak memory by far
    /// less than the 1 024 messages its recorder's queue once kept after recording them (until it compacted itself),
    /// each in an array as large as the largest message before it.
    @Test func messagesAlreadyRecordedAreNotKeptInMemory() async throws {
        let (lines, relayLines, peakGrowth) = try await Self.run(Self.manyLargeMessages)
        #expect(lines.last == "client read 1500", "\(lines); relay: \(relayLines)")
        #expect(peakGrowth < 32 << 20, "the relay's peak resident memory grew \(peakGrowth >> 20) MiB; relay: \(relayLines)")
    }

    /// The upstream answers in text frames and in a binary one holding JSON (as Gemini Live sends); the client sends a
    /// binary frame that is no JSON (bytes a JSON string cannot hold) and one of JSON; then the client closes.
    static let binaryFrames = bothEnds + "\n" + #"""
    delta = b'{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","output_index":0,"content_index":0,"delta":"' + base64.b64encode(bytes(9600)) + b'"}'
    upstream.sendall(frame(1, b'{"type":"session.created","session":{"id":"s1"}}') + frame(1, delta)
                     + frame(2, b'{"type":"response.output_audio.done","response_id":"r1","item_id":"i1"}'))
    for _ in range(3): read(client, "client")
    client.sendall(frame(2, b"\x00\xff\xfe\x80 not json\n", mask=True) + frame(2, b'{"type":"input_audio_buffer.commit"}', mask=True))
    for _ in range(2): read(upstream, "upstream")
    client.sendall(frame(8, struct.pack(">H", 1000), mask=True))
    read(upstream, "upstream")
    upstream.sendall(frame(8, struct.pack(">H", 1000)))
    read(client, "client")
    upstream.close()
    """#

    /// The saved log keeps every message as it came (SPEC §9, issue 27 item 8): a binary frame's line says so, one
    /// that is JSON keeps its object, and one that is not keeps its bytes exactly, in base64 (it was written as a JSON
    /// string with U+FFFD in place of its bytes); Python's json and base64 read them back. The log converts again to
    /// the recording's samples.
    @Test func theSavedLogKeepsBinaryFramesExactly() async throws {
        let both = try await PythonEnd(Self.binaryFrames)
        defer { both.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(both.port)", outputDirectory: folder, arguments: ["--save-log"])
        defer { relay.stop() }
        both.send("\(relay.port)")
        _ = try await both.remainingLines()
        let scenario = RelayScenario(relay: relay, upstream: FakeUpstream(.init(script: SessionScript(clientSteps: [], serverSteps: []))),
                                     outputDirectory: folder)
        let (recording, _) = try await scenario.finishedRecording(extension: "wav")
        let log = try scenario.savedLog(of: recording)
        let described = String(decoding: try await python(#"""
        import base64, json, sys
        for line in open(sys.argv[1], "rb"):
            entry = json.loads(line)
            if "event_base64" in entry:
                print(entry["source"], entry.get("frame", "text"), "bytes", base64.b64decode(entry["event_base64"], validate=True).hex())
            else:
                print(entry["source"], entry.get("frame", "text"), "event", entry["event"]["type"])
        """#, [log.path]), as: UTF8.self).trimmingCharacters(in: .newlines)
        let notJSON: [UInt8] = [0x00, 0xFF, 0xFE, 0x80] + Array(" not json\n".utf8)
        let notJSONHex = notJSON.map { String(format: "%02x", $0) }.joined()
        let expected = ["server text event session.created", "server text event response.output_audio.delta",
                        "server binary event response.output_audio.done", "client binary bytes \(notJSONHex)",
                        "client binary event input_audio_buffer.commit"]
        #expect(described.split(separator: "\n").map(String.init) == expected, "relay: \(relay.standardErrorLines)")
        let converted = folder.appendingPathComponent("again.wav")
        _ = try await SessionConverter.convert(input: log.path, to: .file(converted.path), problem: { _ in })
        #expect(try await readWAVWithPython(converted.path) == readWAVWithPython(recording.path))
    }

    /// Runs one of the two-ended scripts against a relay; returns the lines it printed after its port, the relay's, and
    /// how much the relay's peak resident memory grew from before the script's connection to its end (bytes).
    static func run(_ script: String) async throws -> (lines: [String], relay: [String], peakGrowth: Int) {
        let both = try await PythonEnd(script)
        defer { both.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(both.port)", outputDirectory: folder)
        defer { relay.stop() }
        let before = residentKiB(of: relay.process.processIdentifier, "VmRSS:")
        both.send("\(relay.port)")
        let lines = try await both.remainingLines()
        let peak = residentKiB(of: relay.process.processIdentifier, "VmHWM:")
        return (lines, relay.standardErrorLines, (peak - before) << 10)
    }
}
