// A realtime API stand-in on loopback: per connection it replays the server side of a session log at real-time
// pace (after hearing the client's messages that came before each event), and records what it was sent.
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// What one upstream connection saw and did.
final class UpstreamConnection: Sendable {
    struct State {
        var received: [Frame] = []
        var sent: [Frame] = []
        /// When each sent message was handed to the connection.
        var sentAt: [ContinuousClock.Instant] = []
        /// The inbound stream ended (the peer closed, or the connection dropped).
        var inboundEnded = false
        var handlerEnded = false
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let path: String
    let query: String?
    /// Every header of the upgrade request, names lowercased, in order.
    let headers: [(name: String, value: String)]
    let state = Mutex(State())

    init(path: String, query: String?, headers: [(name: String, value: String)]) {
        self.path = path
        self.query = query
        self.headers = headers
    }

    var received: [Frame] { state.withLock { $0.received } }
    var sent: [Frame] { state.withLock { $0.sent } }
    var sentTimes: [ContinuousClock.Instant] { state.withLock { $0.sentAt } }
    var inboundEnded: Bool { state.withLock { $0.inboundEnded } }
    var handlerEnded: Bool { state.withLock { $0.handlerEnded } }

    /// The values of header `name` (any case).
    func header(_ name: String) -> [String] {
        headers.filter { $0.name == name.lowercased() }.map(\.value)
    }

    fileprivate func receive(_ frame: Frame) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.received.append(frame)
            let count = state.received.count
            let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
            state.waiters.removeAll { $0.count <= count }
            return ready
        }
        ready.forEach { $0.resume() }
    }

    fileprivate func endInbound() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inboundEnded = true
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        waiting.forEach { $0.resume() }
    }

    /// Waits until `count` messages were received or the inbound stream ended; returns whether it had to wait.
    fileprivate func waitUntilReceived(_ count: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            let waits = state.withLock { state -> Bool in
                guard state.received.count < count, !state.inboundEnded else { return false }
                state.waiters.append((count, continuation))
                return true
            }
            if !waits { continuation.resume() }
        } as Void
        return true
    }
}

/// A fake realtime API: a Hummingbird server with WebSocket upgrade on 127.0.0.1, port chosen by the system.
final class FakeUpstream: Sendable {
    /// How a connection ends after (or instead of) replaying its script.
    enum Ending: Sendable {
        /// Stays open after the script until the client closes (as a realtime API does).
        case waitForClient
        /// Closes with this code and reason after sending `afterServerMessages` messages.
        case close(code: UInt16, reason: String, afterServerMessages: Int)
    }

    struct Behaviour: Sendable {
        var script: SessionScript
        var pace: Double = RelayTestEnvironment.pace
        var ending: Ending = .waitForClient
        /// Answers the upgrade with 401 when the request has no Authorization header.
        var refusesWithoutAuthorization = false
        /// Which of the subprotocols the client offered the upgrade answers with (by position; nil for none): the
        /// first by default, as a realtime API picks "realtime".
        var subprotocolChoice: Int? = 0
        /// A subprotocol the upgrade answers with whatever the client offered (a misbehaving upstream), if any.
        var subprotocolAnswer: String?
    }

    let behaviour: Behaviour
    private let state = Mutex<(connections: [UpstreamConnection], refusals: Int)>(([], 0))

    init(_ behaviour: Behaviour) {
        self.behaviour = behaviour
    }

    /// The connections opened so far, in order.
    var connections: [UpstreamConnection] { state.withLock { $0.connections } }
    /// How many upgrade requests were refused.
    var refusals: Int { state.withLock { $0.refusals } }

