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
/// try await relay.run { port in print("listening on \(port)") }   // until shutDown()
/// ```
public final class RelayServer: Sendable {
    public let configuration: RelayConfiguration
    let metrics = RelayMetrics()
    private let names: RecordingNames
    /// The memory every session's recording shares (``RelayConfiguration/recordingMemoryBytes``).
    private let memoryBudget: RecordingMemoryBudget
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
        /// The recordings of the sessions open or finalizing, by connection number.
        var recordings: [Int: ConnectionRecording] = [:]
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
        names = RecordingNames(first: configuration.namesForTests)
        memoryBudget = RecordingMemoryBudget(bytes: configuration.recordingMemoryBytes)
    }

    /// Serves until ``shutDown()`` finishes, then waits for every recording to be finalized.
    ///
    /// - Parameter listening: Called once the server listens, with the port (the one chosen when asked for 0).
    public func run(listening: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { [self] _, _ in
            let lag = state.withLock { $0.recordings.values.reduce(0) { $0 + $1.lagBytes } }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(recordingLagBytes: lag,
                                                                                          recordingMemoryBytes: memoryBudget.heldBytes))))
        }
        let answer: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(
                string: "deltatape relay: WebSocket connections are relayed; GET /healthz and /metrics are answered\n")))
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
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: quietLogger))
        state.withLock { $0.group = group }
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

    /// Decides a client's upgrade: the upstream connection is opened first, and the client's upgrade is answered as
    /// the upstream's was: accepted with the subprotocol it chose, or refused with its status, content type and body
    /// (502 when it could not be reached, 503 while the relay shuts down). The relay says on stderr what happened.
    /// The upstream connection runs on `eventLoop`, the client's.
    private func prepare(_ request: HTTPRequestHead, on eventLoop: any EventLoop) async -> UpgradeDecision {
        guard !draining.load(ordering: .relaxed) else {
            report("a connection was refused: the relay is shutting down")
            return .refuse(.shuttingDown)
        }
        let (path, query) = Self.pathAndQuery(request.uri)
        if Self.hasDotSegment(path) {
            report("a connection was refused: its path has a . or .. segment, which the relay does not pass on")
            return .refuse(.badRequest("the path may not hold . or .. segments (they would reach the upstream as they are)"))
        }
        let number = connectionCount.add(1, ordering: .relaxed).newValue
        let start = Date().timeIntervalSince1970
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
            report("connection \(number): \(configuration.upstream) did not accept the connection (\(reason)); "
                + "the client's upgrade was refused with \(answer.status) and nothing was recorded")
            return .refuse(answer)
        case .connected(let chosen):
            // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
            if let chosen, !Self.offeredSubprotocols(request.headers).contains(chosen) {
                session.closeUpstream()
                report("connection \(number): \(configuration.upstream) chose a subprotocol the client did not offer; "
                    + "the client's upgrade was refused with 502 and nothing was recorded")
                return .refuse(.badGateway)
            }
            subprotocol = chosen
        }
        // Only now, with the upstream's acceptance: a refused upgrade leaves no thread, descriptor or file behind.
        let recording: ConnectionRecording?
        do throws(RecordingFailure) {
            recording = try ConnectionRecording(number: number, start: start, configuration: configuration, names: names,
                                                memoryBudget: memoryBudget) { _ in }
        } catch {
            // Said now, not at the session's end: the conversation goes on, unrecorded.
            metrics.recordingFailed(reason: error.reason)
            report("connection \(number): nothing is recorded: \(error.message); the session goes on unrecorded")
            recording = nil
        }
        if let recording { await session.startRecording(recording) }
        metrics.connectionOpened()
        state.withLock {
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
        guard let recording else {
            metrics.connectionClosed()
            state.withLock { $0.endings[session.number] = nil }
            return
        }
        // An abandoned recording may be stuck behind its sink, so it is finalized without holding the connection's end.
        let number = session.number
        let ending = Task { [self] in
            let (line, outcome) = await recording.end()
            switch outcome {
            case .finished: metrics.recordingsFinished.increment()
            case .failed(let reason, counted: false): metrics.recordingFailed(reason: reason)
            case .abandoned, .nothingRecorded, .failed: break
            }
            report(line)
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
