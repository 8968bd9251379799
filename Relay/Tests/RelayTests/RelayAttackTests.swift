// Issue 27: the relay under attack. Each test drives a release or debug relay process on loopback with raw sockets
// and counts what the process holds from /proc (threads, descriptors) and what its folder holds.
import Foundation
import Testing

@Suite("Relay: attacks")
struct RelayAttackTests {
    /// The threads and open descriptors of a process, from /proc.
    private static func holdings(of pid: Int32) throws -> (threads: Int, descriptors: Int) {
        let manager = FileManager.default
        return (try manager.contentsOfDirectory(atPath: "/proc/\(pid)/task").count,
                try manager.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count)
    }

    /// Upgrades the upstream refuses (401) start no recording: hundreds of them leave the relay's threads and
    /// descriptors where they were and no file in its folder, even with `--save-log` (each used to leave a recorder's
    /// thread for good, and with --save-log an open, empty `.jsonl`).
    @Test func refusedUpgradesLeaveNoThreadDescriptorOrFile() async throws {
        let upstream = try RefusingUpstream(status: 401, reason: "Unauthorized")
        defer { upstream.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder,
                                           arguments: ["--save-log"])
        defer { relay.stop() }
        let pid = relay.process.processIdentifier
        // A few first, so that the event loops and pools the first requests start are counted in the baseline.
        for _ in 0..<10 { #expect(try await httpRequest(port: relay.port, upgradeRequestHead("/v1/realtime")).status == 401) }
        let before = try Self.holdings(of: pid)
        let refusals = 300
        for _ in 0..<refusals {
            let answer = try await httpRequest(port: relay.port, upgradeRequestHead("/v1/realtime?model=m"))
            #expect(answer.status == 401)
        }
        // Descriptors of connections just closed may take a moment to go.
        var after = try Self.holdings(of: pid)
        for _ in 0..<50 where after.descriptors > before.descriptors + 4 {
            try await Task.sleep(for: .milliseconds(100))
            after = try Self.holdings(of: pid)
        }
        #expect(upstream.requestHeads.count == refusals + 10)
        #expect(after.threads <= before.threads + 4, "threads \(before.threads) → \(after.threads) after \(refusals) refusals")
        #expect(after.descriptors <= before.descriptors + 4,
                "descriptors \(before.descriptors) → \(after.descriptors) after \(refusals) refusals")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        #expect(relay.process.isRunning)
    }

    /// A path with `.` or `..` segments (plain or percent-encoded) is refused with 400 and never reaches the upstream,
    /// which would see `/v1/../../../admin` as it is (RFC 3986 §5.2.4 leaves removing them to the receiver).
    @Test(arguments: ["/v1/../../../admin", "/v1/%2E%2e/admin", "/./v1/realtime", "/v1/realtime/..", "/v1/.%2e/x?model=m"])
    func dotSegmentsAreRefused(_ target: String) async throws {
        let upstream = try RefusingUpstream(status: 401, reason: "Unauthorized")
        defer { upstream.stop() }
        let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
        defer { try? FileManager.default.removeItem(at: folder) }
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(upstream.port)", outputDirectory: folder)
        defer { relay.stop() }
        let answer = try await httpRequest(port: relay.port, upgradeRequestHead(target))
        #expect(answer.status == 400)
        #expect(answer.body.contains(". or .. segments"), "\(answer.body)")
        #expect(upstream.requestHeads.isEmpty, "\(upstream.requestHeads)")
        // A dot inside a segment is a name like any other.
        #expect(try await httpRequest(port: relay.port, upgradeRequestHead("/v1/real.time..x")).status == 401)
        #expect(upstream.requestHeads.count == 1)
    }

