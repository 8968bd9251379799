import DeltaTapeContainers
import DeltaTapeEvents
@_spi(Blocks) import DeltaTapeKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps a recorded session's messages as a session log: JSON Lines in the `{"time", "source", "event"}` envelope
/// that the reader recognizes, so a recording can be converted again later. A message that is a JSON object goes in
/// as it is; other text as a JSON string (it still reads, and its problem is reported again); anything a JSON string
/// cannot hold as it is (a binary frame that is no JSON object, text that is not UTF-8) as `"event_base64"`, its
/// bytes exactly. A binary frame's line says so (`"frame":"binary"`): Gemini Live sends its JSON in binary frames.
struct SessionLogWriter {
    private let sink: any ByteSink
    private var buffer: [UInt8] = []

    init(_ sink: any ByteSink) {
        self.sink = sink
        buffer.reserveCapacity(Self.blockByteCount)
    }

    /// Lines gathered before a write.
    private static let blockByteCount = 1 << 16

    mutating func append(_ message: [UInt8], isJSONObject: Bool, isBinary: Bool = false, time: Double?,
                         direction: MessageDirection?) throws(OutputError) {
        Self.appendLine(message, isJSONObject: isJSONObject, isBinary: isBinary, time: time, direction: direction, to: &buffer)
        if buffer.count >= Self.blockByteCount { try flush() }
    }

    /// Appends the log's line for one message to `buffer`: the envelope, the message, a line end.
    static func appendLine(_ message: [UInt8], isJSONObject: Bool, isBinary: Bool = false, time: Double?, direction: MessageDirection?,
                           to buffer: inout [UInt8]) {
        buffer.append(contentsOf: "{".utf8)
        if let time { buffer.append(contentsOf: "\"time\":\(time),".utf8) }
        if let direction { buffer.append(contentsOf: "\"source\":\"\(direction == .sent ? "client" : "server")\",".utf8) }
        if isBinary { buffer.append(contentsOf: "\"frame\":\"binary\",".utf8) }
        if !isJSONObject, isBinary || String(validating: message, as: UTF8.self) == nil {
            buffer.append(contentsOf: "\"\(Envelope.base64EventField)\":\"".utf8)
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: Base64.encodedByteCount(byteCount: message.count)))
            buffer.withUnsafeMutableBytes { output in
                message.withUnsafeBytes { _ = Base64.encode($0, into: UnsafeMutableRawBufferPointer(rebasing: output[start...])) }
            }
            buffer.append(contentsOf: "\"}\n".utf8)
            return
        }
        buffer.append(contentsOf: "\"event\":".utf8)
        if isJSONObject {
            // A JSON object may span lines (whitespace between tokens): line ends become spaces, which JSON allows there
            // and which never occur raw inside its strings.
            // In place, without a copy of the message (a 60 MiB message was three of them), and only when it has a line
            // end (memchr: a byte loop over every message cost more than the journal's writes).
            let start = buffer.count
            buffer.append(contentsOf: message)
            let hasLineEnd = message.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return false }
                return memchr(base, 0x0A, bytes.count) != nil || memchr(base, 0x0D, bytes.count) != nil
            }
            if hasLineEnd {
                for index in start..<buffer.count where buffer[index] == 0x0A || buffer[index] == 0x0D { buffer[index] = 0x20 }
            }
        } else {
            JSONStringWriter.append(message, to: &buffer)
        }
        buffer.append(contentsOf: "}\n".utf8)
    }

    mutating func close() throws(OutputError) {
        try flush()
        try sink.close()
    }

    private mutating func flush() throws(OutputError) {
        guard !buffer.isEmpty else { return }
        try sink.write(buffer)
        // The block's storage is kept; one a large message grew is let go: each of a relay's sessions would otherwise
        // keep the capacity of its largest message for good (issue 27 measured five sessions of two 60 MiB messages
        // at 1.48 GB with --save-log).
        if buffer.capacity > 2 * Self.blockByteCount {
            buffer = []
            buffer.reserveCapacity(Self.blockByteCount)
        } else {
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
