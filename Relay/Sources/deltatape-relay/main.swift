// `deltatape-relay` (what `deltatape relay` runs): the recording WebSocket relay of SPEC §9.
import ArgumentParser
import CMallocTuning
@_spi(Blocks) import DeltaTape
import DeltaTapeRelay
import DeltaTapeStorage
import Dispatch
import Foundation
import Logging

@main
struct RelayCommand: AsyncParsableCommand {
    /// Every error, the argument parser's included, starts as deltatape's do.
    static var _errorPrefix: String { "deltatape: error: " }

    static let configuration = CommandConfiguration(
        commandName: "deltatape relay",
        abstract: "Relay realtime WebSocket sessions to their API and record each one.",
        discussion: """
            Point a client's base URL at the relay (ws://127.0.0.1:8765) instead of the API: it opens the upstream \
            connection with the client's path, query and credentials (Authorization, OpenAI-Beta, api-key, \
            Sec-WebSocket-Protocol), forwards every frame both ways unchanged, and records each connection into \
            DIR/<UTC start, YYYYMMDDTHHMMSSZ>-<n>-<random>.<ext> (made new: never through a link or over a file), saying on stderr which file when it ends. Headers and \
            queries (API keys) are never logged or saved; --log-format json writes one JSON object per line for log \
            pipelines (time, level, instance, event, connection, message and the event's fields). GET /healthz and /metrics (Prometheus) are answered, \
            on --admin-listen too. SIGTERM (or POST /drain from this machine) drains the relay for a deploy: the \
            listening socket closes at once (a load balancer sends new sessions to another relay), /healthz answers \
            503, and open sessions go on until they end or --drain-timeout passes; a second SIGTERM closes them \
            at once (1001, going away). Every recording is finalized before the relay exits. A connection must send its request head within --request-timeout (408), of at most 16 KiB of \
            target and 32 KiB in all (414, 431; a malformed one gets 400); --max-connections bounds the connections \
            open at once (503).

            Exit status: 0 after SIGTERM or SIGINT; 64 a wrong argument; 73 the output folder cannot be made; \
            69 the address cannot be listened on.
            """)

