@_spi(Blocks) import DeltaTapeKernels

/// Reads the WebSocket messages out of a browser's HAR export, streaming, in bounded memory.
///
/// Chrome (and mitmproxy, HTTP Toolkit) put each WebSocket connection's frames in its entry's
/// `_webSocketMessages` array: `{"type": "send" | "receive", "time": <epoch seconds>, "opcode": 1 | 2, "data": ...}`;
/// some tools write `type` `request` / `response`. Text frames (opcode 1) hold the message as a JSON string; binary
/// frames (opcode 2) hold it base64-encoded (Gemini Live sends its JSON in binary frames). Close, ping, pong and error
/// frames are skipped. The rest of the HAR (requests, responses, bodies) is passed over without being kept: only
/// the structure is followed to find the frames, so a HAR cut short still yields the frames before the cut.
@_spi(Blocks) public final class HARReader<Source: ByteSource>: MessageSource {
    private let input: ReadBuffer<Source>
    private var line = 1
    private var inFrames = false
    private var frameNumber = 0
    /// The message taken out of the last frame (unescaped text, or decoded binary), valid until the next call.
    private var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private var scanner = JSONScanner()

    /// Bytes of the HAR read so far.
    public var byteCount: Int { input.byteCount }
    /// `WebSocket frame 12 (received)`; from the second connection on, `WebSocket frame 57 (connection 2, received)`.
    /// Built when asked for (problems only), not for every frame.
    public var messageLabel: String? {
        guard frameNumber > 0, !reportedEnd else { return nil }
        let details = [connectionCount > 1 ? "connection \(connectionCount)" : nil,
                       messageWasSent.map { $0 ? "sent" : "received" }].compactMap { $0 }
        return "WebSocket frame \(frameNumber)" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
    }
    /// What was wrong with the frame just returned (it is still returned), if anything.
    public private(set) var messageProblem: String?
    /// The frame's time (seconds since the epoch), when the HAR gives one.
    public private(set) var messageTime: Double?
    /// Whether the last message was sent by the client (`send` / `request`) rather than received from the server;
    /// `nil` when its frame was not a valid frame object.
    public private(set) var messageWasSent: Bool?

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - source: Where the bytes come from.
    ///   - chunkSize: How much to read at a time.
    ///   - prefix: Bytes already read from `source`.
    ///   - maximumMessageByteCount: The longest frame read (64 MiB by default): a longer one is passed over without being
    ///     held, and ``messageProblem`` says so. The rest of the HAR is never held, whatever its size.
    public init(source: Source, chunkSize: Int = 1 << 20, prefix: [UInt8] = [], maximumMessageByteCount: Int = 64 << 20) {
        input = ReadBuffer(source: source, chunkSize: min(chunkSize, max(16, maximumMessageByteCount)), prefix: prefix)
        self.maximumMessageByteCount = max(1, maximumMessageByteCount)
    }

    /// The longest frame read; a longer one is passed over in bounded memory and reported.
    public let maximumMessageByteCount: Int

    /// WebSocket connections (entries with `_webSocketMessages`) found so far; their messages are read in file order.
    public private(set) var connectionCount = 0
    /// Text or binary frames skipped because they hold no JSON object: another protocol's socket in the same export
    /// (Socket.IO's `42[...]`, a dev server's heartbeats).
    public private(set) var nonMessageFrameCount = 0

    /// Elements of a frames array that are not frame objects: an array (`"_webSocketMessages": [[frames]]`, a tool that
    /// nests them a level too deep), a string or a number. Skipped: they carry no frame to read.
    public private(set) var nonFrameElementCount = 0

    /// The connections, the frames without a JSON message, the elements that are no frame, and the misplaced frame arrays
    /// found so far.
    public var webSocketCounts: (connections: Int, nonMessageFrames: Int, nonFrameElements: Int, misplacedFrameArrays: Int)? {
        (connectionCount, nonMessageFrameCount, nonFrameElementCount, misplacedFrameArrayCount)
    }

