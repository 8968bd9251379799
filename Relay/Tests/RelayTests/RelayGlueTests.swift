// Issue 24: the forwarding glue alone, in process. Two EmbeddedChannels on one EmbeddedEventLoop stand for a session's
// client and upstream connections (the relay runs both on the client's loop); frames go in as NIO's frame decoder hands
// them to RelayGlue and come out as it writes them to the frame encoder: no socket, handshake or relay process.
import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import DeltaTapeRelay

@Suite("Relay: the glue, in process")
struct RelayGlueTests {
    /// Fragments of text and binary messages cross unchanged and in order, each way: opcode, FIN bit and payload (a
    /// client's frames unmasked, then masked again for the upstream; the upstream's go to the client unmasked), and
    /// nothing comes back to the side that sent them.
    @Test func dataFramesAndTheirFragmentsCrossUnchangedBothWays() async throws {
        let fromClient = [
            FrameContent(.text, "{\"type\":", fin: false),
            FrameContent(.continuation, "\"session.update\"", fin: false),
            FrameContent(.continuation, "}"),
            FrameContent(.binary, [0x00, 0x01, 0xFE, 0xFF]),
            FrameContent(.binary, [0x10, 0x20, 0x30], fin: false),
            FrameContent(.continuation, [], fin: false),
            FrameContent(.continuation, [0x40]),
            FrameContent(.text, "{\"type\":\"response.create\"}"),
        ]
        let fromUpstream = [
            FrameContent(.text, "{\"type\":\"response.", fin: false), FrameContent(.continuation, "done\"}"),
            FrameContent(.binary, (0...255).map { UInt8($0) }),
            FrameContent(.text, "{\"a\":1}"),
            FrameContent(.binary, [0xAA], fin: false),
            FrameContent(.continuation, [0xBB], fin: false),
            FrameContent(.continuation, [0xCC]),
        ]
        let recording = try withGluedSession { session in
            for frame in fromClient { try session.client.writeInbound(frame.fromClient()) }
            #expect(try session.sent(to: .client).isEmpty, "nothing goes back to the client")
            let toUpstream = try session.sent(to: .upstream)
            #expect(toUpstream.map(\.frame) == fromClient)
            #expect(toUpstream.allSatisfy { $0.isMasked }, "a client's frames are masked (RFC 6455 §5.1)")

            for frame in fromUpstream { try session.upstream.writeInbound(frame.fromUpstream()) }
            #expect(try session.sent(to: .upstream).isEmpty, "nothing goes back to the upstream")
            let toClient = try session.sent(to: .client)
            #expect(toClient.map(\.frame) == fromUpstream)
            #expect(!toClient.contains { $0.isMasked }, "a server's frames are not masked")

            // Interleaved: one side's message between another's fragments.
            try session.client.writeInbound(FrameContent(.text, "ab", fin: false).fromClient())
            try session.upstream.writeInbound(FrameContent(.text, "xy").fromUpstream())
            try session.client.writeInbound(FrameContent(.continuation, "cd").fromClient())
            #expect(try session.sent(to: .upstream).map(\.frame)
                == [FrameContent(.text, "ab", fin: false), FrameContent(.continuation, "cd")])
            #expect(try session.sent(to: .client).map(\.frame) == [FrameContent(.text, "xy")])
        }
        _ = await recording.end()
    }

    /// Ping and pong cross unchanged each way (the endpoints answer them, not the relay), also between the fragments of
    /// a message, where the protocol allows control frames.
    @Test func pingAndPongCrossUnchangedBothWays() async throws {
        let recording = try withGluedSession { session in
            try session.client.writeInbound(FrameContent(.ping, "client ping").fromClient())
            #expect(try session.sent(to: .upstream).map(\.frame) == [FrameContent(.ping, "client ping")])
            try session.upstream.writeInbound(FrameContent(.pong, "client ping").fromUpstream())
            #expect(try session.sent(to: .client).map(\.frame) == [FrameContent(.pong, "client ping")])

            try session.upstream.writeInbound(FrameContent(.ping, [0x01, 0x02, 0x03]).fromUpstream())
            #expect(try session.sent(to: .client).map(\.frame) == [FrameContent(.ping, [0x01, 0x02, 0x03])])
            try session.client.writeInbound(FrameContent(.pong, [0x01, 0x02, 0x03]).fromClient())
            let pong = try session.sent(to: .upstream)
            #expect(pong.map(\.frame) == [FrameContent(.pong, [0x01, 0x02, 0x03])])
            #expect(pong.allSatisfy { $0.isMasked })

            let fragmented = [FrameContent(.text, "hel", fin: false), FrameContent(.ping, ""), FrameContent(.continuation, "lo")]
            for frame in fragmented { try session.upstream.writeInbound(frame.fromUpstream()) }
            #expect(try session.sent(to: .client).map(\.frame) == fragmented)
        }
        _ = await recording.end()
    }

    /// The client's close frame reaches the upstream with its code and reason, the upstream's answer reaches the client
    /// with its own; both connections stay open until both close frames have crossed, then both are closed. Nothing
    /// the client sends after its close frame goes on.
    @Test func aCloseCrossesWithItsCodeAndReasonAndTheHandshakeClosesBoth() async throws {
        let recording = try withGluedSession { session in
            try session.client.writeInbound(FrameContent(.connectionClose, closing: 1000, "client done").fromClient())
            let toUpstream = try session.sent(to: .upstream)
            #expect(toUpstream.map(\.frame) == [FrameContent(.connectionClose, closing: 1000, "client done")])
            #expect(toUpstream.allSatisfy { $0.isMasked })
            try session.client.writeInbound(FrameContent(.text, "after close").fromClient())
            #expect(try session.sent(to: .upstream).isEmpty, "no data after a close frame")
            session.loop.run()
            #expect(session.client.isActive && session.upstream.isActive, "the upstream has not answered yet")

            try session.upstream.writeInbound(FrameContent(.connectionClose, closing: 1001, "upstream done").fromUpstream())
            #expect(try session.sent(to: .client).map(\.frame) == [FrameContent(.connectionClose, closing: 1001, "upstream done")])
            session.loop.run()
            #expect(!session.client.isActive)
            #expect(!session.upstream.isActive)
            #expect(session.isClosed(.client) && session.isClosed(.upstream), "both close futures are done")
        }
        _ = await recording.end()
    }

    /// A side sent a close frame that it never answers is closed after RelayGlue.closeTimeout; its partner then gets
    /// its own close answered (the same code, as an endpoint would) and is closed too.
    @Test func aSideThatNeverAnswersACloseIsClosedAfterTheTimeout() async throws {
        let recording = try withGluedSession { session in
            try session.upstream.writeInbound(FrameContent(.connectionClose, closing: 1000, "bye").fromUpstream())
            #expect(try session.sent(to: .client).map(\.frame) == [FrameContent(.connectionClose, closing: 1000, "bye")])
            session.loop.advanceTime(by: .seconds(9))
            #expect(session.client.isActive && session.upstream.isActive, "9 s: still waiting for the client")
            session.loop.advanceTime(by: .seconds(1))
            #expect(!session.client.isActive, "10 s: the client that never answered is closed")
            #expect(try session.sent(to: .upstream).map(\.frame) == [FrameContent(.connectionClose, closing: 1000, "bye")],
                    "the upstream's close is answered with its own code")
            session.loop.run()
            #expect(!session.upstream.isActive)
        }
        _ = await recording.end()
    }

    /// While one side's channel is not writable the other side is not read (its reads never reach the front of its
    /// pipeline); the read held back is made once the channel is writable again. Both ways.
    @Test(arguments: [RelayGlue.Side.client, .upstream])
    func aSideIsNotReadWhileItsPartnerCannotBeWritten(reading side: RelayGlue.Side) async throws {
        let recording = try withGluedSession { session in
            let reader = session.channel(side), partner = session.channel(side.partner)
            let reads = session.reads(side)
            let before = reads.count
            reader.read()
            #expect(reads.count == before + 1, "the partner is writable: the read goes on")

            partner.isWritable = false
            partner.pipeline.fireChannelWritabilityChanged()
            reader.read()
            reader.read()
            #expect(reads.count == before + 1, "the partner is not writable: the reads are held")
            // What was read already still goes on (buffered by the partner's channel).
            let late = FrameContent(.text, "late")
            try reader.writeInbound(side == .client ? late.fromClient() : late.fromUpstream())
            #expect(try session.sent(to: side.partner).map(\.frame) == [late])
            #expect(reads.count == before + 1)

            partner.isWritable = true
            partner.pipeline.fireChannelWritabilityChanged()
            #expect(reads.count == before + 2, "writable again: the held read is made, once")
            reader.read()
            #expect(reads.count == before + 3)
            #expect(session.reads(side.partner).count == session.readsAtStart(side.partner),
                    "the partner's own reads are untouched")
        }
        _ = await recording.end()
    }

    /// The upstream is attached first (its upgrade is answered before the client's): until the client's glue joins,
    /// its reads are held and what it sends waits; then that goes to the client, in order, and reading resumes.
    @Test func theUpstreamWaitsForTheClientToJoin() async throws {
        let recording = try withGluedSession(attachingClient: false) { session in
            let before = session.upstreamReads.count
            session.upstream.read()
            #expect(session.upstreamReads.count == before, "no client yet: the upstream is not read")
            let early = [FrameContent(.text, "{\"type\":\"session.created\"}"), FrameContent(.ping, "p")]
            for frame in early { try session.upstream.writeInbound(frame.fromUpstream()) }
            #expect(try session.sent(to: .client).isEmpty)

            try session.attachClient()
            #expect(try session.sent(to: .client).map(\.frame) == early)
            #expect(session.upstreamReads.count == before + 1, "the held read is made")
        }
        _ = await recording.end()
    }

    /// Whole messages reach the recording, fragments joined, each with its direction, in the order they crossed; control
    /// frames are not recorded. The session log kept beside the recording shows them.
    @Test func wholeMessagesReachTheRecording() async throws {
        let folder = try RelayTestEnvironment.temporaryDirectory("glue")
        // The messages, and the frames they are sent in.
        let first = "{\"type\":\"session.update\",\"session\":{\"instructions\":\"be brief\"}}"
        let second = "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}"
        let third = "{\"type\":\"response.done\"}"
        let fourth = "{\"type\":\"response.create\"}"
        let recording = try withGluedSession(savesLog: true, folder: folder) { session in
            try session.client.writeInbound(FrameContent(.text, "{\"type\":\"session.update\",", fin: false).fromClient())
            try session.client.writeInbound(FrameContent(.ping, "not recorded").fromClient())
            try session.client.writeInbound(FrameContent(.continuation, "\"session\":{\"instructions\":", fin: false).fromClient())
            try session.client.writeInbound(FrameContent(.continuation, "\"be brief\"}}").fromClient())
            try session.upstream.writeInbound(FrameContent(.text, "{\"type\":\"response.created\",", fin: false).fromUpstream())
            try session.upstream.writeInbound(FrameContent(.continuation, "\"response\":{\"id\":\"resp_1\"}}").fromUpstream())
            try session.upstream.writeInbound(FrameContent(.text, third).fromUpstream())
            try session.upstream.writeInbound(FrameContent(.pong, "not recorded").fromUpstream())
            try session.client.writeInbound(FrameContent(.text, fourth).fromClient())
            _ = try session.sent(to: .client)
            _ = try session.sent(to: .upstream)
        }
        _ = await recording.end()
        let logs = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jsonl") }
        try #require(logs.count == 1, "\(logs)")
        let lines = try String(contentsOf: folder.appendingPathComponent(logs[0]), encoding: .utf8).split(separator: "\n")
        // Each line is `{"time", "source", "event"}`; the event compared as JSON (keys sorted), the way it was sent.
        let recorded = try lines.map { line -> (String, String) in
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            return (entry["source"] as? String ?? "?", try Self.normalized(entry["event"] as Any))
        }
        let expected = try [("client", first), ("server", second), ("server", third), ("client", fourth)]
            .map { ($0.0, try Self.normalized($0.1)) }
        #expect(recorded.map(\.0) == expected.map(\.0), "\(lines)")
        #expect(recorded.map(\.1) == expected.map(\.1), "\(lines)")
    }

    /// A JSON value as text with sorted keys; a message the log kept as a string is parsed first, if it is JSON (a
    /// fragment is not, and is compared as it is).
    private static func normalized(_ value: Any) throws -> String {
        let object = (value as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? value
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        return String(decoding: data, as: UTF8.self)
    }
}