    @Option(name: .long, help: "HOST:PORT to listen on (default 127.0.0.1:8765; port 0 picks a free one).")
    var listen = "127.0.0.1:8765"
    @Option(name: .long, help: "The realtime API: ws[s]://HOST[:PORT][/PATH]; the client's path and query are appended.")
    var upstream: String
    @Option(name: .customLong("output-dir"), help: "The folder recordings go into (made if missing), or s3://BUCKET/PREFIX/: each recording an object under the prefix, uploaded while it is made (credentials, region and endpoint from the AWS environment and shared files).")
    var outputDirectory: String
    @Option(help: ArgumentHelp("With --output-dir s3://…: the folder recordings are spooled in while they upload (default ~/.cache/deltatape/spool).", valueName: "dir"))
    var spool: String?
    @Option(name: .long, help: "wav, ogg or webm (default wav).")
    var format = "wav"
    @Option(name: .long, help: "assistant, user or both (default assistant).")
    var track = "assistant"
    @Option(name: .long, help: "With --track both: stereo, mono or separate (default stereo).")
    var layout: String?
    // Numbers are read as numbers even when they start with '-' (`--drain-timeout -1` is out of range, not a flag), as convert's are.
    @Option(name: .long, parsing: .unconditional, help: "Opus complexity 0-10 for ogg and webm (libopus' default when not given; 5 costs about a fifth).")
    var complexity: Int?
    @Option(name: .long, parsing: .unconditional, help: "Opus bitrate for ogg and webm in bits per second, for example 32000 or 32k (libopus' default when not given).")
    var bitrate: String?
    @Flag(name: .customLong("save-log"), help: "Also keep each session's messages as DIR/<name>.jsonl, which converts again later.")
    var savesLog = false
    @Flag(name: .customLong("no-journal"), help: "Keep no journal beside each recording while it runs (by default one is kept, so that a killed relay loses nothing it had taken: a relay started on the folder again rebuilds those recordings).")
    var noJournal = false
    @Option(name: .customLong("recording-buffer"), parsing: .unconditional, help: "Bytes a recording may fall behind before it is abandoned (default 16 MiB).")
    var recordingBuffer = 16 << 20
    @Option(name: .customLong("max-message-bytes"), parsing: .unconditional, help: "The largest message recorded, in bytes (default 16 MiB, the largest frame). A larger one (continuation frames) is forwarded but not recorded, and said so.")
    var maxMessageBytes = 16 << 20
    @Option(name: .customLong("recording-memory"), parsing: .unconditional, help: "Bytes of messages all recordings together may hold, joined from frames or waiting to be recorded (default 256 MiB). A message that finds no room is forwarded but not recorded, and said so.")
    var recordingMemory = 256 << 20
    // --grace-period is its name before drains (issue 29), still taken.
    @Option(name: [.customLong("drain-timeout"), .customLong("grace-period")], parsing: .unconditional,
            help: "Seconds open sessions may go on after SIGTERM before they are closed (default 1800: a voice session ends first).")
    var drainTimeout = 1_800.0
    @Option(name: .customLong("log-format"), help: "prose (lines for people, the default) or json (one object per line: time, level, instance, event, connection, message, fields; every connection's steps).")
    var logFormat = "prose"
    @Option(name: .customLong("instance-id"), help: "The relay's id on every JSON line, to tell relays of a fleet apart (default: the host's name and 6 random characters).")
    var instanceID: String?
    @Option(name: .customLong("admin-listen"), help: "HOST:PORT that answers GET /healthz, GET /metrics and POST /drain only, and stays open through a drain (when the relay's own port is closed).")
    var adminListen: String?
    @Option(name: .customLong("request-timeout"), parsing: .unconditional, help: "Seconds a connection may take to send its request head before it is answered 408 and closed (default 10; 0: no deadline).")
    var requestTimeout = 10.0
    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: "Seconds a session's client or upstream may send nothing before it is pinged; one that answers nothing within as long again is closed and the session ends, its recording finalized (default 30; 0: no pings).")
    var idleTimeout = 30.0
    @Option(name: .customLong("max-connections"), parsing: .unconditional, help: "The most connections open at once (default 1000). Beyond it the oldest connection without a session is answered 503 and closed to make room; when all are sessions, the new one is answered 503.")
    var maxConnections = 1_000

    func run() async throws {
        let configuration: RelayConfiguration
        let output: EventOutput
        do {
            configuration = try makeConfiguration()
            output = try makeOutput()
        } catch {
            fail("\(error)", status: 64)
        }
        let say = output.say
        let folder = configuration.objectStorage?.spoolDirectory ?? configuration.outputDirectory
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            output.fail("cannot make the \(configuration.objectStorage == nil ? "output" : "spool") folder \(folder): \(error.localizedDescription)", status: 73)
        }
        signal(SIGPIPE, SIG_IGN)
        keepLargeBuffersOutOfTheHeap()
        checkDescriptorLimit(for: configuration.maximumConnections, output: output)
        if configuration.recordedMessageByteLimit < configuration.options.maximumMessageByteCount {
            say("note: messages larger than --recording-buffer (\(configuration.recordingBufferBytes) bytes) are forwarded but not "
                + "recorded, as if --max-message-bytes were \(configuration.recordedMessageByteLimit): one would abandon the recording")
        }
        let relay = RelayServer(configuration: configuration, report: output.emit)
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler {
                let name = number == SIGTERM ? "SIGTERM" : "SIGINT"
                switch relay.stop() {
                case .drainBegan(let open, let timeout):
                    output.emit(RelayServer.drainEvent(openSessions: open, timeoutSeconds: timeout, by: name))
                case .closingNow(let open):
                    output.emit(RelayEvent(.draining, level: .notice,
                                           "\(name) again: closing the \(open) open session\(open == 1 ? "" : "s") now (1001, going away) "
                                            + "and finalizing their recordings",
                                           fields: [("sessions_open", .stringConvertible(open)), ("step", .string("cut_short")), ("by", .string(name))]))
                case .closingAlready:
                    say("\(name): closing already; every recording is finalized before the relay exits")
                }
            }
            source.resume()
            return source
        }
        // The signal sources must outlive the relay: a source released is cancelled, and an optimized build releases
        // them after their last use (release builds ignored SIGTERM when this read `_ = signals` after the run).
        defer { withExtendedLifetime(signals) {} }
        do {
            try await relay.run { port in
                output.emit(RelayEvent(.listening, "listening on \(configuration.host):\(port), relaying to \(configuration.upstream), "
                                        + "recording into " + configuration.outputDirectory,
                                       fields: [("port", .stringConvertible(port))]))
            }
        } catch {
            output.fail("\(error)", status: 69)
        }
        output.emit(RelayEvent(.stopped, "stopped; every recording is finalized"))
    }

    /// `--output-dir s3://BUCKET/PREFIX/`: the prefix, a client configured as AWS tools are, the spool folder.
    private func objectStorage() throws -> RelayObjectStorage {
        do {
            let address = try S3Address(parsing: outputDirectory)
            let client = S3Client(configuration: try S3Configuration.resolve(environment: ProcessInfo.processInfo.environment))
            let spoolDirectory = spool ?? S3UploadSink.defaultSpoolDirectory(environment: ProcessInfo.processInfo.environment,
                                                                            home: NSHomeDirectory())
            return try RelayObjectStorage(prefix: address, client: client, spoolDirectory: spoolDirectory)
        } catch {
            throw ValidationError("--output-dir \(outputDirectory.prefix(200)): \(error)")
        }
    }

    /// `HOST:PORT` (an IPv6 host in brackets) of the option `flag`.
    private static func address(_ value: String, of flag: String) throws -> (host: String, port: Int) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("\(flag) \(value): expected HOST:PORT, the port a number in 0...65535")
        }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(flag) \(value): no host (127.0.0.1 listens on this machine only)") }
        return (host, port)
    }

    /// Where events go, as `--log-format` says.
    private func makeOutput() throws -> EventOutput {
        switch logFormat {
        case "prose":
            return EventOutput(logger: nil)
        case "json":
            let instance = instanceID ?? EventOutput.defaultInstanceID()
            guard !instance.isEmpty else { throw ValidationError("--instance-id: expected an id, not an empty string") }
            let logger = Logger(label: "deltatape-relay") { _ in
                JSONLineLogHandler(instance: instance) { line in FileHandle.standardError.write(Data(line.utf8)) }
            }
            return EventOutput(logger: logger)
        default:
            throw ValidationError("--log-format \(logFormat): expected prose or json")
        }
    }

    private func makeConfiguration() throws -> RelayConfiguration {
        let (host, port) = try Self.address(listen, of: "--listen")
        var configuration = RelayConfiguration(upstream: try UpstreamURL(parsing: upstream), outputDirectory: outputDirectory)
        configuration.host = host
        configuration.port = port
        if let adminListen { configuration.adminAddress = try Self.address(adminListen, of: "--admin-listen") }
        if S3Address.isAddress(outputDirectory) {
            configuration.objectStorage = try objectStorage()
        } else if spool != nil {
            throw ValidationError("--spool applies to --output-dir s3://BUCKET/PREFIX/; recordings into a folder are written in place")
        }
        guard let format = OutputFormat(rawValue: format == "opus" ? "ogg" : format) else {
            throw ValidationError("--format \(format): expected wav, ogg or webm")
        }
        guard let track = TrackSelection(rawValue: track) else { throw ValidationError("--track \(track): expected assistant, user or both") }
        configuration.options.format = format
        configuration.options.track = track
        if let layout {
            guard let chosen = ChannelLayout(rawValue: layout) else { throw ValidationError("--layout \(layout): expected stereo, mono or separate") }
            guard track == .both else {
                throw ValidationError("--layout \(layout) lays out both tracks; add --track both, or leave out --layout")
            }
            configuration.options.layout = chosen
        }
        if complexity != nil || bitrate != nil {
            guard format != .wav else { throw ValidationError("--complexity and --bitrate are for ogg and webm: WAV is not encoded") }
        }
        if let complexity {
            guard (0...10).contains(complexity) else { throw ValidationError("--complexity \(complexity): expected 0...10") }
            configuration.options.opus.complexity = complexity
        }
        if let bitrate {
            let range = OpusSettings.bitrates
            guard let bitsPerSecond = OpusSettings.bitrate(parsing: bitrate), range.contains(bitsPerSecond) else {
                throw ValidationError("--bitrate \(bitrate): expected \(range.lowerBound)...\(range.upperBound) bits per second (or 0.5k...512k)")
            }
            configuration.options.opus.bitrate = bitsPerSecond
        }
        configuration.savesLog = savesLog
        configuration.keepsJournal = !noJournal
        // The relay's own tests' hooks (RecordingFiles and RelayConfiguration say what for).
        let environment = ProcessInfo.processInfo.environment
        configuration.recordingSinkForTests = environment["DELTATAPE_RELAY_TEST_RECORDING_SINK"]
        configuration.namesForTests = environment["DELTATAPE_RELAY_TEST_NAMES"].map { $0.split(separator: ",").map(String.init) } ?? []
        configuration.startForTests = environment["DELTATAPE_RELAY_TEST_START"].flatMap(Double.init)
        guard recordingBuffer >= 1 else { throw ValidationError("--recording-buffer \(recordingBuffer): expected a number of bytes, at least 1") }
        configuration.recordingBufferBytes = recordingBuffer
        guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes \(maxMessageBytes): expected a number of bytes, at least 1024") }
        configuration.options.maximumMessageByteCount = maxMessageBytes
        guard recordingMemory >= 1 << 20 else {
            throw ValidationError("--recording-memory \(recordingMemory): expected a number of bytes, at least 1 MiB (1048576)")
        }
        configuration.recordingMemoryBytes = recordingMemory
        guard drainTimeout >= 0, drainTimeout.isFinite else { throw ValidationError("--drain-timeout \(drainTimeout): expected seconds, 0 or more") }
        configuration.drainTimeoutSeconds = drainTimeout
        guard requestTimeout >= 0, requestTimeout.isFinite else {
            throw ValidationError("--request-timeout \(requestTimeout): expected seconds, 0 or more (0: no deadline)")
        }
        configuration.requestTimeoutSeconds = requestTimeout
        guard idleTimeout >= 0, idleTimeout.isFinite else { throw ValidationError("--idle-timeout \(idleTimeout): expected seconds, 0 or more (0: no pings)") }
        configuration.idleTimeoutSeconds = idleTimeout
        guard maxConnections >= 1 else { throw ValidationError("--max-connections \(maxConnections): expected a number of connections, at least 1") }
        configuration.maximumConnections = maxConnections
        return configuration
    }
}

