// The upstream's WebSocket handshake at the NIO level rather than through HummingbirdWSClient's WebSocketClient: that
// client reports a refused upgrade without its status and hides the subprotocol the upstream chose (SPEC §9 needs both).
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// How the upstream answered a relayed upgrade request.
enum UpstreamHandshake: Sendable {
    /// It switched protocols, choosing this subprotocol, if any; its connection went to `upgraded`.
    case accepted(subprotocol: String?)
    /// It answered with another status: what the client is to be told.
    case refused(RefusalAnswer)

    /// The most of a refusal's body passed on (realtime APIs answer with a short JSON error).
    static let refusalBodyLimit = 64 << 10

    /// Connects to `upstream` (TLS with the system's trust roots for `wss://`) and asks for a WebSocket upgrade of
    /// `target` with `headers`.
    ///
    /// - Parameters:
    ///   - eventLoop: The loop the connection runs on (the client's: the relay forwards without a hop between loops).
    ///   - upgraded: Called on `eventLoop` once the upgrade is done, NIO's frame encoder and decoder in place: adds the
    ///     handler that takes the connection's frames, before any is read.
    /// - Throws: When the upstream cannot be reached or its answer is not HTTP.
    static func open(_ upstream: UpstreamURL, target: String, headers: HTTPFields, maximumFrameBytes: Int, on eventLoop: any EventLoop,
                     upgraded: @escaping @Sendable (any Channel) throws -> Void) async throws -> UpstreamHandshake {
        let tls = try upstream.isSecure ? NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        let deadline = HandshakeDeadline()
        let stage = try await ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .connect(host: upstream.host, port: upstream.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: upstream.host))
                    }
                    return try configureUpgrade(channel, upstream: upstream, target: target, headers: headers,
                                                maximumFrameBytes: maximumFrameBytes, deadline: deadline, upgraded: upgraded)
                }
            }
        let reached: Stage
        do {
            reached = try await stage.get()
        } catch where deadline.passed.load(ordering: .relaxed) {
            // The deadline closed the connection; NIO's error for that says only that the channel closed.
            throw HandshakeTimedOut(seconds: Double(handshakeTimeout.nanoseconds) / 1e9)
        }
        switch reached {
        case .upgraded(let subprotocol):
            return .accepted(subprotocol: subprotocol)
        case .notUpgraded(let http):
            return .refused(try await readRefusal(http))
        }
    }

    /// Where the client upgrade handler leaves the connection: upgraded, or still HTTP with the refusal to read.
    private enum Stage: Sendable {
        case upgraded(subprotocol: String?)
        case notUpgraded(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
    }

    private static func configureUpgrade(_ channel: any Channel, upstream: UpstreamURL, target: String, headers: HTTPFields,
                                         maximumFrameBytes: Int, deadline passed: HandshakeDeadline,
                                         upgraded: @escaping @Sendable (any Channel) throws -> Void)
        throws -> EventLoopFuture<Stage> {
        // NIO's upgrader adds the frame encoder, decoder and protocol error handler (which answers a malformed frame
        // with a close frame); close frames themselves pass through to the relay's handler.
        let upgrader = NIOTypedWebSocketClientUpgrader<Stage>(maxFrameSize: maximumFrameBytes) { channel, response in
            channel.eventLoop.makeCompletedFuture {
                try upgraded(channel)
                return .upgraded(subprotocol: response.headers.first(name: "Sec-WebSocket-Protocol"))
            }
        }
        var requestHeaders = HTTPHeaders(headers)
        requestHeaders.replaceOrAdd(name: "Host", value: upstream.authority)
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: requestHeaders)
        let upgrade = NIOTypedHTTPClientUpgradeConfiguration<Stage>(upgradeRequestHead: request, upgraders: [upgrader]) { channel in
            // Any status but 101: the response (its head first) goes on to this channel, read by `readRefusal`.
            channel.eventLoop.makeCompletedFuture { .notUpgraded(try NIOAsyncChannel(wrappingChannelSynchronously: channel)) }
        }
        var configuration = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
        configuration.leftOverBytesStrategy = .forwardBytes
        let stage = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
        // An upstream that takes the connection but never answers the upgrade would hold the client for good.
        let deadline = channel.eventLoop.scheduleTask(in: handshakeTimeout) {
            passed.passed.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        stage.whenComplete { result in
            deadline.cancel()
            // A failed upgrade (an Accept for another key, a switch to another protocol, an answer that is not HTTP)
            // leaves nobody to close the connection: the caller only sees the error.
            if case .failure = result { channel.close(promise: nil) }
        }
        return stage
    }

    /// How long the upstream may take to answer the upgrade request once connected.
    static let handshakeTimeout = TimeAmount.seconds(10)

    /// Whether ``handshakeTimeout`` passed before the upstream answered (its task closed the connection).
    final class HandshakeDeadline: Sendable {
        let passed = Atomic<Bool>(false)
    }

    /// The upstream took the connection and did not answer the upgrade request within ``handshakeTimeout``.
    struct HandshakeTimedOut: Error {
        let seconds: Double
    }

    /// Reads a refused upgrade's response (a body up to ``refusalBodyLimit``, for at most 10 seconds), then closes.
    private static func readRefusal(_ http: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>) async throws -> RefusalAnswer {
        let deadline = http.channel.eventLoop.scheduleTask(in: .seconds(10)) { http.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await http.executeThenClose { inbound, _ in
            var answer: RefusalAnswer?
            reading: for try await part in inbound {
                switch part {
                case .head(let head):
                    answer = RefusalAnswer(status: Int(head.status.code), reasonPhrase: head.status.reasonPhrase,
                                           contentType: head.headers.first(name: "Content-Type"))
                case .body(var bytes):
                    let room = refusalBodyLimit - (answer?.body.readableBytes ?? refusalBodyLimit)
                    guard room > 0 else { break reading }
                    if let slice = bytes.readSlice(length: min(room, bytes.readableBytes)) { answer?.body.writeImmutableBuffer(slice) }
                case .end:
                    break reading
                }
            }
            guard let answer else { throw ChannelError.inputClosed }
            return answer
        }
    }
}

/// The answer a client gets when its upgrade is refused: the upstream's status, content type and body, or the relay's own.
struct RefusalAnswer: Sendable {
    var status: Int
    var reasonPhrase: String
    var contentType: String?
    var body = ByteBuffer()

    /// The relay's answer when the upstream cannot be reached or answers nothing sensible.
    static let badGateway = RefusalAnswer(status: 502, reasonPhrase: "Bad Gateway", contentType: "text/plain; charset=utf-8",
                                          body: ByteBuffer(string: "deltatape relay: the upstream could not be reached\n"))

    /// The relay's answer to a request it will not pass on (`reason`: why, for the client to read).
    static func badRequest(_ reason: String) -> RefusalAnswer {
        RefusalAnswer(status: 400, reasonPhrase: "Bad Request", contentType: "text/plain; charset=utf-8",
                      body: ByteBuffer(string: "deltatape relay: \(reason)\n"))
    }

    /// The relay's answer while it shuts down.
    static let shuttingDown = RefusalAnswer(status: 503, reasonPhrase: "Service Unavailable", contentType: "text/plain; charset=utf-8",
                                            body: ByteBuffer(string: "deltatape relay: shutting down\n"))
}
