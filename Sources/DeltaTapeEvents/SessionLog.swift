/// Why a session log could not be opened or read as one: Events' own error, which the converter and the inspector
/// carry as `ConversionError` (unreadable → `unreadableInput`, the rest → `badInput`).
package enum SessionLogError: Error, CustomStringConvertible {
    /// Reading the input failed (it does not exist, a read error).
    case unreadable(InputError)
    /// The input is no session log DeltaTape can read, or not as the kind it was forced to: what it is instead, and
    /// what to do, in words.
    case notASessionLog(String)

    package var description: String {
        switch self {
        case .unreadable(let error): error.description
        case .notASessionLog(let message): message
        }
    }
}

/// What the next message of a session log held: an event, or a problem (the message is skipped, or, with a warning,
/// an event follows it).
package enum SessionLogItem {
    /// An event, valid until the next read, and the line (or frame) it is on.
    case event(line: Int, Event)
    /// A message that is not an event, or a warning about the event that comes next.
    case problem(Problem)
}


/// A session log opened for reading: its kind detected from its content, its messages read one at a time.
package final class SessionLog {
    /// The input's name: its path, or `stdin` for `-`.
    package let name: String
    /// The input's kind: as the caller forced it, or detected from its first bytes.
    package let kind: InputKind
    /// What detection made of the first bytes (`nil`: no known kind), whether or not ``kind`` was forced.
    package let detectedKind: InputKind?
    /// Whether ``kind`` was forced by the caller rather than detected.
    package let isKindForced: Bool
    /// The reader that interprets the messages; it knows the vocabulary and formats seen so far.
    package private(set) var reader: EventReader
    /// Lines read so far, blank ones included (for a JSON array: the line of the last message's start).
    package private(set) var lineCount = 0
    /// Messages read so far (valid or not; blank lines excluded).
    package private(set) var messageCount = 0

    private let messages: any MessageSource
    /// Closes the input, if this log opened it.
    private let closeSource: () -> Void

    /// What runs while a live input (a pipe, standard input) has nothing to read: set its action to put what a writer
    /// holds on disk. It runs on the reading thread, inside ``next()``.
    package let inputStall = InputStallHandler()

    /// Whether the input arrives over time (a pipe, standard input from a live session) rather than from a file.
    package let isLive: Bool

    /// An input opened by ``open(path:kind:)``.
    package enum OpenedInput {
        /// A session log, ready to read.
        case session(SessionLog)
        /// An audio file (closed again: libsndfile opens it by path).
        case audioFile
    }

    /// Opens the input at `path` (`-` for standard input) and detects its kind, reading its first bytes once.
    ///
    /// - Parameters:
    ///   - path: A file path, or `-`.
    ///   - kind: The input's kind, when the caller knows it better than detection (`--input-kind`).
    ///   - eventField: The envelope field holding each event, when a logger names it other than the common
    ///     spellings (`--event-field`; see ``EventReader/init(eventField:)``).
    /// - Returns: The session log, or word that the input is an audio file (from a path only).
    /// - Throws: ``SessionLogError/unreadable(_:)`` when the input cannot be read; ``SessionLogError/notASessionLog(_:)`` when it
    ///   is no kind of input DeltaTape knows, or an audio file on standard input.
    ///   - maximumMessageByteCount: The longest message read, a line, an array element or a HAR frame (`--max-message-bytes`, 64 MiB by default): a
    ///     longer one is skipped in bounded memory and reported as a problem naming its line.
    package static func open(
        path: String, kind knownKind: InputKind? = nil, eventField: String? = nil, maximumMessageByteCount: Int = defaultMaximumMessageByteCount
    ) throws(SessionLogError) -> OpenedInput {
        let source: FileByteSource
        do throws(InputError) {
            source = try FileByteSource.forPath(path)
        } catch {
            throw .unreadable(error)
        }
        return try open(source, path: path, kind: knownKind, eventField: eventField, maximumMessageByteCount: maximumMessageByteCount)
    }

    /// Opens the session log `source` holds and detects its kind, reading its first bytes once (see ``open(path:kind:)``).
    ///
    /// - Parameters:
    ///   - path: The path the source was opened from (`-` for standard input), for messages.
    ///   - detected: What ``InputKind/detect(_:)`` made of the first bytes, when the caller looked at them already
    ///     (`.some(nil)`: no known kind); `nil` to detect here.
    package static func open<Source: SessionLogSource>(
        _ source: Source, path: String, kind knownKind: InputKind?, detected knownDetection: InputKind?? = nil, eventField: String?,
        maximumMessageByteCount: Int
    ) throws(SessionLogError) -> OpenedInput {
        var source = source
        let name = source.name
        // Read the detection prefix; it is handed to the message reader so nothing is read twice.
        let prefix: [UInt8]
        do throws(InputError) {
            prefix = try readDetectionPrefix(&source)
        } catch {
            source.close()
            throw .unreadable(error)
        }
        guard !prefix.isEmpty else {
            source.close()
            throw .notASessionLog("\(name): the input is empty; \(InputKind.expectation)")
        }
        let detected = knownDetection ?? prefix.withUnsafeBytes { InputKind.detect($0) }
        guard let kind = knownKind ?? detected else {
            source.close()
            if let encoding = prefix.withUnsafeBytes(utf16Encoding) {
                throw .notASessionLog("\(name): the input is UTF-16 text (\(encoding)), and session logs are read as UTF-8, as JSON requires "
                    + "(RFC 8259 §8.1); convert it first: iconv -f UTF-16 -t UTF-8 \(path) > converted.jsonl")
            }
            throw .notASessionLog("\(name): not a recognized input; \(InputKind.expectation)")
        }
        guard kind != .audioFile else {
            source.close()
            guard path != "-" else {
                throw .notASessionLog("\(name): looks like an audio file; audio files are read from a path, not from standard input; "
                    + "for a stream, send raw PCM with --input-format")
            }
            return .audioFile
        }
        return .session(SessionLog(name: name, kind: kind, detectedKind: detected, isKindForced: knownKind != nil, source: source, prefix: prefix,
                                   eventField: eventField, maximumMessageByteCount: maximumMessageByteCount))
    }

    /// The input's first bytes, from which its kind is detected: ``InputKind/detectionPrefixLength`` of them, fewer only
    /// at the input's end.
    package static func readDetectionPrefix(_ source: inout some ByteSource) throws(InputError) -> [UInt8] {
        var prefix = [UInt8](repeating: 0, count: InputKind.detectionPrefixLength)
        var filled = 0
        while filled < prefix.count {
            let count = try prefix.withUnsafeMutableBytes { buffer in
                Result { () throws(InputError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])) }
            }.get()
            if count == 0 { break }
            filled += count
        }
        prefix.removeSubrange(filled...)
        return prefix
    }

    /// The longest message read unless a caller says otherwise: 64 MiB, far past any realtime message (audio deltas are
    /// kilobytes), and a bound on what a single line can cost in memory.
    package static let defaultMaximumMessageByteCount = 64 << 20

    /// Opens the session log at `path` (`-` for standard input), for callers that read session logs only.
    ///
    /// - Throws: As ``open(path:kind:)``, and ``SessionLogError/notASessionLog(_:)`` for an audio file.
    package static func openSession(
        path: String, kind: InputKind? = nil, eventField: String? = nil, maximumMessageByteCount: Int = defaultMaximumMessageByteCount
    ) throws(SessionLogError) -> SessionLog {
        guard case .session(let log) = try open(path: path, kind: kind, eventField: eventField, maximumMessageByteCount: maximumMessageByteCount) else {
            throw .notASessionLog("\(path): looks like an audio file; it holds no session events to read; 'deltatape convert' converts audio files")
        }
        return log
    }

    private init<Source: SessionLogSource>(name: String, kind: InputKind, detectedKind: InputKind?, isKindForced: Bool, source: Source,
                                           prefix: [UInt8], eventField: String?, maximumMessageByteCount: Int) {
        self.name = name
        reader = EventReader(eventField: eventField)
        self.kind = kind
        self.detectedKind = detectedKind
        self.isKindForced = isKindForced
        var source = source
        source.stallHandler = inputStall
        isLive = source.isLive
        closeSource = { [source] in source.close() }
        messages = switch kind {
        case .jsonArray: JSONArrayReader(source: source, prefix: prefix, maximumMessageByteCount: maximumMessageByteCount)
        case .har: HARReader(source: source, prefix: prefix, maximumMessageByteCount: maximumMessageByteCount)
        default: LineReader(source: source, prefix: prefix, maximumLineByteCount: maximumMessageByteCount)
        }
    }

    deinit {
        closeSource()
    }

    /// Bytes read from the input so far.
    package var byteCount: Int { messages.byteCount }

    /// Whether the input is a HAR in which no WebSocket frame was found (so far).
    package var isHARWithoutFrames: Bool { kind == .har && messageCount == 0 }

    /// Why a HAR holds no frames and how to export one that does, for messages and notes.
    package static let harWithoutFramesExplanation = "the HAR holds no WebSocket frames (no _webSocketMessages): it was "
        + "saved without the WebSocket connection, or by a tool that does not export frames; Chrome DevTools exports them "
        + "(Network panel, the connection listed, then Save all as HAR)"

    /// Why a HAR gave no frame, from what its reading found: frame arrays whose elements are not frames (`[[frames]]`),
    /// frame arrays only where no browser writes them, or none at all.
    ///
    /// - Parameters:
    ///   - nonFrameElements: Elements of `log.entries[]._webSocketMessages` that are not frame objects.
    ///   - misplacedFrameArrays: `_webSocketMessages` arrays outside `log.entries[]`, passed over.
    package static func harWithoutFramesExplanation(nonFrameElements: Int, misplacedFrameArrays: Int) -> String {
        if nonFrameElements > 0 {
            return "the HAR has _webSocketMessages, but \(nonFrameElements == 1 ? "its element is" : "its \(nonFrameElements) elements are") "
                + "not frame objects ({\"type\", \"time\", \"opcode\", \"data\"}): arrays nested a level too deep, it seems "
                + "([[frames]]); flatten them (jq '.log.entries[]._webSocketMessages |= flatten' in.har > out.har), or save the "
                + "HAR again from Chrome DevTools"
        }
        if misplacedFrameArrays > 0 {
            return "the HAR has _webSocketMessages only outside log.entries[] (\(misplacedFrameArrays == 1 ? "one array" : "\(misplacedFrameArrays) arrays"), "
                + "in a request or at log level), where no browser writes frames, so none was read as audio; if they are the "
                + "session's frames, move them into the WebSocket entry (log.entries[]._webSocketMessages)"
        }
        return harWithoutFramesExplanation
    }

    /// Why this HAR gave no frame (see ``harWithoutFramesExplanation(nonFrameElements:misplacedFrameArrays:)``).
    package var harWithoutFramesReason: String {
        Self.harWithoutFramesExplanation(nonFrameElements: webSocketCounts?.nonFrameElements ?? 0,
                                         misplacedFrameArrays: webSocketCounts?.misplacedFrameArrays ?? 0)
    }

    /// Warnings about the HAR's structure, once it has been read: frame arrays passed over because they are outside
    /// `log.entries[]`, and elements of frame arrays that are not frames. Empty for other inputs, and when frames were
    /// found nowhere (the no-audio message says why then).
    package var harStructureWarnings: [String] {
        guard let counts = webSocketCounts, messageCount > 0 else { return [] }
        var warnings: [String] = []
        if counts.misplacedFrameArrays > 0 {
            warnings.append("\(counts.misplacedFrameArrays == 1 ? "a _webSocketMessages array" : "\(counts.misplacedFrameArrays) _webSocketMessages arrays") "
                + "outside log.entries[] (in a request or at log level) passed over: frames are read only from the WebSocket "
                + "entries, where browsers write them, so that stray or planted arrays never become audio")
        }
        if counts.nonFrameElements > 0 {
            warnings.append("\(counts.nonFrameElements == 1 ? "an element" : "\(counts.nonFrameElements) elements") of _webSocketMessages "
                + "that \(counts.nonFrameElements == 1 ? "is" : "are") not a frame object (an array or a scalar where {\"type\", \"opcode\", "
                + "\"data\"} belongs) skipped")
        }
        return warnings
    }

    /// Throws when the input, read to its end as the kind the caller forced, gave not one message: the kind does
    /// not fit the content, and an empty report or a "no audio" would hide that.
    ///
    /// - Throws: ``SessionLogError/notASessionLog(_:)`` saying what the content looks like instead.
    package func refuseForcedKindWithoutMessages() throws(SessionLogError) {
        guard isKindForced, messageCount == 0 else { return }
        let instead = detectedKind.map { "its content looks like \($0.displayName.withArticle)" } ?? "its content is no kind of input DeltaTape knows"
        let detail = kind == .har ? " (no _webSocketMessages)" : ""
        throw .notASessionLog("\(name): read as \(kind.displayName.withArticle) (--input-kind \(kind.rawValue)), it yields no message\(detail); "
            + "\(instead); leave out --input-kind to read it as what it is")
    }

    /// For a HAR: the WebSocket connections found so far, and the frames skipped because they hold no JSON message.
    package var webSocketCounts: (connections: Int, nonMessageFrames: Int, nonFrameElements: Int, misplacedFrameArrays: Int)? { messages.webSocketCounts }

    /// An event read with a warning, handed out on the call after the warning's (``next()`` returns one item at a time).
    private var pendingEvent: (line: Int, event: Event)?

    /// Reads the next message: its event, valid until the next call, or the problem it has; `nil` at the end of the input.
    ///
    /// Blank lines are skipped. A line that is not a JSON object is returned as a problem and skipped. An event read
    /// with a warning (a message cut off mid-payload) comes as the warning first, then the event.
    /// - Throws: ``InputError`` when reading fails.
    package func next() throws(InputError) -> SessionLogItem? {
        if let pending = pendingEvent {
            pendingEvent = nil
            return .event(line: pending.line, pending.event)
        }
        while true {
            guard let (number, bytes) = try messages.nextMessage() else { return nil }
            lineCount = number
            // A HAR names the frame as well as the line.
            let label = messages.messageLabel.map { "\($0): " } ?? ""
            if let trouble = messages.messageProblem {
                messageCount += 1
                return .problem(Problem(input: name, line: number, message: label + trouble))
            }
            if bytes.isBlank { continue }
            messageCount += 1
            switch reader.readMessage(bytes, time: messages.messageTime, recoveringCutOff: true) {
            case .event(let event, let warning):
                if let warning {
                    pendingEvent = (number, event)
                    return .problem(Problem(input: name, line: number, message: label + warning))
                }
                return .event(line: number, event)
            case .malformed(let reason):
                return .problem(Problem(input: name, line: number, message: label + reason))
            }
        }
    }
}

