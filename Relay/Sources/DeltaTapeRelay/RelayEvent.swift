public import Logging

/// One thing a relay tells whoever runs it: the sentence a person reads on stderr, and the fields a log pipeline
/// joins across relays (`--log-format json`: ``JSONLineLogHandler``). Never a header or a query: connections are named
/// by number, the upstream by scheme, host and port, recordings by their file or object.
public struct RelayEvent: Sendable {
    /// What happened, as the `event` field names it.
    public enum Name: String, Sendable, CaseIterable {
        /// The relay listens (``RelayEvent/fields``: `port`), or its operations port does (`operations_port`).
        case listening
        /// A client's upgrade request arrived (`path`, without its query).
        case accepted
        /// The upstream accepted the connection (`subprotocol` when it chose one).
        case upstreamConnected = "upstream_connected"
        /// The upstream refused or could not be reached (`status`: what the client was answered).
        case upstreamRefused = "upstream_refused"
        /// A client's upgrade was refused by the relay itself (`reason`).
        case refused
        /// A session's connections are both closed (`client_close_code`, `upstream_close_code`: the close frames each
        /// side sent, absent when it sent none; `seconds`: how long the session lasted).
        case closed
        /// A recording was finalized whole (`key`, `audio_seconds`).
        case recordingFinished = "recording_finished"
        /// A recording fell too far behind and was finalized with what it held (`key`, `audio_seconds`).
        case recordingAbandoned = "recording_abandoned"
        /// A recording failed, or could not be made (`key` when it has one, `reason`).
        case recordingFailed = "recording_failed"
        /// A session ended with nothing to record (`key`).
        case nothingRecorded = "nothing_recorded"
        /// A message was forwarded but not recorded (`reason`, `bytes`); the first of a session's for each reason.
        case messageUnrecorded = "message_unrecorded"
        /// A side of a session answered no ping and was closed (`side`).
        case idleClosed = "idle_closed"
        /// A recording a killed relay left was rebuilt from its journal, or could not be (`key`).
        case rebuilt
        /// A drain began, was cut short, or timed out (`sessions_open`).
        case draining
        /// The relay stopped: every recording is finalized.
        case stopped
        /// Anything else a person should know (a setting adjusted, a warning at start).
        case note
    }

    public var name: Name
    public var level: Logger.Level
    /// The connection's number, for events of one connection.
    public var connection: Int?
    /// What a person reads: the relay's stderr line without its `deltatape relay: ` prefix.
    public var message: String
    /// The event's own fields, by name (values as text; numbers written as numbers).
    public var fields: [(name: String, value: Logger.MetadataValue)]
    /// Whether the prose log says it too: the per-connection steps (accepted, upstream connected, closed) are for
    /// pipelines only, so that stderr stays one line per recording.
    public var isProse: Bool

    public init(_ name: Name, level: Logger.Level = .info, connection: Int? = nil, _ message: String,
                fields: [(name: String, value: Logger.MetadataValue)] = [], isProse: Bool = true) {
        self.name = name
        self.level = level
        self.connection = connection
        self.message = message
        self.fields = fields
        self.isProse = isProse
    }

    /// The event as swift-log metadata: `event`, `connection` and the event's fields.
    public var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["event": .string(name.rawValue)]
        if let connection { metadata["connection"] = .stringConvertible(connection) }
        for field in fields { metadata[field.name] = field.value }
        return metadata
    }

    /// Logs the event through `logger` (its handler decides the format).
    public func log(to logger: Logger) {
        logger.log(level: level, "\(message)", metadata: metadata)
    }
}