/// Fixes glibc's mmap threshold at its initial 128 KiB. By default glibc raises the threshold to the size of each large
/// block freed (up to 32 MiB), so that after the first large frames every later one is carved from the heap, and the
/// heap keeps what was freed: five connections sending 2 MiB continuation frames left the relay's peak 119 to 162 MiB
/// over its start, against 84 to 87 MiB with the threshold fixed (RelayMemoryTests). Realtime messages are kilobytes,
/// so the blocks this sends to mmap, and back to the system when freed, are the rare large ones.
func keepLargeBuffersOutOfTheHeap() {
    _ = deltatape_fix_mmap_threshold(128 << 10)
}

/// Raises the soft limit on open descriptors to the hard one, and says so when even that cannot hold
/// `connections` sessions (a client's and an upstream's socket, a recording, its log and its journal each, and a few
/// for the relay): beyond it accepting fails with EMFILE and every later client is turned away unanswered.
func checkDescriptorLimit(for connections: Int, output: EventOutput) {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0 else { return }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
        _ = getrlimit(resource, &limit)
    }
    let needed = connections * 5 + 64
    if limit.rlim_cur < rlim_t(needed) {
        output.emit(RelayEvent(.note, level: .warning,
                               "warning: --max-connections \(connections) may need \(needed) open descriptors and the limit is "
                                + "\(limit.rlim_cur) (ulimit -n); raise the limit or lower --max-connections"))
    }
}

