// Issue 29's drain, for deploys behind a load balancer: SIGTERM or POST /drain closes the relay's port at once (the
// balancer's next connection is refused and goes elsewhere), /healthz answers 503 where it can still be asked
// (--admin-listen), open sessions go on to their end, and a second SIGTERM closes them at once with 1001.
@_spi(Blocks) import DeltaTape
@testable import DeltaTapeRelay
import Foundation
import NIOCore
import Testing
import TestSupport

@Suite("Relay: drain")
struct RelayDrainTests {
    /// The port of the relay's operations listener, from the line it says it on.
    private func adminPort(_ relay: RelayProcess) async throws -> Int {
        let line = try #require(await relay.waitForLine(within: 30) { $0.contains("POST /drain) on 127.0.0.1:") })
        return try #require(line.split(separator: ":").last.flatMap { Int($0) }, "\(line)")
    }

    /// Whether a TCP connection to the relay's own port is refused (its listening socket closed).
    private func portRefusesConnections(_ port: Int) -> Bool {
        guard let descriptor = try? connectToLoopback(port: port) else { return true }
        close(descriptor)
        return false
    }

    /// Starts `client`'s session and returns once the upstream has sent a quarter of it (with its connection).
    private func aQuarterIn(_ client: RealtimeClient, _ scenario: RelayScenario, _ script: SessionScript) async throws
        -> (running: Task<RealtimeClient.Outcome, Never>, connection: UpstreamConnection) {
        let running = Task { await client.run() }
        let quarter = script.serverSteps.count / 4
        #expect(await eventually(within: 120) { (scenario.upstream.connections.first?.sent.count ?? 0) >= quarter })
        return (running, try #require(scenario.upstream.connections.first))
    }

    @Test func aDrainClosesThePortAtOnceAndLetsTheOpenSessionRunToItsEnd() async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script),
                            arguments: ["--admin-listen", "127.0.0.1:0", "--format", "wav", "--track", "both"]) { scenario in
            let admin = try await adminPort(scenario.relay)
            #expect(try await httpGet(port: admin, path: "/healthz").status == 200)
            let (running, connection) = try await aQuarterIn(scenario.client(script, closesAfterReceiving: script.serverSteps.count), scenario, script)

            let drain = try await httpRequest(port: admin, "POST /drain HTTP/1.1\r\nContent-Length: 0")
            #expect(drain.status == 202, "\(drain)")
            #expect(drain.body.contains("1 open session"), "\(drain.body)")
            // At once: the port refuses connections, /healthz says 503, /metrics says draining with one session left.
            #expect(await eventually(within: 2) { portRefusesConnections(scenario.relay.port) }, "the relay's port still takes connections")
            let healthz = try await httpGet(port: admin, path: "/healthz")
            #expect(healthz.status == 503 && healthz.body == "draining\n", "\(healthz)")
            let metrics = try await httpGet(port: admin, path: "/metrics").body
            #expect(metricValue(metrics, "deltatape_relay_draining") == 1, "\(metrics)")
            #expect(metricValue(metrics, RelayContract.Metric.connectionsActive) == 1)
            // A second drain is not a second stop: the session still goes on.
            #expect(try await httpRequest(port: admin, "POST /drain HTTP/1.1\r\nContent-Length: 0").body.hasPrefix("draining already"))

            // The session runs to its own end (the client closes after the upstream's last message), uncut.
            expectClean(await running.value, relay: scenario.relay)
            #expect(connection.sent.count == script.serverSteps.count, "the upstream sent all of the session")
            let exit = await scenario.relay.waitForExit(within: 60)
            #expect(exit?.status == 0 && exit?.signalled == false, "\(String(describing: exit)): \(scenario.relay.standardErrorLines)")
            let (file, _) = try await scenario.finishedRecording(extension: "wav", within: 10)
            let wav = try await readWAVWithPython(file.path)
            #expect(wav.frameCount > 0)
            #expect(!(try WAVRepair.repair(path: file.path, dryRun: true)).neededRepair)
            #expect(!scenario.relay.standardErrorLines.contains { $0.contains("drain timeout") })
        }
    }

    @Test func aSecondSIGTERMClosesTheOpenSessionAtOnceWith1001AndFinalizesItsRecording() async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        // Slowly (the session would last a minute): the relay must be the one that ends it, however slow the machine.
        try await withRelay(upstream: .init(script: script, pace: 2), arguments: ["--format", "ogg", "--track", "both"]) { scenario in
            let (running, connection) = try await aQuarterIn(scenario.client(script, closesAfterReceiving: script.serverSteps.count, pace: 2),
                                                             scenario, script)
            scenario.relay.signal(SIGTERM)
            #expect(await scenario.relay.waitForLine(within: 10) { $0.contains("SIGTERM: draining") } != nil)
            // The first SIGTERM drains (the default --drain-timeout is 30 minutes): the session still flows.
            let before = connection.sent.count
            #expect(await eventually(within: 5) { connection.sent.count > before + 2 }, "the session stopped at the first SIGTERM")
            scenario.relay.signal(SIGTERM)
            let outcome = await running.value
            #expect(outcome.closeCode == 1001, "the client is sent 1001 (going away): \(outcome)")
            #expect(await eventually(within: 20) { connection.handlerEnded })
            #expect(connection.sent.count < script.serverSteps.count, "the relay ended the session before its end")
            let exit = await scenario.relay.waitForExit(within: 60)
            #expect(exit?.status == 0 && exit?.signalled == false, "\(String(describing: exit)): \(scenario.relay.standardErrorLines)")
            #expect(scenario.relay.standardErrorLines.contains { $0.contains("SIGTERM again: closing the 1 open session now") })
            let (file, _) = try await scenario.finishedRecording(extension: "ogg", within: 10)
            #expect(try await decodeWithFFmpeg(file.path).count > 0)
        }
    }

    @Test func theDrainTimeoutClosesWhatIsLeftWith1001() async throws {
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        try await withRelay(upstream: .init(script: script, pace: 2), arguments: ["--drain-timeout", "1", "--format", "wav"]) { scenario in
            let (running, _) = try await aQuarterIn(scenario.client(script, closesAfterReceiving: script.serverSteps.count, pace: 2),
                                                    scenario, script)
            scenario.relay.signal(SIGTERM)
            let outcome = await running.value
            #expect(outcome.closeCode == 1001, "\(outcome)")
            #expect(await scenario.relay.waitForLine(within: 20) { $0.contains("the drain timeout (1.0 s) passed: closing the 1 open session") } != nil,
                    "\(scenario.relay.standardErrorLines)")
            #expect(await scenario.relay.waitForExit(within: 60)?.status == 0)
            _ = try await scenario.finishedRecording(extension: "wav", within: 10)
        }
    }

    /// POST /drain is taken from this machine only: the rule on the peer's address (a connection from another host
    /// cannot be made on a test machine with loopback alone).
    @Test func drainsAreTakenFromLoopbackPeersOnly() throws {
        for address in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            #expect(PeerRequestContext.isLoopback(try SocketAddress(ipAddress: address, port: 1)), "\(address)")
        }
        for address in ["192.0.2.2", "10.0.0.1", "::ffff:192.0.2.2", "2001:db8::1", "128.0.0.1", "::2"] {
            #expect(!PeerRequestContext.isLoopback(try SocketAddress(ipAddress: address, port: 1)), "\(address)")
        }
        #expect(!PeerRequestContext.isLoopback(nil))
    }
}