    /// Runs the server for the duration of `body`, which gets the port.
    func run<Value: Sendable>(_ body: @Sendable (_ port: Int) async throws -> Value) async throws -> Value {
        let router = Router()
        // Plain HTTP requests. (An upgrade the WebSocket router declines is answered 400 by Hummingbird itself;
        // RefusingUpstream answers with a chosen status.)
        router.get("**") { _, _ in Response(status: .unauthorized) }
        let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
        webSocketRouter.ws("**") { [self] request, _ in
            if behaviour.refusesWithoutAuthorization, request.headers[.authorization] == nil {
                state.withLock { $0.refusals += 1 }
                return .dontUpgrade
            }
            var headers = HTTPFields()
            let offered = request.headers[values: .secWebSocketProtocol]
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let answer = behaviour.subprotocolAnswer {
                headers[.secWebSocketProtocol] = answer
            } else if let choice = behaviour.subprotocolChoice, offered.indices.contains(choice) {
                headers[.secWebSocketProtocol] = offered[choice]
            }
            return .upgrade(headers)
        } onUpgrade: { [self] inbound, outbound, context in
            let request = context.request
            let connection = UpstreamConnection(
                path: request.uri.path, query: request.uri.query,
                headers: request.headers.map { ($0.name.canonicalName.lowercased(), $0.value) })
            state.withLock { $0.connections.append(connection) }
            defer { connection.state.withLock { $0.handlerEnded = true } }
            try await serve(connection, inbound: inbound, outbound: outbound)
        }
        var logger = Logger(label: "fake-upstream")
        logger.logLevel = .critical
        let port = Mutex<Int?>(nil)
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: webSocketRouter,
                                           configuration: .init(ws: .init(maxFrameSize: 1 << 24, autoPing: .disabled))),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                port.withLock { $0 = bound }
                portContinuation.yield(bound)
                portContinuation.finish()
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var ports = portStream.makeAsyncIterator()
            guard let bound = await ports.next(), bound > 0 else {
                await services.triggerGracefulShutdown()
                throw HarnessError("the fake upstream did not start")
            }
            do {
                let value = try await body(bound)
                await services.triggerGracefulShutdown()
                group.cancelAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                group.cancelAll()
                throw error
            }
        }
    }

    /// Replays the script on one connection while recording everything it receives.
    private func serve(_ connection: UpstreamConnection, inbound: WebSocketInboundStream,
                       outbound: WebSocketOutboundWriter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        switch message {
                        case .text(let string): connection.receive(.text(string))
                        case .binary(let buffer): connection.receive(.binary(Array(buffer.readableBytesView)))
                        }
                    }
                } catch {}
                connection.endInbound()
            }
            var pacer = Pacer(pace: behaviour.pace)
            var sentCount = 0
            for step in behaviour.script.serverSteps {
                if case .close(let code, let reason, let after) = behaviour.ending, sentCount >= after {
                    try await outbound.close(.init(codeNumber: Int(code)), reason: reason)
                    return
                }
                if connection.received.count < step.clientMessagesBefore {
                    _ = await connection.waitUntilReceived(step.clientMessagesBefore)
                    if connection.inboundEnded { return }
                    pacer.resynchronize()
                }
                try await pacer.waitForTurn(of: step)
                if connection.inboundEnded { return }
                let sendingAt = ContinuousClock.now
                switch step.frame {
                case .text(let string): try await outbound.write(.text(string))
                case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                }
                connection.state.withLock {
                    $0.sent.append(step.frame)
                    $0.sentAt.append(sendingAt)
                }
                sentCount += 1
            }
            if case .close(let code, let reason, _) = behaviour.ending {
                try await outbound.close(.init(codeNumber: Int(code)), reason: reason)
                return
            }
            // Stay open until the client closes.
            try await group.next()
        }
    }
}

// Hummingbird's WebSocket router answers every declined upgrade with the same status of its own (400, measured),
// so an upstream that refuses with a status of the test's choosing answers on a plain socket.

/// An upstream that answers every request with one HTTP status (401, 403, 404: a refused upgrade); with `status` nil,
/// one that never answers: connections wait in its backlog, never accepted.
final class RefusingUpstream: Sendable {
    let port: Int
    private let listener: Int32
    private let requests = Shared<[String]>([])

    init(status: Int?, reason: String = "") throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw HarnessError("socket() failed") }
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { close(listener); throw HarnessError("could not listen on 127.0.0.1") }
        port = Int(UInt16(bigEndian: address.sin_port))
        guard let status else { return }
        let requests = self.requests
        let answer = Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".utf8)
        Thread {
            while true {
                let connection = accept(listener, nil, nil)
                if connection < 0 { break }
                var head: [UInt8] = []
                var byte: UInt8 = 0
                while read(connection, &byte, 1) == 1 {
                    head.append(byte)
                    if head.count >= 4, Array(head.suffix(4)) == [13, 10, 13, 10] { break }
                }
                requests.withLock { $0.append(String(decoding: head, as: UTF8.self)) }
                _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                close(connection)
            }
        }.start()
    }

    /// The request heads received so far.
    var requestHeads: [String] { requests.withLock { $0 } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
