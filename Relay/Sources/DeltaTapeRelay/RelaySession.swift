import CoreMetrics
import DeltaTape
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// One relayed connection: the client's WebSocket (accepted by the server) and the upstream's (opened by the relay),
/// frames copied both ways as they come, and the recording beside them.
///
/// Each side is run by hummingbird-websocket's WebSocket handler of its own (the client's by ``RelayChildChannel``, the
/// upstream's here), so the two hand each other their writers and their ends through ``OneShot`` values. Forwarding never
/// waits for the recording: whole messages are offered to it, and a recording that falls behind is abandoned.
final class RelaySession: Sendable {
    enum Upstream: Sendable {
        /// Connected, with the subprotocol the upstream chose.
        case connected(WebSocketOutboundWriter, subprotocol: String?)
        /// Not connected: why (for the relay's line), and what the client is told.
        case failed(String, answer: RefusalAnswer)
    }

    /// How the upstream connection ended: its close frame, if it sent one.
    struct Ending: Sendable {
        var closeFrame: WebSocketCloseFrame?
        var error: String?
    }

    let number: Int
    let recording: ConnectionRecording
    private let metrics: RelayMetrics
    private let report: @Sendable (String) -> Void
    let upstream = OneShot<Upstream>()
    /// The client's writer once its upgrade completed; `nil` when it never will.
    let client = OneShot<ClientWriter>()
    let upstreamEnded = OneShot<Ending>()

    /// Optional values cannot be a ``OneShot``'s, whose unset state is `nil`.
    struct ClientWriter: Sendable { var writer: WebSocketOutboundWriter? }

    init(number: Int, recording: ConnectionRecording, metrics: RelayMetrics, report: @escaping @Sendable (String) -> Void) {
        self.number = number
        self.recording = recording
        self.metrics = metrics
        self.report = report
    }

    /// Opens the upstream connection (`target`: path and query) with `headers`; ``upstream`` says how that went.
    func connectUpstream(_ url: UpstreamURL, target: String, headers: HTTPFields, maximumFrameBytes: Int, logger: Logger) {
        Task {
            var ending = Ending()
            do {
                switch try await UpstreamHandshake.open(url, target: target, headers: headers, maximumFrameBytes: maximumFrameBytes) {
                case .refused(let answer):
                    let reason = "it answered \(answer.status) \(answer.reasonPhrase)"
                    ending.error = reason
                    upstream.set(.failed(reason, answer: answer))
                case .accepted(let frames, let subprotocol):
                    ending.closeFrame = try await WebSocketHandler.handle(
                        type: .client,
                        configuration: .init(extensions: [], autoPing: .disabled, closeTimeout: .seconds(10), validateUTF8: false,
                                             maxFrameSize: maximumFrameBytes),
                        asyncChannel: frames, context: RelayWebSocketContext(logger: logger)
                    ) { inbound, outbound, _ in
                        self.upstream.set(.connected(outbound, subprotocol: subprotocol))
                        guard let clientWriter = await self.client.value.writer else { return }
                        try await self.forward(inbound, to: clientWriter, direction: .received)
                    }
                }
            } catch {
                ending.error = "\(error)"
                upstream.set(.failed("\(error)", answer: .badGateway))
            }
            upstreamEnded.set(ending)
            if let clientWriter = client.current?.writer { await Self.close(clientWriter, after: ending) }
        }
    }

    /// The upstream is gone: the client's connection is closed with the upstream's code and reason.
    private static func close(_ clientWriter: WebSocketOutboundWriter, after ending: Ending) async {
        let code = sendable(ending.closeFrame?.closeCode, failed: ending.error != nil)
        try? await clientWriter.close(code, reason: ending.closeFrame?.reason)
    }

    /// Forwards the client's frames to the upstream until the client's side ends (its close frame, or the connection
    /// gone); ``clientClosed(with:)`` follows.
    func runClientSide(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        client.set(ClientWriter(writer: outbound))
        guard case .connected(let upstreamWriter, _) = await upstream.value else { return }
        do {
            try await forward(inbound, to: upstreamWriter, direction: .sent)
        } catch {
            // The client vanished, or the upstream can no longer be written: either way this connection ends.
        }
        // When the upstream ended first, the client gets its close frame before the handler's own (a second is not sent).
        if let ending = upstreamEnded.current { await Self.close(outbound, after: ending) }
    }

    /// Ends the upstream's side once the client's has ended: closed with the client's code and reason (1000 when the
    /// client sent none), unless the upstream's side ended first; returns when it has.
    func clientClosed(with closeFrame: WebSocketCloseFrame?) async {
        if upstreamEnded.current == nil, case .connected(let upstreamWriter, _) = await upstream.value {
            try? await upstreamWriter.close(Self.sendable(closeFrame?.closeCode, failed: false), reason: closeFrame?.reason)
        }
        _ = await upstreamEnded.value
    }

    /// Copies frames as they come, offering each whole message to the recording.
    private func forward(_ inbound: WebSocketInboundStream, to writer: WebSocketOutboundWriter, direction: MessageDirection) async throws {
        var message = MessageAssembler(limit: recording.messageByteLimit)
        for try await frame in inbound {
            let opcode: WebSocketOpcode = switch frame.opcode {
            case .text: .text
            case .binary: .binary
            case .continuation: .continuation
            }
            let byteCount = frame.data.readableBytes
            try await writer.write(.custom(WebSocketFrame(fin: frame.fin, opcode: opcode, data: frame.data)))
            if direction == .sent {
                metrics.framesToUpstream.increment()
                metrics.bytesToUpstream.increment(by: byteCount)
            } else {
                metrics.framesToClient.increment()
                metrics.bytesToClient.increment(by: byteCount)
            }
            guard let whole = message.add(frame.data, continues: frame.opcode == .continuation, isFinal: frame.fin) else { continue }
            if recording.take(whole, direction: direction, at: Date().timeIntervalSince1970) {
                metrics.recordingsAbandoned.increment()
                report("connection \(number): recording \(recording.path) abandoned: it fell \(recording.bufferBytes) bytes of "
                    + "messages behind (the disk or the encoder too slow); the file keeps the audio up to there; forwarding goes on")
            }
        }
    }

    /// A close code that may be sent: the codes that only say a close frame had none (1005), or that the connection
    /// dropped (1006, 1015), may not be.
    static func sendable(_ code: WebSocketErrorCode?, failed: Bool) -> WebSocketErrorCode {
        guard let code else { return failed ? .unexpectedServerError : .normalClosure }
        switch code {
        case .unknown(1005), .unknown(1006), .unknown(1015): return failed ? .unexpectedServerError : .normalClosure
        default: return code
        }
    }
}

/// Joins the frames of one message (a text or binary frame, then continuations until one is final).
struct MessageAssembler {
    let limit: Int
    private var bytes: [UInt8] = []
    private var oversized = false

    init(limit: Int) { self.limit = limit }

    /// Takes a frame's payload (`continues` for a continuation frame, `isFinal` for one with FIN); returns the message it completed, if it did (nothing for a message past the limit: the
    /// recording would skip it anyway, and holding it would take memory without bound).
    mutating func add(_ data: ByteBuffer, continues: Bool, isFinal: Bool) -> [UInt8]? {
        if !continues {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            oversized = false
        }
        if !oversized {
            if bytes.count + data.readableBytes > limit {
                oversized = true
                bytes = []
            } else {
                data.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
        }
        guard isFinal else { return nil }
        defer { bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20) }
        return oversized ? nil : bytes
    }
}
