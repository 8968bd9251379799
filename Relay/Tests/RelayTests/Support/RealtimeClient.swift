// The application side: a WebSocket client (HummingbirdWSClient) that streams the client side of a session log
// (microphone audio as input_audio_buffer.append, at real-time pace) and collects every message it receives.
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing

/// One client connection: what it sent and received so far (readable while it runs) and how it ended.
final class RealtimeClient: Sendable {
    struct Options: Sendable {
        var url: String
        var headers: [(name: String, value: String)] = []
        var script: SessionScript
        var pace: Double = RelayTestEnvironment.pace
        /// After sending its script the client waits for this many messages, then closes normally (1000). `nil`:
        /// it waits for the server to close.
        var closesAfterReceiving: Int?
        /// The longest the whole connection may take before the test gives up on it.
        var timeoutSeconds: Double = 120
    }

    struct State {
        var sent: [Frame] = []
        var received: [Frame] = []
        var sentAudioSeconds = 0.0
        var inboundEnded = false
        /// When each message arrived (for the pace bound of the stalled-recording test).
        var receivedAt: [ContinuousClock.Instant] = []
    }

    /// How the connection ended.
    struct Outcome: Sendable {
        var closeCode: UInt16?
        var closeReason: String?
        /// The connection failed (refused upgrade, dropped connection, timeout).
        var error: String?
    }

    let options: Options
    let state = Mutex(State())

    init(_ options: Options) { self.options = options }

    var sent: [Frame] { state.withLock { $0.sent } }
    var received: [Frame] { state.withLock { $0.received } }
    var receivedTimes: [ContinuousClock.Instant] { state.withLock { $0.receivedAt } }
    var receivedCount: Int { state.withLock { $0.received.count } }
    var sentCount: Int { state.withLock { $0.sent.count } }

    /// Connects, runs the script, and returns how the connection ended; never throws (a failure is the outcome).
    func run() async -> Outcome {
        var headers = HTTPFields()
        for (name, value) in options.headers {
            guard let field = HTTPField.Name(name) else { return Outcome(error: "bad header name \(name)") }
            headers.append(HTTPField(name: field, value: value))
        }
        let logger = { var logger = Logger(label: "relay-test-client"); logger.logLevel = .critical; return logger }()
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 24, additionalHeaders: headers, closeTimeout: .seconds(10))
        do {
            let closeFrame = try await withTimeout(seconds: options.timeoutSeconds) { [self] in
                try await WebSocketClient.connect(url: options.url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    try await self.converse(inbound: inbound, outbound: outbound)
                }
            }
            return Outcome(closeCode: closeFrame.map { code(of: $0.closeCode) }, closeReason: closeFrame?.reason)
        } catch {
            return Outcome(error: "\(error)")
        }
    }

    private func converse(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                do {
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        let frame: Frame = switch message {
                        case .text(let string): .text(string)
                        case .binary(let buffer): .binary(Array(buffer.readableBytesView))
                        }
                        state.withLock {
                            $0.received.append(frame)
                            $0.receivedAt.append(.now)
                        }
                    }
                } catch {}
                state.withLock { $0.inboundEnded = true }
            }
            var pacer = Pacer(pace: options.pace)
            for step in options.script.clientSteps {
                try await pacer.waitForTurn(of: step)
                if state.withLock({ $0.inboundEnded }) { break }
                do {
                    switch step.frame {
                    case .text(let string): try await outbound.write(.text(string))
                    case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                    }
                } catch {
                    break
                }
                state.withLock {
                    $0.sent.append(step.frame)
                    $0.sentAudioSeconds = pacer.audioSeconds
                }
            }
            if let expected = options.closesAfterReceiving {
                // Wait for the server's messages, then close from this side (the handler returning sends 1000).
                while state.withLock({ $0.received.count < expected && !$0.inboundEnded }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
                group.cancelAll()
                return
            }
            try await group.next()
        }
    }
}

