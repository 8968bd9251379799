import CoreMetrics
import DeltaTape
import Foundation
import Logging
import HTTPTypes
import NIOCore
import Synchronization

/// One relayed connection: the client's WebSocket (accepted by the server) and the upstream's (opened by the relay on
/// the client's event loop), a ``RelayGlue`` at the end of each pipeline copying frames to the other as they come,
/// and the recording beside them.
///
/// Forwarding never waits for the recording: whole messages are offered to it, and a recording that falls behind is
/// abandoned. The recording is made only once the upstream has accepted (``startRecording(_:)``): a refused or failed
/// upgrade starts no recorder's thread and opens no file.
final class RelaySession: Sendable {
    enum Upstream: Sendable {
        /// Connected, with the subprotocol the upstream chose.
        case connected(subprotocol: String?)
        /// Not connected: why (for the relay's line), and what the client is told.
        case failed(String, answer: RefusalAnswer)
    }

    let number: Int
    /// The largest message recorded (larger ones are forwarded, not recorded).
    let messageByteLimit: Int
    /// The memory all the relay's recordings share (messages being joined and waiting to be recorded); nil: unbounded.
    let memoryBudget: RecordingMemoryBudget?
    /// The recording, from the upstream's acceptance on; read and set on ``eventLoop`` only.
    private let recording: NIOLoopBoundBox<ConnectionRecording?>
    /// The loop both connections run on: the client's.
    let eventLoop: any EventLoop
    private let metrics: RelayMetrics
    private let report: @Sendable (RelayEvent) -> Void
    let upstream = OneShot<Upstream>()
    private let upstreamGlue: NIOLoopBoundBox<RelayGlue?>
    private let clientGlue: NIOLoopBoundBox<RelayGlue?>
    private let upstreamClosed = OneShot<Bool>()
    private let clientClosed = OneShot<Bool>()
    /// The code of the close frame each side sent (1005 for one without a code), nil while it sent none.
    private let closeCodes = Mutex<(client: UInt16?, upstream: UInt16?)>((nil, nil))
    /// When the session began (the upstream was asked).
    let startedAt = ContinuousClock.now

    /// How long a side may send nothing before the relay pings it (and closes it when the next period passes
    /// without an answer); nil: never.
    let idleTimeout: TimeAmount?

    init(number: Int, messageByteLimit: Int, memoryBudget: RecordingMemoryBudget? = nil, metrics: RelayMetrics, eventLoop: any EventLoop,
         idleTimeout: TimeAmount? = nil, report: @escaping @Sendable (RelayEvent) -> Void) {
        self.number = number
        self.memoryBudget = memoryBudget
        self.idleTimeout = idleTimeout
        self.messageByteLimit = messageByteLimit
        recording = .makeEmptyBox(eventLoop: eventLoop)
        self.metrics = metrics
        self.eventLoop = eventLoop
        self.report = report
        upstreamGlue = .makeEmptyBox(eventLoop: eventLoop)
        clientGlue = .makeEmptyBox(eventLoop: eventLoop)
    }

    /// The upstream accepted: from here on the session's messages go to `recording` (set on ``eventLoop``, before the
    /// client's glue exists, so no message is missed).
    func startRecording(_ recording: ConnectionRecording) async {
        try? await eventLoop.submit { self.setRecording(recording) }.get()
    }

    /// Sets the recording, on ``eventLoop``. (Internal, so that RelayGlueTests set it on their EmbeddedEventLoop.)
    func setRecording(_ recording: ConnectionRecording) {
        self.recording.value = recording
    }

    /// Opens the upstream connection (`target`: path and query) with `headers`; ``upstream`` says how that went.
    func connectUpstream(_ url: UpstreamURL, target: String, headers: HTTPFields, maximumFrameBytes: Int) {
        Task {
            do {
                switch try await UpstreamHandshake.open(url, target: target, headers: headers, maximumFrameBytes: maximumFrameBytes,
                                                        on: eventLoop, upgraded: { try self.attachUpstream($0) }) {
                case .refused(let answer):
                    upstream.set(.failed("it answered \(answer.status) \(answer.reasonPhrase)", answer: answer))
                case .accepted(let subprotocol):
                    upstream.set(.connected(subprotocol: subprotocol))
                }
            } catch {
                upstream.set(.failed(ConnectionFailureText.describe(error), answer: .badGateway))
            }
        }
    }

    /// The upstream's upgrade is done (on ``eventLoop``): its frames go to its glue, held until the client's joins.
    /// (Internal, not private, so that RelayGlueTests attach an EmbeddedChannel as the upstream the way the relay does.)
    func attachUpstream(_ channel: any Channel) throws {
        let glue = RelayGlue(side: .upstream, session: self)
        try channel.pipeline.syncOperations.addHandler(glue)
        upstreamGlue.value = glue
        channel.closeFuture.whenComplete { _ in self.upstreamClosed.set(true) }
    }

    /// The client's upgrade was accepted (on ``eventLoop``): when its connection closes before its glue is in place
    /// (the client left while the upgrade was answered), the upstream is closed too.
    func clientAccepted(_ channel: any Channel) {
        channel.closeFuture.whenComplete { _ in
            self.clientClosed.set(true)
            if self.clientGlue.value == nil { self.upstreamGlue.value?.partnerEnded() }
        }
    }

