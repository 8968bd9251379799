import CoreMetrics
import DeltaTape
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import ServiceLifecycle
import Synchronization

/// A WebSocket relay that records (SPEC §9): clients connect to it as they would to the realtime API, it opens the
/// upstream connection with the client's path, query and credentials, forwards every frame both ways, and records
/// each connection with a ``SessionRecorder``.
///
/// ```swift
/// let relay = RelayServer(configuration: configuration) { line in print(line) }
/// try await relay.run { port in print("listening on \(port)") }   // until drained (stop())
/// ```
///
/// Stopping is a drain, for deploys behind a load balancer: the first ``stop()`` closes the listening socket (a
/// balancer's next connection is refused, and it tries the next relay) and `/healthz` answers 503, while the open
/// sessions go on until they end or ``RelayConfiguration/drainTimeoutSeconds`` passes; a second ``stop()`` closes
/// them at once (1001, going away). Every recording is finalized before ``run(listening:)`` returns.
public final class RelayServer: Sendable {
    public let configuration: RelayConfiguration
    let metrics = RelayMetrics()
    private let names: RecordingNames
    /// The memory every session's recording shares (``RelayConfiguration/recordingMemoryBytes``).
    private let memoryBudget: RecordingMemoryBudget
    private let report: @Sendable (RelayEvent) -> Void
    private let connectionCount = Atomic<Int>(0)
    /// ``Phase``'s raw value: serving, draining, closing.
    private let phase = Atomic<Int>(Phase.serving.rawValue)
    private let state = Mutex(State())
    /// The library loggers say nothing below critical: their messages can carry a request's URI, and its query may
    /// hold an API key (SPEC §9: never logged).
    private let quietLogger: Logger = {
        var logger = Logger(label: "deltatape-relay")
        logger.logLevel = .critical
        return logger
    }()

    private struct State {
        /// The recordings of the sessions open or finalizing, by connection number.
        var recordings: [Int: ConnectionRecording] = [:]
        var group: ServiceGroup?
        /// Each connection's end (its recording being finalized), by connection number, until it is done.
        var endings: [Int: Task<Void, Never>] = [:]
        /// The sessions open, by connection number: closed by the relay itself when a drain ends (its timeout, a
        /// second stop), never by the server's graceful shutdown, which is how a drain begins.
        var sessions: [Int: RelaySession] = [:]
    }

    /// Where the relay is in its life: taking sessions, draining (taking none, the open ones going on), closing
    /// (the open ones being closed and finalized).
    private enum Phase: Int {
        case serving, draining, closing
    }

    /// What a call of ``stop()`` did.
    public enum StopProgress: Sendable, Equatable {
        /// A drain began: the listening socket is closed, and `openSessions` go on for at most `timeoutSeconds`.
        case drainBegan(openSessions: Int, timeoutSeconds: Double)
        /// The drain was cut short: the `openSessions` left are being closed (1001) and their recordings finalized.
        case closingNow(openSessions: Int)
        /// The relay was closing already.
        case closingAlready
    }

    /// Creates a relay; nothing listens until ``run(listening:)``.
    ///
    /// - Parameters:
    ///   - configuration: Where to listen and forward, how to record.
    ///   - report: Receives each event: the ones a person should see (``RelayEvent/isProse``: a finished or abandoned
    ///     recording, a refused connection) and the steps of each connection a log pipeline joins; never a header or
    ///     query. (What it receives
    ///     connection); never a header or query.
    public init(configuration: RelayConfiguration, report: @escaping @Sendable (RelayEvent) -> Void) {
        self.configuration = configuration
        self.report = report
        names = RecordingNames(first: configuration.namesForTests)
        memoryBudget = RecordingMemoryBudget(bytes: configuration.recordingMemoryBytes)
    }

