// Issue 27: an upstream that answers the upgrade wrongly. The relay refuses the client (502) and must also close the
// upstream's connection: the soak found each such attempt leaving it open for good (a descriptor per attempt).
import Foundation
import Testing

@Suite("Relay: upstream handshakes that fail")
struct RelayUpstreamHandshakeTests {
    /// An upstream in Python's standard library that accepts one connection, answers its upgrade as argv[1] says
    /// (`badaccept`: a Sec-WebSocket-Accept for another key; `h2c`: a 101 to another protocol; `nothttp`: an SSH
    /// banner), then waits up to 30 s for the relay to close the connection and prints `closed` or `still open`.
    static let misbehavingUpstream = #"""
    import base64, hashlib, socket, sys
    how = sys.argv[1]
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
    print(server.getsockname()[1], flush=True)
    connection, _ = server.accept(); connection.settimeout(30)
    head = b""
    while b"\r\n\r\n" not in head: head += connection.recv(1)
    accept = base64.b64encode(hashlib.sha1(b"not the key the relay sent" + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    answer = {"badaccept": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n",
              "h2c": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
              "nothttp": b"SSH-2.0-OpenSSH_9.6\r\n\r\n"}[how]
    connection.sendall(answer)
    try:
        while connection.recv(65536): pass
        print("closed", flush=True)
    except socket.timeout:
        print("still open", flush=True)
    """#

    @Test(arguments: [("badaccept", "a Sec-WebSocket-Accept for another key"), ("h2c", "switched to another protocol than WebSocket"),
                      ("nothttp", "is not HTTP")])
    func theUpstreamsConnectionIsClosed(_ how: String, said: String) async throws {
        let upstream = try await PythonEnd(Self.misbehavingUpstream, arguments: [how])
        defer { upstream.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder)
        defer { relay.stop() }
        let answer = try await httpRequest(port: relay.port, upgradeRequestHead("/v1/realtime?model=m"))
        #expect(answer.status == 502, "\(answer)")
        let seen = try await upstream.remainingLines()
        #expect(seen == ["closed"], "the upstream's connection after a \(how) answer: \(seen)")
        // Said in words, not as SwiftNIO's error names (upgraderDeniedUpgrade, invalid constant string).
        let line = await relay.waitForLine { $0.contains("did not accept the connection") } ?? "none"
        #expect(line.contains(said), "\(line)")
        #expect(relay.process.isRunning)
    }
}