/// The numeric value of a close code.
func code(of closeCode: WebSocketErrorCode) -> UInt16 {
    switch closeCode {
    case .normalClosure: 1000
    case .goingAway: 1001
    case .protocolError: 1002
    case .unacceptableData: 1003
    case .dataInconsistentWithMessage: 1007
    case .policyViolation: 1008
    case .messageTooLarge: 1009
    case .missingExtension: 1010
    case .unexpectedServerError: 1011
    case .unknown(let value): value
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "gave up after \(seconds) s" }
}

/// Runs `body`, cancelling it and throwing `TimeoutError` after `seconds`: a relay that hangs fails the test
/// instead of hanging the suite.
func withTimeout<Value: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimeoutError(seconds: seconds) }
        return value
    }
}

// A client that vanishes (its process died, its network went away) closes its TCP connection without the
// WebSocket closing handshake; WSClient always performs the handshake, so this client speaks the protocol itself.

/// A WebSocket client on a plain socket: upgrade, masked text frames, then an abrupt close.
final class VanishingClient: @unchecked Sendable {
    private let descriptor: Int32
    private let reader: Thread
    private let receivedBytes = Shared(0)

    /// Connects to `127.0.0.1:port` and upgrades `pathAndQuery`; throws unless the answer is 101.
    init(port: Int, pathAndQuery: String) throws {
        let descriptor = try connectToLoopback(port: port)
        self.descriptor = descriptor
        let request = "GET \(pathAndQuery) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try Self.writeAll(descriptor, Array(request.utf8))
        let head = readResponseHead(descriptor)
        guard head.ends(with: [13, 10, 13, 10]) else { close(descriptor); throw HarnessError("the relay closed during the upgrade") }
        let statusLine = String(decoding: head, as: UTF8.self).split(separator: "\r\n").first ?? ""
        guard statusLine.contains(" 101") else { close(descriptor); throw HarnessError("upgrade answered \(statusLine)") }
        let fd = descriptor, counter = receivedBytes
        reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                counter.withLock { $0 += count }
            }
        }
        reader.start()
    }

    /// Bytes of frames received so far (the connection is kept drained so the relay never blocks on it).
    var receivedByteCount: Int { receivedBytes.withLock { $0 } }

    /// Sends one masked text frame.
    func sendText(_ text: String) throws {
        let payload = Array(text.utf8)
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        try Self.writeAll(descriptor, Self.frameHead(opcode: 1, final: true, length: payload.count, mask: mask)
            + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
    }

    /// Sends one frame of `payload` (`opcode` 1 text, 2 binary, 0 a continuation; FIN when `final`), masked with a
    /// zero key (a valid key, and a 60 MiB payload needs no masking pass then).
    func sendFrame(opcode: UInt8, final: Bool, payload: [UInt8]) throws {
        try Self.writeAll(descriptor, Self.frameHead(opcode: opcode, final: final, length: payload.count, mask: [0, 0, 0, 0]))
        try Self.writeAll(descriptor, payload)
    }

    /// A masked frame's head (RFC 6455 §5.2): FIN and opcode, the length in 7, 16 or 64 bits, the masking key.
    private static func frameHead(opcode: UInt8, final: Bool, length: Int, mask: [UInt8]) -> [UInt8] {
        var head: [UInt8] = [(final ? 0x80 : 0) | opcode]
        if length < 126 {
            head.append(0x80 | UInt8(length))
        } else if length < 65536 {
            head += [0x80 | 126, UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            head.append(0x80 | 127)
            head += (0..<8).reversed().map { UInt8((length >> ($0 * 8)) & 0xFF) }
        }
        return head + mask
    }

    /// Drops the connection without a close frame.
    func vanish() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else { throw HarnessError("write to the relay failed (errno \(errno))") }
            offset += written
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether the bytes end with `suffix` (a response head with its blank line).
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}

/// Records an issue unless `outcome` ended without an error; the issue names the error and the relay's last lines,
/// so that a failure under a loaded suite says whether the client timed out, was refused, or was dropped.
func expectClean(_ outcome: RealtimeClient.Outcome, relay: RelayProcess, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.error == nil, "the client's connection failed: \(outcome.error ?? ""); the relay's last lines: \(relay.standardErrorLines.suffix(12))",
            sourceLocation: sourceLocation)
}