// MARK: - The session under test

private typealias Side = RelayGlue.Side

extension RelayGlue.Side {
    /// The other connection of the session.
    fileprivate var partner: Self { self == .client ? .upstream : .client }
}

/// Runs `body` on a session's two connections glued as the relay glues them (``GluedSession``), then closes both
/// channels. Returns the session's recording for the caller to end: ending it waits, and everything done with an
/// EmbeddedEventLoop must stay on the thread that made it.
private func withGluedSession(savesLog: Bool = false, folder: URL? = nil, attachingClient: Bool = true,
                              _ body: (GluedSession) throws -> Void) throws -> ConnectionRecording {
    let session = try GluedSession(savesLog: savesLog, folder: folder ?? RelayTestEnvironment.temporaryDirectory("glue"))
    defer { session.close() }
    if attachingClient { try session.attachClient() }
    try body(session)
    return session.recording
}

/// A session's client and upstream connections: EmbeddedChannels on one loop, each with a ``ReadCounter`` at the
/// front of its pipeline and the session's RelayGlue at its end, attached by RelaySession as the relay attaches them.
private final class GluedSession {
    let loop: EmbeddedEventLoop
    let client: EmbeddedChannel
    let upstream: EmbeddedChannel
    let clientReads: ReadCounter
    let upstreamReads: ReadCounter
    let relaySession: RelaySession
    let recording: ConnectionRecording
    private var startingReads: [Side: Int] = [:]

