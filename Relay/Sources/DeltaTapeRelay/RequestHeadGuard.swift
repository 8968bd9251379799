// Hand-written because neither SwiftNIO nor Hummingbird bounds a connection before its request head: NIO's decoder
// enforces size limits but answers nothing, and IdleStateHandler's read timeout is reset by each byte of a slowloris.
import NIOCore
import NIOHTTP1

/// Why a connection was answered and closed before its request head was taken: the status it got, in words, and the
/// `reason` label of `deltatape_relay_requests_refused_total`.
enum HeadRefusal: Sendable {
    /// The head did not arrive within the deadline (408).
    case timeout(seconds: Double)
    /// The head is not HTTP/1.1 the relay reads, or holds bytes a request target may not (400).
    case malformed(String)
    /// The request target is longer than the limit (414).
    case uriTooLong(limit: Int)
    /// The request head (target and header fields) is larger than the limit (431).
    case headersTooLarge(limit: Int)
    /// Every connection the relay allows is taken by sessions (503).
    case connectionLimit(Int)
    /// The relay needed this connection's place for a newer one, and this one had not yet sent its head (503).
    case evicted(Int)

    var status: (code: Int, phrase: String) {
        switch self {
        case .timeout: (408, "Request Timeout")
        case .malformed: (400, "Bad Request")
        case .uriTooLong: (414, "URI Too Long")
        case .headersTooLarge: (431, "Request Header Fields Too Large")
        case .connectionLimit, .evicted: (503, "Service Unavailable")
        }
    }

    var metricReason: String {
        switch self {
        case .timeout: "request_timeout"
        case .malformed: "bad_request"
        case .uriTooLong: "uri_too_long"
        case .headersTooLarge: "headers_too_large"
        case .connectionLimit: "connection_limit"
        case .evicted: "evicted"
        }
    }

    /// What the client reads in the answer's body.
    var sentence: String {
        switch self {
        case .timeout(let seconds):
            "the request head did not arrive within \(seconds) s (--request-timeout); send it at once after connecting"
        case .malformed(let what):
            "the request could not be read: \(what)"
        case .uriTooLong(let limit):
            "the request target is longer than \(limit) bytes; shorten the path and query"
        case .headersTooLarge(let limit):
            "the request head is larger than \(limit) bytes; send fewer or shorter headers"
        case .connectionLimit(let limit):
            "the relay has \(limit) connections open (--max-connections); try again later"
        case .evicted(let limit):
            "the relay has \(limit) connections open (--max-connections) and closed this one, which had not sent its request head"
        }
    }

    /// The relay's answer in the form a refused upgrade is answered with.
    var answer: RefusalAnswer {
        RefusalAnswer(status: status.code, reasonPhrase: status.phrase, contentType: "text/plain; charset=utf-8",
                      body: ByteBuffer(string: "deltatape relay: \(sentence)\n"))
    }

    /// The whole HTTP answer, written as it is to the socket (the HTTP encoder may not be in place, or be mid-way).
    var response: ByteBuffer {
        let answer = answer
        var bytes = ByteBuffer(string: "HTTP/1.1 \(answer.status) \(answer.reasonPhrase)\r\nConnection: close\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(answer.body.readableBytes)\r\n\r\n")
        bytes.writeImmutableBuffer(answer.body)
        return bytes
    }

    /// Why a request target cannot be passed on, or nil: every byte must be visible ASCII (RFC 9112 §3.2; raw bytes,
    /// spaces and controls such as NUL are percent-encoded by a well-behaved client).
    static func malformation(ofTarget target: String) -> HeadRefusal? {
        guard let bad = target.utf8.first(where: { !(0x21...0x7E).contains($0) }) else { return nil }
        return .malformed("the request target holds the byte 0x\(String(bad, radix: 16, uppercase: true)), which must be percent-encoded")
    }
}