    /// The client's upgrade is done (on ``eventLoop``): frames flow both ways from here.
    func attachClient(_ channel: any Channel) throws {
        guard let upstream = upstreamGlue.value else { throw ChannelError.inappropriateOperationForState }
        let glue = RelayGlue(side: .client, session: self)
        RelayGlue.pair(glue, upstream)
        clientGlue.value = glue
        try channel.pipeline.syncOperations.addHandler(glue)
    }

    /// Returns once both connections are closed.
    func finished() async {
        _ = await upstreamClosed.value
        _ = await clientClosed.value
    }

    /// The upstream's connection is dropped before the client's upgrade is answered (the client is refused).
    func closeUpstream() {
        eventLoop.execute { self.upstreamGlue.value?.closeConnection() }
    }

    /// The relay shuts down: each side is sent a close frame (1001) and closed once it answers, or 10 s later.
    func shutDown() {
        eventLoop.execute {
            self.clientGlue.value?.shutDown()
            self.upstreamGlue.value?.shutDown()
        }
    }

    /// `side` sent a close frame with `payload` (its code first, when it has one).
    func closeFrameReceived(from side: RelayGlue.Side, payload: ByteBuffer) {
        let code = payload.readableBytes >= 2 ? payload.getInteger(at: payload.readerIndex, as: UInt16.self) ?? 1005 : 1005
        closeCodes.withLock { if side == .client { $0.client = code } else { $0.upstream = code } }
    }

    /// The close frames' codes the client and the upstream sent, nil for a side that sent none (its connection dropped).
    var closeFrameCodes: (client: UInt16?, upstream: UInt16?) { closeCodes.withLock { $0 } }

    /// `side` answered nothing to the relay's ping: its connection is closed (on ``eventLoop``).
    func idleEnded(_ side: RelayGlue.Side) {
        guard let seconds = idleTimeout.map({ Double($0.nanoseconds) / 1e9 }) else { return }
        report(RelayEvent(.idleClosed, level: .warning, connection: number,
            "connection \(number): the \(side == .client ? "client" : "upstream") sent nothing for \(seconds) s and did not answer "
            + "a ping within \(seconds) s more (--idle-timeout); its connection is closed, the \(side == .client ? "upstream" : "client") "
            + "is sent \(side == .client ? "1001" : "1011"), and the recording is finalized",
            fields: [("side", .string(side == .client ? "client" : "upstream"))]))
    }

    /// A message of `byteCount` bytes from `side` was forwarded but not recorded: counted, and said on the session's
    /// first such message for each reason (a flood of them would flood the relay's output); the recording's summary
    /// line gives the count.
    func unrecorded(_ byteCount: Int, from side: RelayGlue.Side, reason: UnrecordedMessage) {
        guard let recording = recording.value else { return }
        metrics.messageUnrecorded(reason: reason)
        guard recording.countUnrecorded(reason) == 1 else { return }
        let who = side == .client ? "the client" : "the upstream"
        let why = switch reason {
        case .tooLarge: "it is larger than --max-message-bytes (\(messageByteLimit))"
        case .memoryBudget: "the relay's recordings hold all of --recording-memory (\(memoryBudget?.limit ?? 0) bytes)"
        }
        report(RelayEvent(.messageUnrecorded, level: .warning, connection: number,
                          "connection \(number): a message of \(byteCount) bytes from \(who) was forwarded but not recorded: \(why); "
                            + "the recording goes on without it",
                          fields: [("reason", .string(reason.metricReason)), ("bytes", .stringConvertible(byteCount)),
                                   ("side", .string(side == .client ? "client" : "upstream"))]))
    }

    /// Counts a data frame forwarded from `side`.
    func counted(frameOf byteCount: Int, from side: RelayGlue.Side) {
        if side == .client {
            metrics.framesToUpstream.increment()
            metrics.bytesToUpstream.increment(by: byteCount)
        } else {
            metrics.framesToClient.increment()
            metrics.bytesToClient.increment(by: byteCount)
        }
    }

    /// Whether the session's messages are recorded (on ``eventLoop``): false when its recording could not be made.
    var isRecording: Bool { recording.value != nil }

    /// Offers a whole message from `side` to the recording (never waits); says so when that abandoned it or it failed.
    func record(_ message: [UInt8], isBinary: Bool = false, from side: RelayGlue.Side) {
        guard let recording = recording.value else { return }
        switch recording.take(message, direction: side == .client ? .sent : .received, isBinary: isBinary, at: Date().timeIntervalSince1970) {
        case .taken:
            return
        case .overBudget:
            unrecorded(message.count, from: side, reason: .memoryBudget)
        case .abandoned:
            metrics.recordingsAbandoned.increment()
            report(RelayEvent(.recordingAbandoned, level: .warning, connection: number,
                              "connection \(number): recording \(recording.path) abandoned: it fell \(recording.bufferBytes) bytes of "
                                + "messages behind (the disk or the encoder too slow); what it took is finalized (its summary says what is kept); forwarding goes on",
                              fields: [("key", .string(recording.path)), ("step", .string("fell_behind"))]))
        case .failed(let failure, let reason):
            // Said when it happens, not at the session's end.
            metrics.recordingFailed(reason: reason)
            report(RelayEvent(.recordingFailed, level: .error, connection: number,
                              "connection \(number): recording \(recording.path) failed: \(failure); forwarding goes on, unrecorded",
                              fields: [("key", .string(recording.path)), ("reason", .string(reason)), ("step", .string("failed"))]))
        }
    }
}