    init(savesLog: Bool, folder: URL) throws {
        let loop = EmbeddedEventLoop(), clientReads = ReadCounter(), upstreamReads = ReadCounter()
        self.loop = loop
        self.clientReads = clientReads
        self.upstreamReads = upstreamReads
        client = EmbeddedChannel(handler: clientReads, loop: loop)
        upstream = EmbeddedChannel(handler: upstreamReads, loop: loop)
        // Open, as the relay's connections are when their glue is added.
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        client.connect(to: address, promise: nil)
        upstream.connect(to: address, promise: nil)
        var configuration = RelayConfiguration(upstream: try UpstreamURL(parsing: "ws://127.0.0.1:9"), outputDirectory: folder.path)
        configuration.savesLog = savesLog
        recording = try ConnectionRecording(number: 1, start: Date().timeIntervalSince1970, configuration: configuration) { _ in }
        relaySession = RelaySession(number: 1, messageByteLimit: recording.messageByteLimit,
                                    metrics: RelayMetrics(), eventLoop: loop, report: { _ in })
        try relaySession.attachUpstream(upstream)
        relaySession.setRecording(recording)
        relaySession.clientAccepted(client)
    }

    /// The client's upgrade is done: its glue joins the upstream's.
    func attachClient() throws {
        try relaySession.attachClient(client)
        startingReads = [.client: clientReads.count, .upstream: upstreamReads.count]
    }