/// The first handler of a client connection's pipeline until its request head has arrived: it closes a connection
/// whose head has not arrived within the deadline (408), answers the refusals the ``RequestHeadGuard/ErrorCatcher`` at
/// the pipeline's end finds (400, 414, 431) and the connection limit's (503), and tells 414 from 431 (NIO's decoder
/// reports both as `headerOverflow`) by whether the request line had ended.
///
/// An answer is written as raw bytes, then the sending side is closed and what the client still sends is read and
/// dropped until it closes (at most ``lingerTime``): closing at once with its bytes unread would reset the connection,
/// and the client might never read the answer.
final class RequestHeadGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a refused connection's remaining bytes are read before it is closed.
    static let lingerTime = TimeAmount.seconds(2)

    private let deadline: TimeAmount?
    private let timeoutSeconds: Double
    private let refused: (HeadRefusal) -> Void
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    /// Whether a line feed has arrived: the request line is complete.
    private(set) var requestLineEnded = false
    /// The connection was answered; everything it sends is dropped.
    private(set) var isRefused = false
    /// Told of the connection's bytes (the admission evicts silent connections first).
    private let activity: ConnectionActivity
    private var catcher: ErrorCatcher?

    /// - Parameters:
    ///   - timeoutSeconds: How long the head may take (0: no deadline).
    ///   - activity: Marked spoken at the connection's first bytes.
    ///   - refused: Called once with the reason when the connection is refused (for the metrics).
    init(timeoutSeconds: Double, activity: ConnectionActivity, refused: @escaping (HeadRefusal) -> Void) {
        self.timeoutSeconds = timeoutSeconds
        self.activity = activity
        deadline = timeoutSeconds > 0 ? .nanoseconds(Int64(timeoutSeconds * 1e9)) : nil
        self.refused = refused
    }

    /// The handler to put at the end of the pipeline, after NIO's HTTP handlers: it takes the decoder's errors.
    func makeErrorCatcher(uriLimit: Int, headerLimit: Int) -> ErrorCatcher {
        let catcher = ErrorCatcher(guard: self, uriLimit: uriLimit, headerLimit: headerLimit)
        self.catcher = catcher
        return catcher
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard let deadline else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [self] in
            refuse(.timeout(seconds: timeoutSeconds))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isRefused else { return }
        activity.markSpoken()
        if !requestLineEnded, unwrapInboundIn(data).readableBytesView.contains(0x0A) { requestLineEnded = true }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The refused client has closed its side: nothing is left to drop.
        if isRefused, case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The head has arrived (on the channel's loop): the deadline is off, and both handlers leave the pipeline.
    func headArrived() {
        guard !isRefused, let context else { return }
        timer?.cancel()
        if let catcher { context.pipeline.syncOperations.removeHandler(catcher, promise: nil) }
        catcher = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Answers the connection with `refusal`'s status and sentence and closes it (once; on the channel's loop).
    ///
    /// - Returns: false when the guard had left the pipeline already (the head had arrived) or had answered before.
    @discardableResult
    func refuse(_ refusal: HeadRefusal) -> Bool {
        guard !isRefused, let context else { return false }
        isRefused = true
        timer?.cancel()
        refused(refusal)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(refusal.response)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
        return true
    }

    /// The last handler of a connection's pipeline until its head arrived: NIO's decoder's errors (a head it cannot
    /// read, or larger than its limits) reach it and are answered by the guard.
    final class ErrorCatcher: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart

        private let headGuard: RequestHeadGuard
        private let uriLimit: Int
        private let headerLimit: Int

        fileprivate init(guard headGuard: RequestHeadGuard, uriLimit: Int, headerLimit: Int) {
            self.headGuard = headGuard
            self.uriLimit = uriLimit
            self.headerLimit = headerLimit
        }

        /// A plain request's head passes here (an upgrade request's is taken by NIO's upgrade handler before it).
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) {
                if let refusal = HeadRefusal.malformation(ofTarget: head.uri) {
                    headGuard.refuse(refusal)
                    return
                }
                context.fireChannelRead(data)
                headGuard.headArrived()
                return
            }
            context.fireChannelRead(data)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            guard let parserError = error as? HTTPParserError else {
                if case ByteToMessageDecoderError.dataReceivedInErrorState = error { return }
                context.fireErrorCaught(error)
                return
            }
            if parserError == .headerOverflow {
                headGuard.refuse(headGuard.requestLineEnded ? .headersTooLarge(limit: headerLimit) : .uriTooLong(limit: uriLimit))
            } else {
                headGuard.refuse(.malformed("it is not an HTTP/1.1 request head (\(parserError))"))
            }
        }
    }
}