/// Where the relay's events go (`--log-format`): prose lines on stderr (`deltatape relay: …`, the events people read),
/// or one JSON object per line, every event, through swift-log's ``JSONLineLogHandler``.
struct EventOutput: Sendable {
    /// The JSON logger; nil for prose.
    let logger: Logger?

    func emit(_ event: RelayEvent) {
        if let logger {
            event.log(to: logger)
        } else if event.isProse {
            FileHandle.standardError.write(Data(("deltatape relay: " + event.message + "\n").utf8))
        }
    }

    /// Says a note (one a person should read, in either format).
    func say(_ line: String) {
        emit(RelayEvent(.note, line))
    }

    /// Says why the relay cannot go on (in JSON too, at level critical), and exits with `status`.
    func fail(_ message: String, status: Int32) -> Never {
        if let logger {
            RelayEvent(.stopped, level: .critical, message, fields: [("exit_status", .stringConvertible(Int(status)))]).log(to: logger)
            exit(status)
        }
        deltatape_relay.fail(message, status: status)
    }

    /// The host's name and 6 random base32 characters: unique across a fleet and across restarts.
    static func defaultInstanceID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self) : "relay"
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        return (host.isEmpty ? "relay" : host) + "-" + String((0..<6).map { _ in alphabet.randomElement()! })
    }
}

/// Says why the relay cannot go on, in deltatape's voice (`deltatape: error: …`), and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data(("deltatape: error: " + message + "\n").utf8))
    exit(status)
}
