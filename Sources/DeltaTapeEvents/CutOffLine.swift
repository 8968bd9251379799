// A message cut off inside a string (its writer killed mid-write) is closed by hand here: no JSON library repairs
// text, and the audio before the cut is the end of the recording, which a careful archiver keeps.
import DeltaTapeKernels

extension EventReadError {
    /// Whether the message ended inside a value: the text stopped, rather than went wrong.
    package var isCutOff: Bool {
        guard case .json(.syntax(let error)) = self else { return false }
        return error.message.hasPrefix("unexpected end of text")
    }
}

extension EventReader {
    /// Reads a message cut off inside a string, as the last line of a log whose writer was killed leaves it: the
    /// string is closed after its last whole group of eight base64 characters (six bytes: whole 16-bit samples, so a
    /// stream's later deltas stay aligned), the open objects and arrays after it, and the repaired message is read.
    /// Valid until the next read, as any event.
    ///
    /// - Parameter message: The message's bytes, as read (``EventReadError/isCutOff`` said it was cut off).
    /// - Returns: The event, with a ``Event/warning`` saying how much audio was kept, when the cut fell inside an
    ///   audio payload; `nil` otherwise (nothing is salvaged from a cut elsewhere).
    package mutating func readCutOff(_ message: UnsafeRawBufferPointer) -> Event? {
        var closers: [UInt8] = []
        var stringStart: Int?
        var escaped = false
        for (index, byte) in message.enumerated() {
            if stringStart != nil {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { stringStart = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): stringStart = index + 1
            case UInt8(ascii: "{"): closers.append(UInt8(ascii: "}"))
            case UInt8(ascii: "["): closers.append(UInt8(ascii: "]"))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = closers.popLast()
            default: break
            }
        }
        guard let start = stringStart, !closers.isEmpty else { return nil }
        // Keep whole groups of eight base64 characters; an escape (`\/`, `\u002B`) is one character, and one cut in
        // the middle is dropped.
        var end = start, characterCount = 0, index = start
        while index < message.count {
            let length = message[index] != UInt8(ascii: "\\") ? 1 : index + 1 < message.count && message[index + 1] == UInt8(ascii: "u") ? 6 : 2
            guard index + length <= message.count else { break }
            index += length
            characterCount += 1
            if characterCount % 8 == 0 { end = index }
        }
        var repaired = [UInt8](UnsafeRawBufferPointer(rebasing: message[..<end]))
        repaired.append(UInt8(ascii: "\""))
        repaired.append(contentsOf: closers.reversed())
        let text = repairBuffer.store(repaired)
        guard var event = try? read(text) else { return nil }
        var keptBytes = 0, format: AudioFormat?
        event.forEachAudioDelta { delta in
            let payload = delta.payloadHasEscapes ? JSONString.unescaped(text, delta.payload) : Array(text[delta.payload])
            keptBytes += payload.count / 4 * 3 - payload.suffix(2).count { $0 == UInt8(ascii: "=") }
            format = delta.format
        }
        guard let format else { return nil }
        let seconds = format.durationSeconds(byteCount: keptBytes)
        event.warning = "the line is cut off inside its audio payload (its writer stopped mid-write): the first \(keptBytes) bytes of "
            + "audio (\(Int((seconds * 1000).rounded())) ms) are kept, the rest of the line never arrived"
        return event
    }
}