    func channel(_ side: Side) -> EmbeddedChannel { side == .client ? client : upstream }
    func reads(_ side: Side) -> ReadCounter { side == .client ? clientReads : upstreamReads }
    func readsAtStart(_ side: Side) -> Int { startingReads[side] ?? 0 }

    /// The frames written to `side` since the last call, and whether each is to be masked.
    func sent(to side: Side) throws -> [(frame: FrameContent, isMasked: Bool)] {
        var frames: [(FrameContent, Bool)] = []
        while let frame = try channel(side).readOutbound(as: WebSocketFrame.self) {
            // Outbound, the payload is still plain: NIO's frame encoder masks it with the key.
            frames.append((FrameContent(frame.opcode, Array(frame.data.readableBytesView), fin: frame.fin), frame.maskKey != nil))
        }
        return frames
    }

    /// Whether `side`'s close future is done.
    func isClosed(_ side: Side) -> Bool {
        var closed = false
        channel(side).closeFuture.assumeIsolated().whenComplete { _ in closed = true }
        return closed
    }

    /// Closes both channels (however the test left them); `finish` also drops the loop's scheduled tasks (a close
    /// timer), which an EmbeddedEventLoop must not hold when it is freed.
    func close() {
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? upstream.finish(acceptAlreadyClosed: true)
    }
}

/// Counts the reads that reach the front of a pipeline: what the glue asks of its socket.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

/// What a frame says: opcode, FIN bit and payload (plain). The frames a test expects are the ones it built.
private struct FrameContent: Equatable, CustomStringConvertible {
    var opcode: WebSocketOpcode
    var payload: [UInt8]
    var fin: Bool

    init(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) {
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
    }

    init(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) {
        self.init(opcode, Array(text.utf8), fin: fin)
    }

    /// A close frame: the code (two bytes, network order) and the reason (RFC 6455 §5.5.1).
    init(_ opcode: WebSocketOpcode, closing code: UInt16, _ reason: String) {
        self.init(opcode, [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8))
    }

    /// As NIO's decoder hands it over from a client: masked with a key of the client's.
    func fromClient() -> WebSocketFrame {
        let key = WebSocketMaskingKey.random()
        var data = ByteBuffer(bytes: payload)
        data.webSocketMask(key)
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    /// As NIO's decoder hands it over from a server: not masked.
    func fromUpstream() -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: payload))
    }

    var description: String {
        let shown = opcode == .binary || payload.count > 64
            ? payload.prefix(16).map { String($0, radix: 16) }.joined(separator: " ") + (payload.count > 16 ? " …" : "")
            : String(decoding: payload, as: UTF8.self).debugDescription
        return "\(opcode) \(fin ? "fin" : "more") \(payload.count) bytes: \(shown)"
    }
}
