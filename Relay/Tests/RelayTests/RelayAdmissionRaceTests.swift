// The race the soak's flood found, forced in process: a connection's place is given to a newer one (its eviction
// queued on its loop) just before its upgrade request's head is read. An EmbeddedChannel holds the order still: the
// head is read first, the queued eviction runs after.
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import DeltaTapeRelay

@Suite struct RelayAdmissionRaceTests {
    /// The request is answered 503 (evicted) once, by the head guard, and the upgrade is never decided (the upstream
    /// is never asked); before, the head went on to decide and the eviction then closed the connection unanswered.
    @Test func aPlaceLostAsTheHeadArrivesIsAnswered503AndNeverDecided() throws {
        let admission = ConnectionAdmission(limit: 1)
        let decided = Shared(false)
        let refusals = Shared<[String]>([])
        let child = RelayChildChannel(responder: { _, _, _ in }, maximumFrameBytes: 1 << 20, admission: admission,
                                      requestTimeoutSeconds: 0, refused: { reason in refusals.withLock { $0.append(reason.metricReason) } }) { _, _ in
            decided.withLock { $0 = true }
            return .refuse(.badGateway)
        }
        let channel = EmbeddedChannel()
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9), promise: nil)
        nonisolated(unsafe) var outcome: RelayChildChannel.Outcome?
        child.setup(channel: channel, logger: Logger(label: "race")).whenSuccess { value in
            value.outcome.whenSuccess { outcome = $0 }
        }
        // A newer connection takes the place: the eviction is queued on the channel's loop, not yet run.
        #expect(admission.admit(activity: ConnectionActivity()) {} != nil)
        // NIO's upgrader reports a declined upgrade as an error at the pipeline's end (unsupportedWebSocketTarget), which
        // the embedded channel rethrows; the relay's pipeline lets it pass. What the connection got is checked below.
        _ = try? channel.writeInbound(ByteBuffer(string: upgradeRequestHead("/v1/realtime?model=m") + "\r\nHost: relay\r\n\r\n"))
        channel.embeddedEventLoop.run()

        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        let answer = String(buffer: written)
        #expect(answer.hasPrefix("HTTP/1.1 503 "), "\(answer)")
        #expect(answer.contains("--max-connections"), "\(answer)")
        #expect(refusals.withLock { $0 } == ["evicted"])
        #expect(!decided.withLock { $0 }, "the upgrade was decided: the upstream would have been asked")
        guard case .answeredByGuard = outcome else {
            Issue.record("the connection's outcome is \(String(describing: outcome)), not answered by the guard")
            return
        }
        _ = try? channel.finish()
    }
}