    /// The next WebSocket frame holding a message, with its line in the HAR; `nil` at the end.
    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        while true {
            if !inFrames {
                guard try skipToFrames() else {
                    // The HAR's document never closed: the file was cut off (between frames, or anywhere after them).
                    guard !containers.isEmpty || deeperDepth > 0, !reportedEnd else { return nil }
                    reportedEnd = true
                    messageWasSent = nil
                    messageTime = nil
                    messageProblem = "the HAR ends before its closing brackets: the file was cut off, perhaps while it was "
                        + "saved; the frames before the cut were read, what followed is missing"
                    return (line, UnsafeRawBufferPointer(start: nil, count: 0))
                }
                inFrames = true
                connectionCount += 1
            }
            guard let (frameLine, frame, skipped) = try nextFrame() else {
                inFrames = false
                continue
            }
            frameNumber += 1
            messageWasSent = nil
            messageProblem = nil
            messageTime = nil
            if let skipped {
                messageProblem = oversizedMessageProblem(byteCount: skipped, limit: maximumMessageByteCount)
                return (frameLine, frame)
            }
            guard frame.firstNonWhitespaceByte == UInt8(ascii: "{") else {
                nonFrameElementCount += 1
                continue
            }
            if let bytes = extractMessage(frame) {
                if isJSONObjectText(bytes) { return (frameLine, bytes) }
                nonMessageFrameCount += 1
                continue
            }
            if messageProblem != nil { return (frameLine, UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
    }

    /// Whether a message starts like a JSON object (whitespace aside): what every realtime vocabulary sends. A frame
    /// element that is itself broken starts with `{` too, and reaches the event reader to be reported.
    private func isJSONObjectText(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.firstNonWhitespaceByte == UInt8(ascii: "{")
    }

    // MARK: - Finding the frames

    /// Passes over the HAR until just after the `[` of the next `log.entries[]._webSocketMessages` array: only
    /// there are frames read. An array of that name anywhere else (inside a request, at `log` level: a decoy or another
    /// tool's data) is passed over and counted in ``misplacedFrameArrayCount``. Keys are compared unescaped
    /// (`_webSocket\u004dessages` is the same key).
    /// - Returns: `false` at the end of the input.
    private func skipToFrames() throws(InputError) -> Bool {
        var inString = false, escaped = false
        var stringHasEscapes = false
        var stringIsLong = false  // longer than any key of interest: skipped by the string-scan kernel
        while true {
            if input.start == input.end {
                if input.reachedEnd { return false }
                try input.fill()
                continue
            }
            // Locals, not the buffer's properties, inside the loop: each property access is an exclusivity check.
            let base = UnsafePointer(input.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
            var position = input.start
            let end = input.end
            defer { input.start = position }
            while position < end {
                if inString && stringIsLong && !escaped {
                    // A string that cannot be a key of interest (bodies, headers): skipped by the string-scan kernel.
                    position += JSONStringScan.plainPrefixLength(base + position, count: end - position)
                    guard position < end else { break }
                }
                let byte = base[position]
                position += 1
                if byte == 0x0A { line += 1 }
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                        stringHasEscapes = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                        lastString = stringIsLong ? nil : Self.keyOfInterest(keyBytes, hasEscapes: stringHasEscapes)
                        continue
                    }
                    if !stringIsLong {
                        if keyBytes.count < Self.longestKeyByteCount { keyBytes.append(byte) } else { stringIsLong = true }
                    }
                    continue
                }
                switch byte {
                case 0x20, 0x09, 0x0D, 0x0A:
                    continue
                case UInt8(ascii: "\""):
                    inString = true
                    stringHasEscapes = false
                    stringIsLong = false
                    keyBytes.removeAll(keepingCapacity: true)
                case UInt8(ascii: ":"):
                    currentKey = lastString
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let role = Self.role(opening: byte, in: deeperDepth > 0 ? .other : containers.last, key: currentKey)
                    currentKey = nil
                    lastString = nil
                    if role == .frames { return true }
                    if role == .misplacedFrames { misplacedFrameArrayCount += 1 }
                    // Only the outer levels matter to where frames are; deeper ones (a hostile HAR nests millions) are counted.
                    if containers.count < Self.deepestRecordedLevel { containers.append(role) } else { deeperDepth += 1 }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if deeperDepth > 0 { deeperDepth -= 1 } else { _ = containers.popLast() }
                    currentKey = nil
                default:
                    // A comma, or a literal value: the key before it has been used.
                    currentKey = nil
                    lastString = nil
                }
            }
        }
    }

    /// Where a container sits in the HAR's structure: frames are read only from `log.entries[]._webSocketMessages`.
    private enum Role { case root, log, entries, entry, frames, misplacedFrames, other }

    /// The keys that lead to frames.
    private enum Key { case log, entries, webSocketMessages }

    /// The containers open around the reading position, outermost first, down to ``deepestRecordedLevel``.
    private var containers: [Role] = []
    /// Containers open below the deepest recorded level (all of them `.other`): counted, not held, so that nesting costs
    /// no memory.
    private var deeperDepth = 0
    private static var deepestRecordedLevel: Int { 64 }
    /// The key whose value comes next, when it is one of interest.
    private var currentKey: Key?
    /// The last string read, when it is a key of interest (it is a key if a colon follows).
    private var lastString: Key?
    /// The current string's bytes, while it is short enough to be a key of interest.
    private var keyBytes: [UInt8] = []
    private static var longestKeyByteCount: Int { 64 }  // room for escapes: `_webSocket\u004dessages` and worse

    private var reportedEnd = false

    /// `_webSocketMessages` arrays found outside `log.entries[]` and passed over.
    public private(set) var misplacedFrameArrayCount = 0

    private static func role(opening byte: UInt8, in parent: Role?, key: Key?) -> Role {
        let isObject = byte == UInt8(ascii: "{")
        switch (parent, key, isObject) {
        case (nil, _, true): return .root
        case (.root, .log, true): return .log
        case (.log, .entries, false): return .entries
        case (.entries, _, true): return .entry
        case (.entry, .webSocketMessages, false): return .frames
        case (_, .webSocketMessages, false): return .misplacedFrames
        default: return .other
        }
    }

    private static func keyOfInterest(_ bytes: [UInt8], hasEscapes: Bool) -> Key? {
        guard let text = hasEscapes ? asciiUnescaped(bytes) : bytes else { return nil }
        switch text {
        case Array("log".utf8): return .log
        case Array("entries".utf8): return .entries
        case Array("_webSocketMessages".utf8): return .webSocketMessages
        default: return nil
        }
    }

    /// The string's bytes with its escapes resolved, when every escape is `\"`, `\\`, `\/` or a `\u` escape of an ASCII
    /// character (the keys of interest are ASCII); `nil` for anything else. These strings were never validated (the
    /// HAR's structure is followed without scanning it), so nothing here trusts them: a fuzzer found that the
    /// validated-input unescaper traps on a lone `\uDBFF`.
    private static func asciiUnescaped(_ bytes: [UInt8]) -> [UInt8]? {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { return nil }
            switch bytes[index + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                output.append(bytes[index + 1])
                index += 2
            case UInt8(ascii: "u"):
                guard index + 6 <= bytes.count else { return nil }
                var value = 0
                for digit in bytes[(index + 2)..<(index + 6)] {
                    guard let nibble = hexValue(digit) else { return nil }
                    value = value << 4 | nibble
                }
                guard value < 0x80 else { return nil }
                output.append(UInt8(value))
                index += 6
            default:
                return nil
            }
        }
        return output
    }

