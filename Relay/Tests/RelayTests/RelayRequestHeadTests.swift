// Issue 27, item 7: what a connection may do before its upgrade. Raw sockets on loopback: idle sockets and a slowloris
// are answered 408 and closed at the request deadline, malformed and oversized heads get their status, and a flood of
// idle sockets beyond --max-connections keeps neither /healthz nor a session out.
import Foundation
import Testing

@Suite("Relay: before the upgrade")
struct RelayRequestHeadTests {
    /// Fifty sockets that send nothing are each answered 408 and closed once the deadline (2 s here) has passed.
    @Test func idleSocketsAreAnsweredAndClosedAtTheRequestDeadline() async throws {
        let refusing = try await RelayBeforeARefusingUpstream(arguments: ["--request-timeout", "2"])
        defer { refusing.stop() }
        let relay = refusing.relay, upstream = refusing.upstream
        let sockets = try (0..<50).map { _ in try connectToLoopback(port: relay.port) }
        defer { for socket in sockets { close(socket) } }
        // The reads wait 30 s in all: far past the deadline, so only a relay without one fails here.
        let until = Date().addingTimeInterval(30)
        let answers = try await onThread { sockets.map { readToEnd($0, until: until) } }
        let closed = answers.filter { $0.closed && $0.text.hasPrefix("HTTP/1.1 408 ") }
        #expect(closed.count == 50, "\(closed.count) of 50 idle sockets were answered 408 and closed; one: \(answers[0])")
        #expect(answers[0].text.contains("--request-timeout"), "\(answers[0].text)")
        let metrics = try await httpGet(port: relay.port, path: "/metrics").body
        #expect(metricValue(metrics, RelayContract.Metric.requestsRefused, labels: ["reason=\"request_timeout\""]) == 50)
        #expect(upstream.requestHeads.isEmpty)
    }

