// The clients' connections, set up here rather than by hummingbird-websocket's HTTP1WebSocketUpgradeChannel: that one
// answers every refused upgrade 400 itself and never shows its handler the client's close frame (SPEC §9 needs both).
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// What the relay decided about a client's upgrade request.
enum UpgradeDecision: Sendable {
    /// Upgrade, answering with the subprotocol the upstream chose; the session runs the connection.
    case accept(RelaySession, subprotocol: String?)
    /// Refuse with this answer.
    case refuse(RefusalAnswer)
}

/// One client connection of the relay: a WebSocket upgrade decided by `decide` (which opens the upstream), or plain
/// HTTP for Hummingbird's router (`/healthz`, `/metrics`).
struct RelayChildChannel: ServerChildChannel, HTTPChannelHandler {
    enum Outcome: Sendable {
        case webSocket(RelaySession)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, RefusalAnswer)
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// The head guard answered the connection (it lost its place to a newer one as its head arrived) and closes it.
        case answeredByGuard
    }

    struct Value: ServerChildChannelValue {
        let outcome: EventLoopFuture<Outcome>
        let channel: any Channel
    }

    /// The decision of one connection's upgrade, from `shouldUpgrade` to the handlers that act on it.
    private final class DecisionSlot: Sendable {
        let decision = Mutex<UpgradeDecision?>(nil)
    }

    let responder: HTTPChannelHandler.Responder
    let maximumFrameBytes: Int
    /// The connection limit every accepted connection goes through.
    let admission: ConnectionAdmission
    /// How long a connection may take to send its request head (0: no deadline).
    let requestTimeoutSeconds: Double
    /// Told of each connection answered before its head was taken (for the metrics).
    let refused: @Sendable (HeadRefusal) -> Void
    /// Decides an upgrade request; the upstream is to be opened on the given loop (the client's).
    let decide: @Sendable (HTTPRequestHead, any EventLoop) async -> UpgradeDecision

    /// The longest request target read (NIO's decoder counts it as a field of the head; longer ones get 414).
    static let requestTargetLimit = 16 << 10
    /// The largest request head read, target and header fields (larger ones get 431); realtime clients send 1-2 KB.
    static let requestHeadLimit = 32 << 10

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // A peer that vanished (a machine gone, a cable pulled) sends nothing, not even a FIN: TCP's keepalive
            // finds it where the kernel's settings say.
            try channel.syncOptions?.setOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            let activity = ConnectionActivity()
            let headGuard = RequestHeadGuard(timeoutSeconds: requestTimeoutSeconds, activity: activity, refused: refused)
            try channel.pipeline.syncOperations.addHandler(headGuard)
            let boundGuard = NIOLoopBound(headGuard, eventLoop: channel.eventLoop)
            let limit = admission.limit
            guard let ticket = admission.admit(activity: activity, evict: {
                channel.eventLoop.execute {
                    // Answered already (as its head arrived, see shouldUpgrade): the guard closes it.
                    guard !boundGuard.value.isRefused else { return }
                    // Past its head (a plain request): closed without an answer.
                    if !boundGuard.value.refuse(.evicted(limit)) { channel.close(promise: nil) }
                }
            }) else {
                headGuard.refuse(.connectionLimit(limit))
                return Value(outcome: channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState), channel: channel)
            }
            channel.closeFuture.whenComplete { [admission] _ in admission.release(ticket) }
            let slot = DecisionSlot()
            let upgrader = NIOTypedWebSocketServerUpgrader<Outcome>(
                maxFrameSize: maximumFrameBytes,
                shouldUpgrade: { [admission] channel, head in
                    if let refusal = HeadRefusal.malformation(ofTarget: head.uri) {
                        boundGuard.value.headArrived()
                        refused(refusal)
                        slot.decision.withLock { $0 = .refuse(refusal.answer) }
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    // The place was given to a newer connection just before the head arrived: answered 503 as an
                    // eviction, and the upstream is never asked.
                    guard admission.markSession(ticket) else {
                        boundGuard.value.refuse(.evicted(limit))
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    boundGuard.value.headArrived()
                    let promise = channel.eventLoop.makePromise(of: UpgradeDecision.self)
                    promise.completeWithTask { await decide(head, channel.eventLoop) }
                    return promise.futureResult.map { decision in
                        slot.decision.withLock { $0 = decision }
                        guard case .accept(let session, let subprotocol) = decision else { return nil }
                        session.clientAccepted(channel)
                        return subprotocol.map { HTTPHeaders([("Sec-WebSocket-Protocol", $0)]) } ?? HTTPHeaders()
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .accept(let session, _) = slot.decision.withLock({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                        try session.attachClient(channel)
                        return .webSocket(session)
                    }
                })
            // A plain request (`/healthz`, `/metrics`) is Hummingbird's; a connection kept alive after it is closed
            // once idle for the request deadline (Hummingbird counts whole requests, so a slow second head is too).
            let idleTimeout: Duration? = requestTimeoutSeconds > 0 ? .milliseconds(Int64(requestTimeoutSeconds * 1_000)) : nil
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration<Outcome>(upgraders: [upgrader]) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Refused as its head arrived (its place was taken, see shouldUpgrade): the guard answered it.
                    if boundGuard.value.isRefused { return .answeredByGuard }
                    try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                    let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    if case .refuse(let answer) = slot.decision.withLock({ $0 }) { return .refused(http, answer) }
                    return .http(http)
                }
            }
            // As Hummingbird's own channel: no pipelining (NIOAsyncChannel reads one request at a time), header
            // validation left to Hummingbird and swift-http-types. The decoder's errors are answered by the head guard
            // (NIO's own handler answers every one 400, and closes with the client's bytes unread).
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = Self.requestTargetLimit
            configuration.decoderConfiguration.maxHeaderListSize = Self.requestHeadLimit
            let outcome = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try channel.pipeline.syncOperations.addHandler(
                headGuard.makeErrorCatcher(uriLimit: Self.requestTargetLimit, headerLimit: Self.requestHeadLimit))
            return Value(outcome: outcome, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let outcome = try? await value.outcome.get() else { return }
        switch outcome {
        case .http(let http):
            await handleHTTP(asyncChannel: http, logger: logger)
        case .refused(let http, let answer):
            try? await Self.write(answer, to: http)
        case .answeredByGuard:
            try? await value.channel.closeFuture.get()
        case .webSocket(let session):
            // The frames flow on the event loop (RelayGlue); this task only waits for both connections to close. The
            // server's graceful shutdown is how a drain begins, and leaves sessions be: the relay closes those left
            // when the drain ends (RelayServer.stop()).
            await session.finished()
        }
    }

    /// Answers a refused upgrade and closes the connection.
    private static func write(_ answer: RefusalAnswer, to http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>) async throws {
        var headers: HTTPFields = [.connection: "close", .contentLength: "\(answer.body.readableBytes)"]
        if let contentType = answer.contentType { headers[.contentType] = contentType }
        let head = HTTPResponse(status: .init(code: answer.status, reasonPhrase: answer.reasonPhrase), headerFields: headers)
        try await http.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(answer.body), .end(nil)])
        }
    }
}