/// What a session log is read from: a file or standard input (``FileByteSource``), or the chunks a recorder is given.
package protocol SessionLogSource: ByteSource {
    /// Runs while a live input has nothing to read.
    var stallHandler: InputStallHandler? { get set }
    /// Whether the input arrives over time (a pipe, a live session) rather than being all there (a regular file).
    var isLive: Bool { get }
    /// Closes the input, if the source opened it.
    func close()
}

extension FileByteSource: SessionLogSource {}

/// The byte order of UTF-16 text, in words, when the bytes look like it: a byte order mark (Windows tools such as
/// PowerShell's `>` write one), or ASCII text with every other byte zero; `nil` otherwise.
private func utf16Encoding(_ bytes: UnsafeRawBufferPointer) -> String? {
    if bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xFE { return "little-endian, with a byte order mark" }
    if bytes.count >= 2, bytes[0] == 0xFE, bytes[1] == 0xFF { return "big-endian, with a byte order mark" }
    let pairs = min(bytes.count / 2, 512)
    guard pairs >= 2 else { return nil }
    let zeroHigh = (0..<pairs).filter { bytes[2 * $0 + 1] == 0 && bytes[2 * $0] != 0 }.count
    let zeroLow = (0..<pairs).filter { bytes[2 * $0] == 0 && bytes[2 * $0 + 1] != 0 }.count
    if zeroHigh * 10 >= pairs * 9 { return "little-endian" }
    if zeroLow * 10 >= pairs * 9 { return "big-endian" }
    return nil
}

extension String {
    /// The phrase with "a" or "an" before it.
    fileprivate var withArticle: String {
        (first.map { "aeiouAEIOU".contains($0) } ?? false ? "an " : "a ") + self
    }
}
