@_spi(Blocks) import DeltaTapeKernels

/// The envelope a logger wrapped each message in, as the reader recognized it: `{"time": ..., "source": ...,
/// "event": {...}}` and its common spellings (`event`/`message`/`data`/`payload`, `time`/`ts`/`timestamp`,
/// `source`/`direction`), the event an object or a string holding its JSON (`JSON.stringify` inside a logger).
package struct Envelope: Sendable, Hashable, CustomStringConvertible {
    /// The field holding the event.
    package var eventField: String
    /// Whether the event is a string holding the JSON rather than an object.
    package var eventIsString: Bool
    /// Whether the event is in base64 (``base64EventField``: a message a JSON string cannot hold as it is).
    package var eventIsBase64 = false
    /// The field holding the time the message was logged, if any.
    package var timeField: String?
    /// The field telling the message's direction, if any.
    package var sourceField: String?

    /// The envelope's shape, for example `{"ts", "direction", "message": "<event as a JSON string>"}`.
    package var description: String {
        let others = [timeField, sourceField].compactMap { $0.map { "\"\($0)\", " } }.joined()
        let event = eventIsBase64 ? "\"<event in base64>\"" : eventIsString ? "\"<event as a JSON string>\"" : "{event}"
        return "{\(others)\"\(eventField)\": \(event)}"
    }

    /// The names of the event's field recognized when the caller names none.
    package static let defaultEventFields = ["event", "message", "data", "payload"]
    /// The field a recorder's session log keeps a message in when a JSON string cannot hold it as it is (a binary
    /// frame that is no JSON object, text that is not UTF-8): its bytes, in base64.
    package static let base64EventField = "event_base64"
    static let timeFields: [[UInt8]] = ["time", "ts", "timestamp"].map { Array($0.utf8) }
    static let sourceFields: [[UInt8]] = ["source", "direction"].map { Array($0.utf8) }
}

/// Where the event of an envelope whose event is a string is unescaped to: one buffer per reader, reused, grown only
/// for a larger message, so that no message allocates. An event read from it is valid until the next read, as any.
///
/// A value, as the reader that holds it: copies share the storage until one of them writes, which then gets storage
/// of its own (copy on write; nothing in it outlives a read, so nothing is copied). Copies of a reader used on two
/// threads never write to the same bytes.
struct UnwrapBuffer: Sendable {
    private var storage = Storage(byteCount: 4096)

    /// `bytes`, copied into the buffer.
    mutating func store(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let target = writableBytes(count: bytes.count)
        bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        return UnsafeRawBufferPointer(rebasing: target[..<bytes.count])
    }

    /// The base64 string content `text[range]` decoded, in the buffer; nil when it is not valid base64.
    mutating func decodeBase64(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) -> UnsafeRawBufferPointer? {
        let target = writableBytes(count: Base64.maximumDecodedByteCount(encodedByteCount: range.count))
        guard let count = try? Base64.decode(UnsafeRawBufferPointer(rebasing: text[range]), into: target) else { return nil }
        return UnsafeRawBufferPointer(rebasing: target[..<count])
    }

    /// The string content `text[range]` with its escapes resolved, in the buffer.
    mutating func unescape(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) -> UnsafeRawBufferPointer {
        let target = writableBytes(count: range.count)
        let count = JSONString.unescape(text, range, into: target)
        return UnsafeRawBufferPointer(rebasing: target[..<count])
    }

    /// The storage's bytes, at least `count` of them, held by this copy alone.
    private mutating func writableBytes(count: Int) -> UnsafeMutableRawBufferPointer {
        let capacity = storage.bytes.count
        if capacity < count {
            storage = Storage(byteCount: max(count, capacity * 2))
        } else if !isKnownUniquelyReferenced(&storage) {
            storage = Storage(byteCount: capacity)
        }
        return storage.bytes
    }

    // Unchecked: the pointer is not Sendable. Its bytes are written only through `writableBytes`, by a copy that holds
    // the storage alone; a copy sent to another thread writes to storage of its own.
    private final class Storage: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer

        init(byteCount: Int) {
            bytes = .allocate(byteCount: byteCount, alignment: 16)
        }

        deinit { bytes.deallocate() }
    }
}

extension JSONObjectView {
    /// The first member whose key is one of `names` (tried in order), with the name that matched.
    func firstMember(among names: [[UInt8]]) -> (name: [UInt8], member: JSONMember)? {
        for name in names {
            for member in members {
                let matches = member.keyHasEscapes
                    ? JSONString.unescaped(text, member.key) == name
                    : text[member.key].elementsEqual(name)
                if matches { return (name, member) }
            }
        }
        return nil
    }

    /// Whether string `member`'s content starts, after whitespace, with `{`: JSON text of an object.
    func stringHoldsObject(_ member: JSONMember) -> Bool {
        guard member.kind == .string else { return false }
        let first = text[member.value].first { !($0 == 0x20 || $0 == 0x09) }
        return first == UInt8(ascii: "{")
    }

    /// The envelope's time in seconds since the Unix epoch: a number (of milliseconds when it is too large to be
    /// seconds, as JavaScript's `Date.now()` gives) or an ISO 8601 string.
    func envelopeTime(_ member: JSONMember) -> Double? {
        switch member.kind {
        case .number:
            guard let value = Double(String(decoding: UnsafeRawBufferPointer(rebasing: text[member.value]), as: UTF8.self)) else { return nil }
            return value > 100_000_000_000 ? value / 1000 : value
        case .string where !member.valueHasEscapes:
            return ISO8601Time.seconds(UnsafeRawBufferPointer(rebasing: text[member.value]))
        default:
            return nil
        }
    }
}