    /// A slowloris sending its upgrade request at 1 byte a second never gets its head in: it is answered 408 and closed
    /// at the deadline (3 s), long before its 150-odd bytes are through.
    @Test func aSlowlorisIsAnsweredAndClosedAtTheRequestDeadline() async throws {
        let refusing = try await RelayBeforeARefusingUpstream(arguments: ["--request-timeout", "3"])
        defer { refusing.stop() }
        let relay = refusing.relay, upstream = refusing.upstream
        let head = Array((upgradeRequestHead("/v1/realtime?model=m") + "\r\nHost: 127.0.0.1\r\n\r\n").utf8)
        let socket = try connectToLoopback(port: relay.port)
        defer { close(socket) }
        let (sent, answer) = try await onThread { () -> (Int, RawAnswer) in
            var sent = 0
            for byte in head {
                // A second between bytes, unless the relay answered meanwhile.
                var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 1_000) > 0 { break }
                var value = byte
                guard send(socket, &value, 1, Int32(MSG_NOSIGNAL)) == 1 else { break }
                sent += 1
            }
            return (sent, readToEnd(socket, until: Date().addingTimeInterval(30)))
        }
        #expect(answer.text.hasPrefix("HTTP/1.1 408 "), "after \(sent) bytes: \(answer)")
        #expect(answer.closed)
        #expect(sent < head.count, "the whole head went through at 1 byte/s: \(sent) bytes")
        #expect(upstream.requestHeads.isEmpty)
    }

    /// Heads the relay cannot read or will not take are answered with their status and closed, and never reach the
    /// upstream: raw bytes and NUL in the target (400), a 100 KB target (414), 200 KB of headers (431), and what NIO's
    /// parser refuses (a bare LF line end, an obs-folded header: 400).
    @Test(arguments: MalformedHead.allCases)
    func aMalformedOrOversizedHeadGetsItsStatus(_ head: MalformedHead) async throws {
        let refusing = try await RelayBeforeARefusingUpstream(arguments: [])
        defer { refusing.stop() }
        let relay = refusing.relay, upstream = refusing.upstream
        for upgrade in [true, false] {
            let socket = try connectToLoopback(port: relay.port)
            defer { close(socket) }
            let answer = try await onThread { () -> RawAnswer in
                sendAll(socket, head.bytes(upgrade: upgrade))
                return readToEnd(socket, until: Date().addingTimeInterval(30))
            }
            #expect(answer.text.hasPrefix("HTTP/1.1 \(head.status) "), "\(head) (upgrade \(upgrade)): \(answer.text.prefix(300))")
            #expect(answer.closed, "\(head) (upgrade \(upgrade)): the connection stayed open")
        }
        #expect(upstream.requestHeads.isEmpty, "\(upstream.requestHeads)")
        // The relay is unharmed.
        #expect(try await httpGet(port: relay.port, path: "/healthz").status == 200)
    }

    /// Sixty idle sockets against --max-connections 20 (and a deadline far away): each newcomer takes the place of the
    /// oldest socket that sent nothing (answered 503), so /healthz and a real session still get through, and sessions
    /// are never the ones closed.
    @Test func idleSocketsBeyondTheConnectionLimitStarveNeitherHealthzNorASession() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        try await withRelay(upstream: .init(script: script), arguments: ["--max-connections", "20", "--request-timeout", "120"]) { scenario in
            let port = scenario.relay.port
            // A session first: it holds a place the flood may not take.
            let held = try await openUpgradedConnection(port: port, upgradeRequestHead("/v1/realtime?model=m"))
            defer { close(held) }
            let idle = try (0..<60).map { _ in try connectToLoopback(port: port) }
            defer { for socket in idle { close(socket) } }
            let healthz = try await httpGet(port: port, path: "/healthz")
            #expect(healthz.status == 200)
            let client = scenario.client(script, closesAfterReceiving: script.serverSteps.count)
            let outcome = await client.run()
            #expect(outcome.error == nil, "\(outcome)")
            #expect(client.received.count == script.serverSteps.count)
            // The oldest idle sockets were answered 503 and closed; the held session is still open.
            let first = try await onThread { readToEnd(idle[0], until: Date().addingTimeInterval(30)) }
            #expect(first.text.hasPrefix("HTTP/1.1 503 ") && first.closed, "\(first)")
            #expect(first.text.contains("--max-connections"), "\(first.text)")
            #expect(isStillOpen(held), "the held session's connection was closed")
            let metrics = try await httpGet(port: port, path: "/metrics").body
            #expect((metricValue(metrics, RelayContract.Metric.requestsRefused, labels: ["reason=\"evicted\""]) ?? 0) >= 40, "\(metrics)")
        }
    }

    /// A client whose head is on its way (it has sent part of it) is not the one a flood of silent sockets evicts:
    /// with --max-connections 10, ten silent sockets, the half-sent head, then thirty more silent sockets, every
    /// newcomer takes a silent socket's place; the head, finished afterwards, is upgraded (101). Before silent sockets
    /// went first, the client was the oldest place but one after the first ten evictions, and was answered 503.
    @Test func aHeadOnItsWayIsNotEvictedByAFloodOfSilentSockets() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        try await withRelay(upstream: .init(script: script), arguments: ["--max-connections", "10", "--request-timeout", "120"]) { scenario in
            let port = scenario.relay.port
            var silent = try (0..<10).map { _ in try connectToLoopback(port: port) }
            defer { for socket in silent { close(socket) } }
            let head = Array((upgradeRequestHead("/v1/realtime?model=m") + "\r\n\r\n").utf8)
            let client = try connectToLoopback(port: port)
            defer { close(client) }
            sendAll(client, Array(head.prefix(20)))
            // Slack for the relay to read those bytes before the flood (an ordering, not a timed assertion).
            try await Task.sleep(for: .seconds(1))
            for _ in 0..<30 { silent.append(try connectToLoopback(port: port)) }
            // Every newcomer was admitted (the client's own, thirty, and each /metrics request's took a place).
            var metrics = ""
            #expect(try await eventually(within: 30) {
                metrics = try await httpGet(port: port, path: "/metrics").body
                return (metricValue(metrics, RelayContract.Metric.requestsRefused, labels: ["reason=\"evicted\""]) ?? 0) >= 31
            }, "\(metrics)")
            #expect(isStillOpen(silent[silent.count - 1]), "the newest silent socket keeps its place")
            sendAll(client, Array(head.dropFirst(20)))
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let answer = try await onThread { String(decoding: readResponseHead(client), as: UTF8.self) }
            #expect(answer.hasPrefix("HTTP/1.1 101 "), "\(answer)")
        }
    }

    /// When every place is a session's, a new connection is answered 503 and closed, and the sessions go on.
    @Test func aConnectionBeyondALimitOfSessionsIsAnswered503() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        try await withRelay(upstream: .init(script: script), arguments: ["--max-connections", "2"]) { scenario in
            let port = scenario.relay.port
            let sessions = try await [openUpgradedConnection(port: port, upgradeRequestHead("/v1/realtime?model=m")),
                                      openUpgradedConnection(port: port, upgradeRequestHead("/v1/realtime?model=m"))]
            defer { for socket in sessions { close(socket) } }
            let refused = try await httpGet(port: port, path: "/healthz")
            #expect(refused.status == 503)
            #expect(refused.body.contains("--max-connections"), "\(refused.body)")
            // The fake upstream counts a connection once its handler runs, which may come after its 101.
            #expect(await eventually(within: 20) { scenario.upstream.connections.count == 2 })
            for socket in sessions { #expect(isStillOpen(socket), "a session was closed") }
        }
    }
}