    /// An upstream that answers with a subprotocol the client never offered fails the client's upgrade (502; RFC 6455
    /// §4.1 has a client fail such a connection), instead of passing the choice on.
    @Test(arguments: ["\r\nSec-WebSocket-Protocol: realtime", ""])
    func aSubprotocolTheClientDidNotOfferIsRefused(_ offer: String) async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        var behaviour = FakeUpstream.Behaviour(script: script)
        behaviour.subprotocolAnswer = "chosen-by-the-upstream"
        try await withRelay(upstream: behaviour) { scenario in
            let answer = try await upgradeResponseHead(port: scenario.relay.port, upgradeRequestHead("/v1/realtime?model=m") + offer)
            #expect(answer.status == 502)
            #expect(!answer.headers.contains { $0.name == "sec-websocket-protocol" })
            let line = await scenario.relay.waitForLine(within: 10) { $0.contains("did not offer") }
            #expect(line != nil, "\(scenario.relay.standardErrorLines)")
        }
    }

    /// A client that closes its sending side after the upgrade (a FIN without a close frame, as when its process is
    /// killed) ends its session although the upstream is silent: the upstream's connection ends, and the relay counts
    /// no open connection. (The relay used to keep such sessions, threads and descriptors for good.)
    @Test func aClientThatHalfClosesEndsItsSession() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        try await withRelay(upstream: .init(script: script)) { scenario in
            let port = scenario.relay.port
            let descriptor = try await upgradeAndHalfClose(port: port, upgradeRequestHead("/v1/realtime?model=m"))
            defer { close(descriptor) }
            try await expectTheSessionEnds(scenario, within: 20)
        }
    }
}

extension RelayAttackTests {
    /// A client that upgrades and then neither reads nor answers (a frozen process, a peer whose network drops
    /// everything) while the upstream is silent: with --idle-timeout 1 the relay pings it, and when no pong comes its
    /// connection is closed, the upstream's connection ends (sent 1001), the recording is finalized and said, and
    /// the relay counts no open connection. Without the pings the session stayed open for good. (3 s, not 1: the fake
    /// upstream, idle too, answers its pings from this busy test process, and under a full parallel run it once took
    /// longer than 1 s, so the upstream's side was closed first.)
    @Test func aClientThatStopsAnsweringPingsEndsItsSession() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic")).prefix(serverMessages: 1)
        try await withRelay(upstream: .init(script: script), arguments: ["--idle-timeout", "3", "--save-log"]) { scenario in
            let port = scenario.relay.port
            let descriptor = try await openUpgradedConnection(port: port, upgradeRequestHead("/v1/realtime?model=m"))
            defer { close(descriptor) }
            try await expectTheSessionEnds(scenario, within: 30)
            let line = await scenario.relay.waitForLine(within: 10) { $0.contains("did not answer a ping") }
            #expect(line?.contains("1001") == true, "\(scenario.relay.standardErrorLines)")
            // What the client was sent: the relay's ping (0x89, FIN and ping), then the end of the connection.
            let answer = try await onThread { readToEnd(descriptor, until: Date().addingTimeInterval(10)) }
            #expect(answer.closed, "\(answer)")
            #expect(answer.bytes.contains(0x89), "no ping frame in \(answer.bytes.prefix(40))")
            // The recording's end was said: its log holds the upstream's message.
            #expect(await scenario.relay.waitForLine(within: 20) { $0.contains(".wav") && !$0.contains("listening on") } != nil,
                    "\(scenario.relay.standardErrorLines)")
        }
    }
}

/// Expects the scenario's one session to end within `seconds`: the upstream had its connection, which then ended, and
/// the relay counts no open connection.
private func expectTheSessionEnds(_ scenario: RelayScenario, within seconds: Double) async throws {
    #expect(await eventually(within: 20) { scenario.upstream.connections.count == 1 })
    var metrics = ""
    let ended = try await eventually(within: seconds) {
        metrics = try await httpGet(port: scenario.relay.port, path: "/metrics").body
        return metricValue(metrics, RelayContract.Metric.connectionsActive) == 0
            && scenario.upstream.connections.first?.inboundEnded == true
    }
    #expect(ended, "the session is still open: \(metrics)")
}

/// Sends an upgrade request, reads the 101 answer's head, then closes the sending side only (`shutdown(SHUT_WR)`);
/// returns the descriptor, still open for reading, for the caller to close.
private func upgradeAndHalfClose(port: Int, _ head: String) async throws -> Int32 {
    let descriptor = try await openUpgradedConnection(port: port, head)
    shutdown(descriptor, Int32(SHUT_WR))
    return descriptor
}
