/// What an input holds, told from its first bytes rather than its name.
public enum InputKind: String, Sendable, Hashable, CaseIterable {
    /// One JSON message per line.
    case jsonLines = "jsonl"
    /// One JSON array of messages.
    case jsonArray = "json-array"
    /// A browser's HAR export with WebSocket frames.
    case har
    /// An audio file (WAV, RF64, AIFF, FLAC, Ogg).
    case audioFile = "audio"

    /// The kind in words, for messages.
    package var displayName: String {
        switch self {
        case .jsonLines: "JSON Lines session log"
        case .jsonArray: "JSON array of messages"
        case .har: "HAR export"
        case .audioFile: "audio file"
        }
    }

    /// How many bytes ``detect(_:)`` wants to see, when the input has that many.
    package static let detectionPrefixLength = 64 * 1024

    /// What an input of unknown kind was expected to be, for the error message.
    package static let expectation =
        "expected a session log: JSON Lines (one JSON message per line, such as OpenAI Realtime events), "
        + "a JSON array of messages, or a HAR export; or an audio file (WAV, FLAC, AIFF, Ogg)"

    /// Tells the kind of an input from its first bytes.
    ///
    /// - Parameter prefix: The input's first bytes (up to ``detectionPrefixLength``; all of a shorter input).
    /// - Returns: The kind, or `nil` when the bytes fit none.
    package static func detect(_ prefix: UnsafeRawBufferPointer) -> InputKind? {
        var bytes = prefix
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            bytes = UnsafeRawBufferPointer(rebasing: bytes[3...])
        }
        if bytes.count >= 4 {
            let magic = (bytes[0], bytes[1], bytes[2], bytes[3])
            switch magic {
            case (0x52, 0x49, 0x46, 0x46), (0x52, 0x46, 0x36, 0x34), (0x46, 0x4F, 0x52, 0x4D),  // RIFF RF64 FORM
                 (0x66, 0x4C, 0x61, 0x43), (0x4F, 0x67, 0x67, 0x53):  // fLaC OggS
                return .audioFile
            default: break
            }
        }
        guard let first = bytes.firstIndex(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A) }) else {
            return nil
        }
        if bytes[first] == UInt8(ascii: "[") { return .jsonArray }
        if bytes[first] == UInt8(ascii: "{"), firstKeyIsLog(bytes, from: first + 1) { return .har }
        // JSON Lines when a line within the prefix is a whole JSON object, or the first line is longer than the
        // prefix (a first message carrying megabytes of audio).
        var scanner = JSONScanner()
        var lineStart = first
        var linesTried = 0
        let lineEnd = lineEndByte(bytes, from: first)
        while lineStart < bytes.count, linesTried < 16 {
            guard let newline = bytes[lineStart...].firstIndex(of: lineEnd) else {
                // The last line is cut off by the prefix's end unless the prefix is the whole input.
                if linesTried == 0 && bytes.count >= detectionPrefixLength - 3 { return .jsonLines }
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart...])
                if (try? scanner.scanObject(line)) != nil { return .jsonLines }
                return nil
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<newline])
            if !line.isBlank {
                if (try? scanner.scanObject(line)) != nil { return .jsonLines }
                linesTried += 1
            }
            lineStart = newline + 1
        }
        return nil
    }

    /// The byte the lines end with, as ``LineReader`` decides it: a bare `\r` when the first line end is one (classic Mac
    /// OS line ends), `\n` otherwise.
    private static func lineEndByte(_ bytes: UnsafeRawBufferPointer, from index: Int) -> UInt8 {
        guard let end = bytes[index...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }), bytes[end] == 0x0D else { return 0x0A }
        return end + 1 < bytes.count && bytes[end + 1] == 0x0A ? 0x0A : 0x0D
    }

    /// Whether the object that opens at `index - 1` has `"log"` as its first key (HAR's shape).
    private static func firstKeyIsLog(_ bytes: UnsafeRawBufferPointer, from index: Int) -> Bool {
        var position = index
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 || bytes[position] == 0x0D || bytes[position] == 0x0A {
            position += 1
        }
        let key: [UInt8] = Array("\"log\"".utf8)
        guard position + key.count <= bytes.count else { return false }
        return bytes[position..<(position + key.count)].elementsEqual(key)
    }
}