    private static func hexValue(_ digit: UInt8) -> Int? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(digit - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(digit - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(digit - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// The next element of the frames array and the line it starts on; `nil` after the array's `]`.
    private func nextFrame() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer, skippedByteCount: Int?)? {
        while let byte = try input.peek() {
            switch byte {
            case 0x0A:
                line += 1
                input.start += 1
            case 0x20, 0x09, 0x0D, UInt8(ascii: ","):
                input.start += 1
            case UInt8(ascii: "]"):
                input.start += 1
                return nil
            default:
                return try input.takeJSONValue(line: &line, maximumByteCount: maximumMessageByteCount)
            }
        }
        return nil
    }

    // MARK: - Taking the message out of a frame

    /// The message a frame carries; `nil` for frames that carry none (close, ping, error) or when ``messageProblem``
    /// says why it could not be taken out. A frame that is not a valid JSON object is returned as it is, so that the
    /// event reader reports it.
    private func extractMessage(_ frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        do {
            try scanner.scanObject(frame)
        } catch {
            return frame
        }
        guard let object = JSONObjectView(scanner: scanner, text: frame) else { return frame }
        messageTime = object.double("time")
        messageWasSent = object.stringEquals("type", "send") || object.stringEquals("type", "request")
        guard let data = object.member("data"), data.kind == .string else { return nil }
        let text = UnsafeRawBufferPointer(rebasing: frame[data.value])
        switch object.integer("opcode") ?? 1 {
        case 1:
            guard data.valueHasEscapes else { return text }
            reserve(text.count)
            let count = JSONString.unescape(frame, data.value, into: storage)
            return UnsafeRawBufferPointer(rebasing: storage[..<count])
        case 2:
            // Base64 with escapes (`\/`) is rare: resolved into a scratch array first, since decoding goes to storage.
            let decoded = data.valueHasEscapes
                ? JSONString.unescaped(frame, data.value).withUnsafeBytes { decodeBase64($0) }
                : decodeBase64(text)
            switch decoded {
            case .success(let bytes):
                return bytes
            case .failure(let error):
                messageProblem = "the binary frame's data is not valid base64 (\(error)); frame skipped"
                return nil
            }
        default:
            return nil  // close (8), ping (9), pong (10), error (-1)
        }
    }

    /// Decodes base64 `text` into the message storage.
    private func decodeBase64(_ text: UnsafeRawBufferPointer) -> Result<UnsafeRawBufferPointer, Base64.DecodingError> {
        reserve(Base64.maximumDecodedByteCount(encodedByteCount: text.count))
        do throws(Base64.DecodingError) {
            let count = try Base64.decode(text, into: storage)
            return .success(UnsafeRawBufferPointer(rebasing: storage[..<count]))
        } catch {
            return .failure(error)
        }
    }

    private func reserve(_ count: Int) {
        guard storage.count < count else { return }
        storage.deallocate()
        storage = .allocate(byteCount: max(count, 2 * storage.count), alignment: 16)
    }

    deinit {
        storage.deallocate()
    }
}

extension UnsafeRawBufferPointer {
    /// The first byte that is not JSON whitespace, if any.
    var firstNonWhitespaceByte: UInt8? {
        first { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
    }
}
