import CoreMetrics
import DeltaTape
import Foundation
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket

/// One relayed connection: the client's WebSocket (accepted by the server) and the upstream's (opened by the relay),
/// frames copied both ways as they come, and the recording beside them.
///
/// Each side is run by a library callback of its own (the server's upgrade handler, the client library's connection
/// handler), so the two hand each other their writers and their ends through ``OneShot`` values. Forwarding never
/// waits for the recording: whole messages are offered to it, and a recording that falls behind is abandoned.
final class RelaySession: Sendable {
    enum Upstream: Sendable {
        case connected(WebSocketOutboundWriter)
        case failed(String)
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

    /// Opens the upstream connection; ``upstream`` says how that went.
    func connectUpstream(url: String, headers: HTTPFields, secure: Bool, maximumFrameBytes: Int, logger: Logger) {
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: maximumFrameBytes, additionalHeaders: headers, closeTimeout: .seconds(10), autoPing: .disabled)
        Task {
            var ending = Ending()
            do {
                ending.closeFrame = try await WebSocketClient.connect(
                    url: url, configuration: configuration,
                    tlsConfiguration: secure ? TLSConfiguration.makeClientConfiguration() : nil, logger: logger
                ) { inbound, outbound, _ in
                    self.upstream.set(.connected(outbound))
                    guard let clientWriter = await self.client.value.writer else { return }
                    try await self.forward(inbound, to: clientWriter, direction: .received)
                }
            } catch {
                ending.error = "\(error)"
                upstream.set(.failed("\(error)"))
            }
            upstreamEnded.set(ending)
            // The upstream is gone: the client's connection is closed with the upstream's code and reason.
            if let clientWriter = client.current?.writer {
                let code = Self.sendable(ending.closeFrame?.closeCode, failed: ending.error != nil)
                try? await clientWriter.close(code, reason: ending.closeFrame?.reason)
            }
        }
    }

    /// Runs the client's side of the connection until it ends, then ends the upstream's and the recording.
    func runClientSide(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        client.set(ClientWriter(writer: outbound))
        guard case .connected(let upstreamWriter) = await upstream.value else { return }
        do {
            try await forward(inbound, to: upstreamWriter, direction: .sent)
        } catch {
            // The client vanished, or the upstream can no longer be written: either way this connection ends.
        }
        if upstreamEnded.current == nil { try? await upstreamWriter.close(.normalClosure, reason: nil) }
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
