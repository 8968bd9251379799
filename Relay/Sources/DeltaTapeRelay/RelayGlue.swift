// Frames cross between a session's two connections on the event loop they share, the way SwiftNIO's proxy examples
// glue two channels: no task, async sequence or loop hop per frame (issue 16: these cost ~87 µs of CPU per frame).
import DeltaTape
import Foundation
import NIOCore
import NIOWebSocket

/// One side of a relayed connection: the last handler of that side's pipeline (after NIO's WebSocket frame decoder),
/// which writes each frame it reads to the other side's channel as it comes and offers whole messages to the recording.
///
/// Both channels of a session run on one event loop, so a handler calls its partner directly. Every frame goes on
/// unchanged: text, binary and continuation fragments, ping and pong (the endpoints answer them), close frames with
/// their code and reason. A connection is closed once its close handshake is done (it has sent a close frame and been
/// sent one), 10 s after it was sent one it never answered, or when its partner's connection ends and it has answered.
/// Back-pressure: while the partner's channel is not writable, this side is not read (NIO's proxy GlueHandler's way),
/// so a slow reader on one side holds back the other instead of filling memory.
final class RelayGlue: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    enum Side { case client, upstream }

    /// Which connection this handler reads from.
    let side: Side
    private let session: RelaySession
    private var partner: RelayGlue?
    private var context: ChannelHandlerContext?
    private let message: MessageAssembler
    /// Frames read before the partner was in its pipeline (the upstream's first ones, while the client's upgrade is
    /// answered): at most one read's worth, since reads are held until then.
    private var early: [WebSocketFrame] = []
    private var heldRead = false
    private var needsFlush = false
    /// This connection ended (or never got this handler while open).
    private(set) var isGone = false
    /// This side sent a close frame (its payload kept to answer with, should its partner be gone).
    private var receivedClose: ByteBuffer?
    /// A close frame was written to this side: its write.
    private var sentClose: EventLoopFuture<Void>?
    private var closeTimer: Scheduled<Void>?
    /// The idle check (``RelaySession/idleTimeout``): a side silent for one period is pinged, and closed when it is
    /// silent for the next one too.
    private var idleCheck: Scheduled<Void>?
    private var readSinceCheck = false
    private var pingOutstanding = false

    /// The payload of the relay's own pings: their pongs are the relay's, not forwarded.
    static let pingPayload = ByteBuffer(string: "deltatape-relay")

    /// How long a side may take to answer the close frame it was sent.
    static let closeTimeout = TimeAmount.seconds(10)

    init(side: Side, session: RelaySession) {
        self.side = side
        self.session = session
        message = MessageAssembler(limit: session.messageByteLimit, budget: session.memoryBudget)
    }

    /// Pairs the two handlers (before either is added to its pipeline, or the client's before it is).
    static func pair(_ client: RelayGlue, _ upstream: RelayGlue) {
        client.partner = upstream
        upstream.partner = client
    }

    // MARK: The channel's events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { ended() }
        partner?.partnerReady()
        scheduleIdleCheck()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        closeTimer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        readSinceCheck = true
        pingOutstanding = false
        // The answer to the relay's own ping stops here.
        if frame.opcode == .pong, frame.unmaskedPayload == Self.pingPayload { return }
        guard let partner, partner.context != nil || partner.isGone else {
            early.append(frame)
            return
        }
        relay(frame, to: partner)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flushIfNeeded()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended()
        context.fireChannelInactive()
    }

    /// A peer that closed its sending side (a FIN, as when its process was killed, or `shutdown(SHUT_WR)`) will send
    /// nothing more, not even a close frame: the server allows half-closed connections, so without this the session
    /// stayed open while the other side was silent. The connection is closed, which ends the session as if it had
    /// gone: the partner is sent a close frame, and the recording is finalized.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIO's protocol error handler (before this one) has answered a bad frame with a close frame and closes the
        // connection; any other error (a reset) ends it too.
        if !(error is NIOWebSocketError) { context.close(promise: nil) }
    }

    /// Reads this side only while its frames can go on.
    func read(context: ChannelHandlerContext) {
        if holdsReads {
            heldRead = true
        } else {
            context.read()
        }
    }

    // MARK: Forwarding

    private var holdsReads: Bool {
        guard let partner else { return true }
        if partner.isGone { return false }
        guard let partnerContext = partner.context else { return true }
        return !partnerContext.channel.isWritable
    }

    private func relay(_ frame: WebSocketFrame, to partner: RelayGlue) {
        switch frame.opcode {
        case .text, .binary, .continuation:
            // Nothing may follow a close frame; the partner may no longer be sent data once it was sent one.
            guard receivedClose == nil, partner.canBeSent else { return }
            let data = frame.unmaskedPayload
            partner.send(WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: data))
            session.counted(frameOf: data.readableBytes, from: side)
            // Joined only while there is a recording to take it (none when it could not be made).
            guard session.isRecording else { return }
            switch message.add(data, continues: frame.opcode == .continuation, isFinal: frame.fin, isBinary: frame.opcode == .binary) {
            case .incomplete: return
            case .whole(let whole, let isBinary): session.record(whole, isBinary: isBinary, from: side)
            case .tooLarge(let byteCount): session.unrecorded(byteCount, from: side, reason: .tooLarge)
            case .overBudget(let byteCount): session.unrecorded(byteCount, from: side, reason: .memoryBudget)
            }
        case .ping, .pong:
            guard receivedClose == nil, partner.canBeSent else { return }
            partner.send(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedPayload))
        case .connectionClose:
            guard receivedClose == nil else { return }
            let payload = frame.unmaskedPayload
            receivedClose = payload
            session.closeFrameReceived(from: side, payload: payload)
            if partner.canBeSent {
                partner.sendClose(payload)
            } else if partner.isGone, sentClose == nil {
                // Nobody is left to answer it: the relay does, with the same code, as an endpoint would.
                sendClose(payload)
            }
            closeIfHandshakeDone()
        default:
            return
        }
    }

    /// Called once each idle period: a side that sent nothing in it is pinged; one that answered nothing to the ping
    /// by the next check is taken for gone (a peer that stopped reading, a process frozen, a network that drops
    /// everything) and its connection closed, which ends the session as a dropped connection does: the partner is sent
    /// a close frame (1011 to a client, 1001 to an upstream) and the recording is finalized.
    private func scheduleIdleCheck() {
        guard let period = session.idleTimeout, let context, !isGone else { return }
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(in: period) { [self] in
            checkIdle()
            scheduleIdleCheck()
        }
    }

    private func checkIdle() {
        guard let context, !isGone, sentClose == nil, receivedClose == nil else { return }
        // While the relay holds this side's reads back (its partner cannot take more), its silence proves nothing.
        if readSinceCheck || holdsReads {
            pingOutstanding = false
            readSinceCheck = false
            return
        }
        if pingOutstanding {
            session.idleEnded(side)
            context.close(promise: nil)
            return
        }
        pingOutstanding = true
        send(WebSocketFrame(fin: true, opcode: .ping, data: Self.pingPayload))
        flushIfNeeded()
    }

    /// The partner is in its pipeline: the frames read meanwhile go on, and reading resumes.
    private func partnerReady() {
        guard let partner else { return }
        let frames = early
        early = []
        for frame in frames { relay(frame, to: partner) }
        partner.flushIfNeeded()
        if isGone { partner.partnerEnded() }
        resumeReading()
    }

    /// Whether frames may be written to this side: its connection is open and it was sent no close frame.
    private var canBeSent: Bool { context != nil && !isGone && sentClose == nil }

    private func send(_ frame: WebSocketFrame) {
        guard let context else { return }
        var frame = frame
        // A client masks every frame it sends with a key of its own; a server masks none (RFC 6455 §5.1).
        frame.maskKey = side == .upstream ? .random() : nil
        context.write(wrapOutboundOut(frame), promise: nil)
        needsFlush = true
    }

    private func sendClose(_ payload: ByteBuffer) {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        sentClose = promise.futureResult
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: side == .upstream ? .random() : nil, data: payload)
        context.writeAndFlush(wrapOutboundOut(frame), promise: promise)
        needsFlush = false
        if receivedClose == nil {
            closeTimer = context.eventLoop.scheduleTask(in: Self.closeTimeout) { [channel = context.channel] in
                channel.close(promise: nil)
            }
        } else {
            closeIfHandshakeDone()
        }
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    private func resumeReading() {
        guard heldRead, !holdsReads, let context else { return }
        heldRead = false
        context.read()
    }

    // MARK: Ending

    /// Both close frames have crossed this connection: it is closed once the last one is written.
    private func closeIfHandshakeDone() {
        guard receivedClose != nil, let sentClose, let context else { return }
        closeTimer?.cancel()
        sentClose.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }

    private func ended() {
        guard !isGone else { return }
        isGone = true
        closeTimer?.cancel()
        idleCheck?.cancel()
        guard let partner, partner.context != nil else { return }
        partner.partnerEnded()
    }

    /// The partner's connection ended: this side gets a close frame if it was sent none (its own close answered with
    /// its code; else 1011 for a client whose upstream is gone, 1001 for an upstream whose client went away), and is
    /// closed once it has answered.
    func partnerEnded() {
        guard !isGone else { return }
        if sentClose == nil {
            sendClose(receivedClose ?? Self.closePayload(side == .client ? .unexpectedServerError : .goingAway))
        } else {
            closeIfHandshakeDone()
        }
        resumeReading()
    }

    /// Closes this side's connection at once (its partner never joined).
    func closeConnection() {
        context?.close(promise: nil)
    }

    /// The relay shuts down: this side is sent a close frame (1001, going away) unless it was sent one already.
    func shutDown() {
        guard !isGone, sentClose == nil, context != nil else { return }
        sendClose(Self.closePayload(.goingAway))
    }

    static func closePayload(_ code: WebSocketErrorCode) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        return payload
    }
}