/// A relay in front of an upstream that refuses every upgrade (401), recording into a folder of its own.
struct RelayBeforeARefusingUpstream {
    let upstream: RefusingUpstream
    let relay: RelayProcess
    let folder: URL

    init(arguments: [String]) async throws {
        upstream = try RefusingUpstream(status: 401, reason: "Unauthorized")
        folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        do {
            relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder, arguments: arguments)
        } catch {
            upstream.stop()
            throw error
        }
    }

    func stop() {
        relay.stop()
        upstream.stop()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// The heads ``RelayRequestHeadTests/aMalformedOrOversizedHeadGetsItsStatus(_:)`` sends, as an upgrade request or a
/// plain GET.
enum MalformedHead: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case rawByteInTarget, nulInTarget, targetOf100KB, headersOf200KB, bareLineFeed, obsFold

    var testDescription: String { rawValue }

    var status: Int {
        switch self {
        case .rawByteInTarget, .nulInTarget, .bareLineFeed, .obsFold: 400
        case .targetOf100KB: 414
        case .headersOf200KB: 431
        }
    }

    func bytes(upgrade: Bool) -> [UInt8] {
        let fields = upgrade
            ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            : ""
        let host = "Host: 127.0.0.1\r\n"
        switch self {
        case .rawByteInTarget:
            return Array("GET /v1/real".utf8) + [0xFF, 0xFE] + Array("time HTTP/1.1\r\n\(host)\(fields)\r\n".utf8)
        case .nulInTarget:
            return Array("GET /v1/real".utf8) + [0x00] + Array("time HTTP/1.1\r\n\(host)\(fields)\r\n".utf8)
        case .targetOf100KB:
            return Array("GET /v1/realtime?model=\(String(repeating: "m", count: 100_000)) HTTP/1.1\r\n\(host)\(fields)\r\n".utf8)
        case .headersOf200KB:
            let padding = (0..<200).map { "X-Padding-\($0): \(String(repeating: "p", count: 1_000))\r\n" }.joined()
            return Array("GET /v1/realtime HTTP/1.1\r\n\(host)\(fields)\(padding)\r\n".utf8)
        case .bareLineFeed:
            return Array("GET /v1/realtime HTTP/1.1\n\(host)\(fields)\n".utf8)
        case .obsFold:
            return Array("GET /v1/realtime HTTP/1.1\r\n\(host)X-Folded: one\r\n two\r\n\(fields)\r\n".utf8)
        }
    }
}

/// What a raw socket read: its text (bytes as UTF-8), and whether the peer closed (as opposed to the read timing out).
struct RawAnswer: Sendable, CustomStringConvertible {
    var bytes: [UInt8]
    var closed: Bool
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var description: String { "\(closed ? "closed" : "still open") after \(text.utf8.count) bytes: \(text.prefix(200))" }
}

/// Reads `socket` until the peer closes it (or resets it), or until `deadline`.
func readToEnd(_ socket: Int32, until deadline: Date) -> RawAnswer {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let left = max(0.1, deadline.timeIntervalSinceNow)
        var timeout = timeval(tv_sec: Int(left), tv_usec: .init((left - left.rounded(.down)) * 1e6))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let count = recv(socket, &buffer, buffer.count, 0)
        if count > 0 {
            bytes += buffer[..<count]
            continue
        }
        let closed = count == 0 || errno == ECONNRESET
        return RawAnswer(bytes: bytes, closed: closed)
    }
}

/// Whether the peer has not closed `socket`: what it sent so far is read and dropped, and no end came after it.
func isStillOpen(_ socket: Int32) -> Bool {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { continue }
        return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }
}

/// Sends every byte it can (a peer that answers and stops reading may refuse the rest; never SIGPIPE).
func sendAll(_ socket: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent <= 0 { return }
        offset += sent
    }
}
