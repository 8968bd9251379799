public import DeltaTape
public import DeltaTapeStorage

/// What a relay listens on, where it forwards and how it records.
public struct RelayConfiguration: Sendable {
    /// The address clients connect to (SPEC §9: 127.0.0.1 unless asked otherwise).
    public var host = "127.0.0.1"
    /// The port clients connect to; 0 picks a free one (the relay says which when it starts).
    public var port = 8765
    /// The realtime API the relay forwards to: `ws://` or `wss://`, host, port and an optional path prefix; the
    /// client's path and query are appended.
    public var upstream: UpstreamURL
    /// The folder recordings are written into (made if missing), or, with ``objectStorage``, its `s3://` prefix as
    /// given (for the relay's lines).
    public var outputDirectory: String
    /// Where recordings go instead of ``outputDirectory``'s folder when it names object storage
    /// (`--output-dir s3://BUCKET/PREFIX/`): each an object under the prefix, uploaded while it is made.
    public var objectStorage: RelayObjectStorage?
    /// Format, tracks and layout of the recordings; they run in the background (``ConversionOptions/runsInBackground``),
    /// so that forwarding always comes first.
    public var options: ConversionOptions = {
        var options = ConversionOptions()
        options.runsInBackground = true
        // The largest message recorded (`--max-message-bytes`): as large as a frame may be. Continuation frames make
        // messages of any size, which are forwarded as they come but not joined for the recording.
        options.maximumMessageByteCount = 16 << 20
        return options
    }()
    /// Whether the messages are also kept, as a session log beside each recording.
    public var savesLog = false
    /// Whether each recording keeps a journal of its messages beside it while it runs (`NAME.journal`), so that a
    /// killed relay loses nothing it had taken (`--no-journal` keeps none: a kill then loses what was not yet on disk).
    public var keepsJournal = true
    /// Bytes of messages a recording may fall behind before it is abandoned (forwarding never waits for it).
    public var recordingBufferBytes = 16 << 20
    /// The largest message recorded: `options.maximumMessageByteCount`, or ``recordingBufferBytes`` when that is
    /// smaller (a message the recording's buffer cannot hold would abandon the recording as if it had fallen behind;
    /// it is forwarded, not recorded, and said so, as one over the limit is).
    public var recordedMessageByteLimit: Int { min(options.maximumMessageByteCount, recordingBufferBytes) }
    /// The most bytes of messages all the relay's recordings may hold at once, being joined from frames or waiting to
    /// be recorded (`--recording-memory`); a message that finds no room is forwarded but not recorded, and said so.
    public var recordingMemoryBytes = 256 << 20
    /// Once a drain began (SIGTERM, ``RelayServer/stop()``), how long open sessions may go on before they are closed
    /// (1001, going away) and finalized: long enough for a voice session to end by itself (30 minutes).
    public var drainTimeoutSeconds = 1_800.0
    /// A second address that answers the operations routes only (`GET /healthz`, `GET /metrics`, `POST /drain`), and
    /// stays open through a drain, when the relay's own port is closed (`--admin-listen`).
    public var adminAddress: (host: String, port: Int)?
    /// The largest WebSocket frame either side may send (realtime APIs send audio in messages of hundreds of KB).
    public var maximumFrameBytes = 16 << 20
    /// How long a connection may take to send its request head (the slowest client sends it in milliseconds; a
    /// slowloris or an idle socket is answered 408 and closed then).
    public var requestTimeoutSeconds = 10.0
    /// How long a session's side may send nothing before it is pinged; one that answers nothing within that time
    /// again is closed, ending the session (0: never pinged).
    public var idleTimeoutSeconds = 30.0
    /// The most connections open at once. A connection beyond it first makes room by closing the oldest one that has
    /// not yet sent its request head or is a plain HTTP request (answered 503); when every one is a session, it is
    /// answered 503 and closed itself.
    public var maximumConnections = 1_000

    /// For the relay's own tests only: a path (a FIFO nobody reads) the recordings' audio is written to instead of
    /// files of their own, opened as it is, so that a test can hold a recording's sink stuck for good. Files made
    /// under the relay's own names can never be one (they are made new, ``RecordingFiles``).
    public var recordingSinkForTests: String?

    /// For the relay's own tests only: the random parts of the first recordings' names, in order (the system's
    /// generator gives the rest), so that a test can plant a file or a link at the name the relay will try first.
    public var namesForTests: [String] = []

    /// For the relay's own tests only: the UTC start every recording's name says (seconds since the epoch), so that
    /// two relays' sessions want one name whatever second each began in.
    public var startForTests: Double?

    /// Creates a configuration.
    public init(upstream: UpstreamURL, outputDirectory: String) {
        self.upstream = upstream
        self.outputDirectory = outputDirectory
    }
}