    /// Serves until ``shutDown()`` finishes, then waits for every recording to be finalized.
    ///
    /// - Parameter listening: Called once the server listens, with the port (the one chosen when asked for 0).
    public func run(listening: @escaping @Sendable (Int) -> Void) async throws {
        let router = operationsRouter()
        let answer: @Sendable (Request, PeerRequestContext) async throws -> Response = { _, _ in
            Self.text(.notFound, "deltatape relay: WebSocket connections are relayed; GET /healthz and /metrics are answered\n")
        }
        router.get("/", use: answer)
        router.get("**", use: answer)

        let maximumFrameBytes = configuration.maximumFrameBytes, requestTimeout = configuration.requestTimeoutSeconds
        let admission = ConnectionAdmission(limit: configuration.maximumConnections)
        let application = Application(
            router: router,
            server: HTTPServerBuilder { [self] responder in
                RelayChildChannel(responder: responder, maximumFrameBytes: maximumFrameBytes, admission: admission,
                                  requestTimeoutSeconds: requestTimeout, refused: { [metrics] in metrics.refused($0) }) { [self] in
                    await prepare($0, on: $1)
                }
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) },
            logger: quietLogger)
        // A drain is the group's graceful shutdown, which shuts services down one at a time in reverse order: the
        // relay's port first (Hummingbird closes its listening socket at once, then waits for every connection to
        // close), the operations port, first in the list, only once the last session is over.
        var services: [any Service] = []
        if let admin = configuration.adminAddress {
            // Open until the relay exits: through a drain, when the relay's own port is closed, /healthz and
            // /metrics are still there to ask.
            let operations = Application(router: operationsRouter(), configuration: .init(address: .hostname(admin.host, port: admin.port)),
                                         onServerRunning: { [report] channel in
                                             let port = channel.localAddress?.port ?? 0
                                             report(RelayEvent(.listening, "operations (GET /healthz, /metrics, POST /drain) on \(admin.host):\(port)",
                                                               fields: [("operations_port", .stringConvertible(port))]))
                                         },
                                         logger: quietLogger)
            services.append(operations)
        }
        services.append(application)
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: quietLogger))
        // A stop that came before the group was made begins its drain now.
        let stopped = state.withLock { state in
            state.group = group
            return phase.load(ordering: .relaxed) != Phase.serving.rawValue
        }
        if stopped { Task { await group.triggerGracefulShutdown() } }
        // What a relay killed before this one left: rebuilt beside the new sessions, never holding them up.
        // (Recordings into object storage keep none: a killed relay leaves their spools, for deltatape repair.)
        if configuration.objectStorage == nil { LeftJournals.rebuild(in: configuration.outputDirectory, report: report) }
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

    /// Stops the relay, in two steps (SIGTERM runs it; so does `POST /drain` from this machine):
    ///
    /// 1. The first call begins a drain. The listening socket is closed at once, so that a load balancer's next
    ///    connection is refused and goes to another relay (nginx: `proxy_next_upstream error`); `/healthz` answers
    ///    503 on the connections still open and on ``RelayConfiguration/adminAddress``; `deltatape_relay_draining` is
    ///    1. The open sessions go on until they end, or until ``RelayConfiguration/drainTimeoutSeconds`` passes and
    ///    they are closed (1001, going away).
    /// 2. A second call closes the sessions left at once.
    ///
    /// Either way every recording is finalized before ``run(listening:)`` returns.
    @discardableResult
    public func stop() -> StopProgress {
        let (began, current) = phase.compareExchange(expected: Phase.serving.rawValue, desired: Phase.draining.rawValue,
                                                     ordering: .relaxed)
        if began {
            metrics.draining.record(1)
            let open = metrics.openConnections
            Task {
                await state.withLock({ $0.group })?.triggerGracefulShutdown()
                await closeWhenDrained()
            }
            return .drainBegan(openSessions: open, timeoutSeconds: configuration.drainTimeoutSeconds)
        }
        guard current == Phase.draining.rawValue,
              phase.compareExchange(expected: Phase.draining.rawValue, desired: Phase.closing.rawValue, ordering: .relaxed).exchanged
        else { return .closingAlready }
        let open = state.withLock { $0.sessions.count }
        Task { await closeSessionsLeft() }
        return .closingNow(openSessions: open)
    }

    /// Closes every open session (1001 to each side), again every 200 ms until none is left: one whose upgrade was
    /// being decided as the relay began closing is closed once it runs. Their recordings are finalized as they end.
    private func closeSessionsLeft() async {
        while case let sessions = state.withLock({ Array($0.sessions.values) }), !sessions.isEmpty {
            for session in sessions { session.shutDown() }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Waits for the drain timeout, and then closes the sessions left. It waits even when none is open (the relay
    /// exits once its last connection is over, with this task pending): a session whose upgrade was being decided as
    /// the drain began is registered a moment later, and must meet the timeout, or a second stop, as the others do.
    private func closeWhenDrained() async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(configuration.drainTimeoutSeconds * 1_000))
        while ContinuousClock.now < deadline, phase.load(ordering: .relaxed) == Phase.draining.rawValue {
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard phase.compareExchange(expected: Phase.draining.rawValue, desired: Phase.closing.rawValue, ordering: .relaxed).exchanged
        else { return }  // a second stop() is closing them
        let left = state.withLock { $0.sessions.count }
        guard left > 0 else { return }
        report(RelayEvent(.draining, level: .warning,
                          "the drain timeout (\(configuration.drainTimeoutSeconds) s) passed: closing the \(left) open session"
                            + "\(left == 1 ? "" : "s") (1001, going away) and finalizing their recordings",
                          fields: [("sessions_open", .stringConvertible(left)), ("step", .string("timed_out"))]))
        await closeSessionsLeft()
    }

    /// The routes of a relay's operations, on its own port and on ``RelayConfiguration/adminAddress``: `GET /healthz`
    /// (200 `ok`, 503 `draining` once a drain began), `GET /metrics` (Prometheus text), `POST /drain` (from this
    /// machine only: the first begins a drain, as SIGTERM does).
    private func operationsRouter() -> Router<PeerRequestContext> {
        let router = Router(context: PeerRequestContext.self)
        router.get("healthz") { [self] _, _ in
            phase.load(ordering: .relaxed) == Phase.serving.rawValue ? Self.text(.ok, "ok\n") : Self.text(.serviceUnavailable, "draining\n")
        }
        router.get("metrics") { [self] _, _ in
            let lag = state.withLock { $0.recordings.values.reduce(0) { $0 + $1.lagBytes } }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(recordingLagBytes: lag,
                                                                                          recordingMemoryBytes: memoryBudget.heldBytes))))
        }
        router.post("drain") { [self] _, context in
            guard context.isFromThisMachine else {
                return Self.text(.forbidden, "deltatape relay: POST /drain is taken from this machine (loopback) only\n")
            }
            switch phase.load(ordering: .relaxed) == Phase.serving.rawValue ? stop() : .closingAlready {
            case .drainBegan(let open, let timeout):
                report(Self.drainEvent(openSessions: open, timeoutSeconds: timeout, by: "POST /drain"))
                return Self.text(.accepted, "draining: \(open) open session\(open == 1 ? "" : "s") may go on for up to \(timeout) s\n")
            case .closingNow, .closingAlready:
                return Self.text(.accepted, "draining already: \(metrics.openConnections) open session\(metrics.openConnections == 1 ? "" : "s") left\n")
            }
        }
        return router
    }

    /// What the relay says when a drain begins, `by` what (SIGTERM, POST /drain).
    public static func drainEvent(openSessions: Int, timeoutSeconds: Double, by cause: String) -> RelayEvent {
        RelayEvent(.draining, level: .notice,
                   "\(cause): draining: taking no more connections (the listening socket is closed, /healthz answers 503); the "
                    + "\(openSessions) open session\(openSessions == 1 ? "" : "s") may go on for up to \(timeoutSeconds) s (stop again to "
                    + "close them now)",
                   fields: [("sessions_open", .stringConvertible(openSessions)), ("step", .string("began")), ("by", .string(cause))])
    }

    /// A plain-text answer.
    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Decides a client's upgrade: the upstream connection is opened first, and the client's upgrade is answered as
    /// the upstream's was: accepted with the subprotocol it chose, or refused with its status, content type and body
    /// (502 when it could not be reached, 503 while the relay shuts down). The relay says on stderr what happened.
    /// The upstream connection runs on `eventLoop`, the client's.
    private func prepare(_ request: HTTPRequestHead, on eventLoop: any EventLoop) async -> UpgradeDecision {
        guard phase.load(ordering: .relaxed) == Phase.serving.rawValue else {
            report(RelayEvent(.refused, level: .warning, "a connection was refused: the relay is shutting down",
                              fields: [("reason", .string("draining")), ("status", .stringConvertible(503))]))
            return .refuse(.shuttingDown)
        }
        let (path, query) = Self.pathAndQuery(request.uri)
        if Self.hasDotSegment(path) {
            report(RelayEvent(.refused, level: .warning, "a connection was refused: its path has a . or .. segment, which the relay does not pass on",
                              fields: [("reason", .string("dot_segment")), ("status", .stringConvertible(400))]))
            return .refuse(.badRequest("the path may not hold . or .. segments (they would reach the upstream as they are)"))
        }
        let number = connectionCount.add(1, ordering: .relaxed).newValue
        report(RelayEvent(.accepted, connection: number, "connection \(number): an upgrade to \(path)", fields: [("path", .string(path))],
                          isProse: false))
        let start = configuration.startForTests ?? Date().timeIntervalSince1970
        let idle = configuration.idleTimeoutSeconds > 0 ? TimeAmount.nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)) : nil
        let session = RelaySession(number: number, messageByteLimit: configuration.recordedMessageByteLimit,
                                   memoryBudget: memoryBudget, metrics: metrics, eventLoop: eventLoop, idleTimeout: idle, report: report)
        session.connectUpstream(
            configuration.upstream, target: configuration.upstream.requestTarget(path: path, query: query),
            headers: Self.forwardedHeaders(HTTPFields(request.headers, splitCookie: false)),
            maximumFrameBytes: configuration.maximumFrameBytes)
        let subprotocol: String?
        switch await session.upstream.value {
        case .failed(let reason, let answer):
            report(RelayEvent(.upstreamRefused, level: .warning, connection: number,
                              "connection \(number): \(configuration.upstream) did not accept the connection (\(reason)); "
                                + "the client's upgrade was refused with \(answer.status) and nothing was recorded",
                              fields: [("status", .stringConvertible(Int(answer.status)))]))
            return .refuse(answer)
        case .connected(let chosen):
            // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
            if let chosen, !Self.offeredSubprotocols(request.headers).contains(chosen) {
                session.closeUpstream()
                report(RelayEvent(.upstreamRefused, level: .warning, connection: number,
                                  "connection \(number): \(configuration.upstream) chose a subprotocol the client did not offer; "
                                    + "the client's upgrade was refused with 502 and nothing was recorded",
                                  fields: [("status", .stringConvertible(502))]))
                return .refuse(.badGateway)
            }
            subprotocol = chosen
            report(RelayEvent(.upstreamConnected, connection: number, "connection \(number): \(configuration.upstream) accepted",
                              fields: chosen.map { [("subprotocol", .string($0))] } ?? [], isProse: false))
        }
        // Only now, with the upstream's acceptance: a refused upgrade leaves no thread, descriptor or file behind.
        let recording: ConnectionRecording?
        do throws(RecordingFailure) {
            recording = try ConnectionRecording(number: number, start: start, configuration: configuration, names: names,
                                                memoryBudget: memoryBudget) { _ in }
        } catch {
            // Said now, not at the session's end: the conversation goes on, unrecorded.
            metrics.recordingFailed(reason: error.reason)
            report(RelayEvent(.recordingFailed, level: .error, connection: number,
                              "connection \(number): nothing is recorded: \(error.message); the session goes on unrecorded",
                              fields: [("reason", .string(error.reason))]))
            recording = nil
        }
        if let recording { await session.startRecording(recording) }
        metrics.connectionOpened()
        state.withLock {
            $0.sessions[number] = session
            if let recording { $0.recordings[number] = recording }
            $0.endings[number] = Task { await end(session, recording: recording) }
        }
        return .accept(session, subprotocol: subprotocol)
    }

    /// Whether a path has a `.` or `..` segment, spelled plainly or percent-encoded (`%2e`).
    static func hasDotSegment(_ path: String) -> Bool {
        path.split(separator: "/", omittingEmptySubsequences: false).contains { segment in
            let decoded = segment.replacingOccurrences(of: "%2e", with: ".", options: .caseInsensitive)
            return decoded == "." || decoded == ".."
        }
    }

    /// The subprotocols a client offered, from every `Sec-WebSocket-Protocol` header's list.
    static func offeredSubprotocols(_ headers: HTTPHeaders) -> [String] {
        headers["Sec-WebSocket-Protocol"].flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// The path and query of a request target (`/v1/realtime?model=…`).
    static func pathAndQuery(_ target: String) -> (path: String, query: String?) {
        guard let mark = target.firstIndex(of: "?") else { return (target, nil) }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }

    /// Waits for a connection's end, then finalizes its recording and says how it went.
    private func end(_ session: RelaySession, recording: ConnectionRecording?) async {
        await session.finished()
        state.withLock { _ = $0.sessions.removeValue(forKey: session.number) }
        report(Self.closedEvent(session))
        guard let recording else {
            metrics.connectionClosed()
            state.withLock { $0.endings[session.number] = nil }
            return
        }
        // An abandoned recording may be stuck behind its sink, so it is finalized without holding the connection's end.
        let number = session.number
        let ending = Task { [self] in
            let (line, outcome, audioSeconds, key) = await recording.end()
            switch outcome {
            case .finished: metrics.recordingsFinished.increment()
            case .failed(let reason, counted: false): metrics.recordingFailed(reason: reason)
            case .abandoned, .nothingRecorded, .failed: break
            }
            var fields: [(name: String, value: Logger.MetadataValue)] = [("key", .string(key))]
            if let audioSeconds { fields.append(("audio_seconds", .stringConvertible(audioSeconds))) }
            let (name, level): (RelayEvent.Name, Logger.Level) = switch outcome {
            case .finished: (.recordingFinished, .info)
            case .abandoned: (.recordingAbandoned, .warning)
            case .nothingRecorded: (.nothingRecorded, .info)
            case .failed: (.recordingFailed, .error)
            }
            if case .failed(let reason, _) = outcome { fields.append(("reason", .string(reason))) }
            if name != .recordingFinished && name != .nothingRecorded { fields.append(("step", .string("finalized"))) }
            report(RelayEvent(name, level: level, connection: number, line, fields: fields))
            state.withLock { _ = $0.recordings.removeValue(forKey: number) }
        }
        metrics.connectionClosed()
        if recording.isAbandoned {
            state.withLock { $0.endings[number] = ending }
        } else {
            await ending.value
            state.withLock { $0.endings[number] = nil }
        }
    }

    /// A session's end: the close codes each side sent, and how long it lasted.
    private static func closedEvent(_ session: RelaySession) -> RelayEvent {
        let codes = session.closeFrameCodes
        let elapsed = (ContinuousClock.now - session.startedAt).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        var fields: [(name: String, value: Logger.MetadataValue)] = [("seconds", .stringConvertible((seconds * 1_000).rounded() / 1_000))]
        if let client = codes.client { fields.append(("client_close_code", .stringConvertible(Int(client)))) }
        if let upstream = codes.upstream { fields.append(("upstream_close_code", .stringConvertible(Int(upstream)))) }
        func said(_ code: UInt16?) -> String { code.map { "sent \($0)" } ?? "sent no close frame" }
        return RelayEvent(.closed, connection: session.number,
                          "connection \(session.number): closed (the client \(said(codes.client)), the upstream \(said(codes.upstream)))",
                          fields: fields, isProse: false)
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
