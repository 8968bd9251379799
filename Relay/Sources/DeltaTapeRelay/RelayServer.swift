import CoreMetrics
public import DeltaTape
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A WebSocket relay that records (SPEC §9): clients connect to it as they would to the realtime API, it opens the
/// upstream connection with the client's path, query and credentials, forwards every frame both ways, and records
/// each connection with a ``SessionRecorder``.
///
/// ```swift
/// let relay = RelayServer(configuration: configuration) { line in print(line) }
/// try await relay.run { port in print("listening on \(port)") }   // until shutDown()
/// ```
public final class RelayServer: Sendable {
    public let configuration: RelayConfiguration
    let metrics = RelayMetrics()
    private let report: @Sendable (String) -> Void
    private let connectionCount = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)
    private let state = Mutex(State())
    /// The library loggers say nothing below critical: their messages can carry a request's URI, and its query may
    /// hold an API key (SPEC §9: never logged).
    private let quietLogger: Logger = {
        var logger = Logger(label: "deltatape-relay")
        logger.logLevel = .critical
        return logger
    }()

    private struct State {
        var sessions: [Int: RelaySession] = [:]
        var group: ServiceGroup?
        /// Each connection's end (its recording being finalized), by connection number, until it is done.
        var endings: [Int: Task<Void, Never>] = [:]
    }

    /// Creates a relay; nothing listens until ``run(listening:)``.
    ///
    /// - Parameters:
    ///   - configuration: Where to listen and forward, how to record.
    ///   - report: Receives one line per event a person should see (a finished or abandoned recording, a refused
    ///     connection); never a header or query.
    public init(configuration: RelayConfiguration, report: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.report = report
    }

    /// Serves until ``shutDown()`` finishes, then waits for every recording to be finalized.
    ///
    /// - Parameter listening: Called once the server listens, with the port (the one chosen when asked for 0).
    public func run(listening: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router(context: RelayRequestContext.self)
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { [self] _, _ in
            let lag = state.withLock { $0.sessions.values.reduce(0) { $0 + $1.recording.lagBytes } }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(recordingLagBytes: lag))))
        }
        let answer: @Sendable (Request, RelayRequestContext) async throws -> Response = { _, _ in
            Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(
                string: "deltatape relay: WebSocket connections are relayed; GET /healthz and /metrics are answered\n")))
        }
        router.get("/", use: answer)
        router.get("**", use: answer)

        let webSocketRouter = Router(context: RelayRequestContext.self)
        for path: RouterPath in ["/", "**"] {
            webSocketRouter.ws(path) { [self] request, context in
                await prepare(request, context: context)
            } onUpgrade: { inbound, outbound, context in
                guard let session = context.requestContext.slot.session.withLock({ $0 }) else { return }
                await session.runClientSide(inbound: inbound, outbound: outbound)
            }
        }
        let application = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: webSocketRouter,
                configuration: .init(ws: .init(maxFrameSize: configuration.maximumFrameBytes, autoPing: .disabled))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) },
            logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: quietLogger))
        state.withLock { $0.group = group }
        do {
            try await group.run()
        } catch {
            throw RelayError.cannotListen("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        // The server has stopped; connections' recordings (and abandoned ones) may still be finalizing.
        while let (number, ending) = state.withLock({ $0.endings.first.map { ($0.key, $0.value) } }) {
            await ending.value
            state.withLock { if $0.endings[number] == ending { $0.endings[number] = nil } }
        }
    }

    /// Stops taking connections (new ones are answered 503), lets the open ones go on for the grace period, then
    /// closes them; every recording is finalized before ``run(listening:)`` returns.
    public func shutDown() async {
        draining.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .milliseconds(Int(configuration.gracePeriodSeconds * 1_000))
        while metrics.openConnections > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await state.withLock({ $0.group })?.triggerGracefulShutdown()
    }

    /// Decides a client's upgrade: the upstream connection is opened first, and the client's upgrade is refused when
    /// the upstream's was.
    ///
    /// A refused upgrade is answered 400 whatever the reason: hummingbird-websocket writes that answer itself, and its
    /// client does not say which status the upstream gave (SPEC §9 asks for the upstream's status; see the relay's
    /// README section). The relay says on stderr what happened.
    private func prepare(_ request: Request, context: RelayRequestContext) async -> RouterShouldUpgrade {
        guard !draining.load(ordering: .relaxed) else {
            report("a connection was refused: the relay is shutting down")
            return .dontUpgrade
        }
        let number = connectionCount.add(1, ordering: .relaxed).newValue
        let recording = ConnectionRecording(
            number: number, start: Date().timeIntervalSince1970, configuration: configuration) { _ in }
        let session = RelaySession(number: number, recording: recording, metrics: metrics, report: report)
        session.connectUpstream(
            url: configuration.upstream.url(path: request.uri.path, query: request.uri.query),
            headers: Self.forwardedHeaders(request.headers), secure: configuration.upstream.isSecure,
            maximumFrameBytes: configuration.maximumFrameBytes, logger: quietLogger)
        if case .failed(let reason) = await session.upstream.value {
            session.client.set(.init(writer: nil))
            report("connection \(number): \(configuration.upstream) did not accept the connection (\(reason)); "
                + "the client's upgrade was refused and nothing was recorded")
            return .dontUpgrade
        }
        metrics.connectionOpened()
        state.withLock { $0.sessions[number] = session }
        context.slot.session.withLock { $0 = session }
        // A client that goes away between the upgrade's answer and its handler never runs it: its upstream is closed.
        Task {
            try? await Task.sleep(for: .seconds(30))
            session.client.set(.init(writer: nil))
        }
        state.withLock { $0.endings[number] = Task { await end(session) } }
        var headers = HTTPFields()
        // The first subprotocol the client offered is the one chosen (the upstream's choice is not exposed by the
        // WebSocket client library; realtime APIs choose the first, "realtime").
        if let offered = request.headers[.secWebSocketProtocol]?.split(separator: ",").first {
            headers[.secWebSocketProtocol] = offered.trimmingCharacters(in: .whitespaces)
        }
        return .upgrade(headers)
    }

    /// Waits for a connection's end, then finalizes its recording and says how it went.
    private func end(_ session: RelaySession) async {
        _ = await session.upstreamEnded.value
        // The client's side ends once the upstream's did (the relay closes it); an abandoned recording may be stuck
        // behind its sink, so it is finalized without holding the connection's end.
        let number = session.number
        let ending = Task { [self] in
            let line = await session.recording.end()
            if !session.recording.isAbandoned { metrics.recordingsFinished.increment() }
            report(line)
            state.withLock { _ = $0.sessions.removeValue(forKey: number) }
        }
        metrics.connectionClosed()
        if session.recording.isAbandoned {
            state.withLock { $0.endings[number] = ending }
        } else {
            await ending.value
            state.withLock { $0.endings[number] = nil }
        }
    }

    /// The client's headers an upstream needs (credentials, API versions, subprotocols); nothing else is passed on.
    static func forwardedHeaders(_ headers: HTTPFields) -> HTTPFields {
        var forwarded = HTTPFields()
        for name in forwardedHeaderNames {
            for value in headers[values: name] { forwarded.append(HTTPField(name: name, value: value)) }
        }
        return forwarded
    }

    static let forwardedHeaderNames: [HTTPField.Name] = [
        .authorization, .secWebSocketProtocol,
        HTTPField.Name("OpenAI-Beta")!, HTTPField.Name("OpenAI-Organization")!, HTTPField.Name("OpenAI-Project")!,
        HTTPField.Name("api-key")!, HTTPField.Name("x-goog-api-key")!,
    ]
}

/// The relay's request context: the session an upgrade prepared, for the handler that runs the connection.
struct RelayRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<RelayRequestContext>
    let slot: SessionSlot

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        slot = SessionSlot()
    }
}

/// Where an upgrade leaves its session for the handler that runs the connection.
final class SessionSlot: Sendable {
    let session = Mutex<RelaySession?>(nil)
}