/// Recordings into object storage: each recording (and its log) an object under `prefix`, uploaded while it is made
/// (``S3UploadSink``: a multipart upload fed from a spool file, so memory stays flat), appearing under its key only
/// once complete. A relay killed mid-session leaves the spool file and its manifest (`deltatape repair`); recordings
/// into object storage keep no journal.
public struct RelayObjectStorage: Sendable {
    /// The bucket and the prefix (empty, or ending in '/').
    public var prefix: S3Address
    /// The client every recording shares (one pool of connections).
    public var client: S3Client
    /// The local folder recordings are spooled in while they upload.
    public var spoolDirectory: String

    /// Recordings under `prefix` (a key not ending in '/' is taken as a prefix: '/' is added).
    ///
    /// - Throws: When the prefix with its '/' is no valid address.
    public init(prefix: S3Address, client: S3Client, spoolDirectory: String) throws(S3AddressError) {
        self.prefix = prefix.isPrefix ? prefix : try S3Address(bucket: prefix.bucket, key: prefix.key + "/")
        self.client = client
        self.spoolDirectory = spoolDirectory
    }
}

/// The upstream address, parsed once: scheme, host, port and path prefix, never its query (a key may be in it).
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    /// Whether the connection is over TLS (`wss://`).
    public var isSecure: Bool
    /// The host name or address.
    public var host: String
    /// The port (443 or 80 when the URL gives none).
    public var port: Int
    /// A path prefix the client's path is appended to ("" for none).
    public var pathPrefix: String

    /// Parses `ws://host[:port][/prefix]` or `wss://…`; `https://` and `http://` are taken as `wss://` and `ws://`.
    ///
    /// - Throws: A message saying what is wrong, when the URL is not of that form.
    public init(parsing text: String) throws(RelayError) {
        let lowered = text.lowercased()
        let rest: Substring
        if lowered.hasPrefix("wss://") || lowered.hasPrefix("https://") {
            isSecure = true
            rest = text[text.index(text.startIndex, offsetBy: lowered.hasPrefix("wss://") ? 6 : 8)...]
        } else if lowered.hasPrefix("ws://") || lowered.hasPrefix("http://") {
            isSecure = false
            rest = text[text.index(text.startIndex, offsetBy: lowered.hasPrefix("ws://") ? 5 : 7)...]
        } else {
            throw .badArgument("--upstream \(text.prefix(80)): expected ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]")
        }
        guard !rest.contains("?"), !rest.contains("#") else {
            throw .badArgument("--upstream: give no query or fragment; the client's own query is passed on")
        }
        let authority = rest.prefix { $0 != "/" }
        var prefix = String(rest.dropFirst(authority.count))
        while prefix.hasSuffix("/") { prefix.removeLast() }
        pathPrefix = prefix
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = try Self.port(after.hasPrefix(":") ? after.dropFirst() : nil, secure: isSecure)
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = try Self.port(authority[authority.index(after: colon)...], secure: isSecure)
        } else {
            host = String(authority)
            port = isSecure ? 443 : 80
        }
        guard !host.isEmpty else { throw .badArgument("--upstream \(text.prefix(80)): no host") }
    }

    private static func port(_ text: Substring?, secure: Bool) throws(RelayError) -> Int {
        guard let text else { return secure ? 443 : 80 }
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw .badArgument("--upstream: the port \(text.prefix(10)) is not a number in 1...65535")
        }
        return port
    }

    /// The URL of one connection: this upstream with the client's path and query.
    func url(path: String, query: String?) -> String {
        "\(isSecure ? "wss" : "ws")://\(authority)\(requestTarget(path: path, query: query))"
    }

    /// The request target of one connection's upgrade request: the path prefix, the client's path and query.
    func requestTarget(path: String, query: String?) -> String {
        let path = path.hasPrefix("/") ? path : "/" + path
        return pathPrefix + path + (query.map { "?\($0)" } ?? "")
    }

    /// Host and port as the `Host` header gives them (an IPv6 address in brackets).
    var authority: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Scheme, host and port: what may be said in messages (never a path or query).
    public var description: String { "\(isSecure ? "wss" : "ws")://\(authority)" }
}

/// A failure of the relay that a person can act on.
public enum RelayError: Error, Sendable, CustomStringConvertible {
    /// An argument that cannot be used.
    case badArgument(String)
    /// The output folder cannot be used.
    case outputDirectory(String)
    /// The server could not start (the address is taken, not allowed).
    case cannotListen(String)

    public var description: String {
        switch self {
        case .badArgument(let message), .outputDirectory(let message), .cannotListen(let message): message
        }
    }
}
