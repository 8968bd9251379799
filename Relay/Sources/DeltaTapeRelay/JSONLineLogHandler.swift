// A swift-log handler that writes one JSON object per line (`--log-format json`). Hand-written because swift-log
// ships none, and the packages that do (swift-log-format-and-pipe, swift-structured-logging) are not among those this
// project may depend on; the format is small: fixed keys first, then the event's own, strings escaped per RFC 8259.
public import Logging
import Foundation

/// Writes each log record as one line of JSON: `time` (RFC 3339, UTC, milliseconds), `level`, `instance` (the relay's
/// id in a fleet), `event`, `connection`, `message`, then the record's other metadata in name order. A line is written
/// whole, with one `write`, so that lines of concurrent records never interleave.
public struct JSONLineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    /// The relay's instance id, on every line.
    public let instance: String
    private let write: @Sendable (String) -> Void

    /// - Parameters:
    ///   - instance: The relay's id in its fleet, on every line.
    ///   - write: Writes one whole line (its newline included).
    public init(instance: String, write: @escaping @Sendable (String) -> Void) {
        self.instance = instance
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The keys written first, in this order; the rest follow in name order.
    static let leadingKeys = ["event", "connection"]

    public func log(event: LogEvent) {
        var fields = metadata
        if let own = event.metadata { fields.merge(own) { $1 } }
        var line = "{\"time\":" + Self.quoted(Self.timestamp(Date())) + ",\"level\":" + Self.quoted(event.level.rawValue)
            + ",\"instance\":" + Self.quoted(instance)
        for key in Self.leadingKeys {
            if let value = fields.removeValue(forKey: key) { line += "," + Self.quoted(key) + ":" + Self.json(value) }
        }
        line += ",\"message\":" + Self.quoted(event.message.description)
        for key in fields.keys.sorted() { line += "," + Self.quoted(key) + ":" + Self.json(fields[key]!) }
        write(line + "}\n")
    }

    /// A metadata value as JSON: numbers as numbers (what `stringConvertible` holds when it is an integer or a finite
    /// floating-point number), strings quoted, arrays and dictionaries as JSON's own.
    static func json(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text):
            return quoted(text)
        case .stringConvertible(let convertible):
            if convertible is any BinaryInteger { return convertible.description }
            if let number = convertible as? Double, number.isFinite { return convertible.description }
            return quoted(convertible.description)
        case .array(let values):
            return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { quoted($0) + ":" + json(values[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX` (RFC 8259 §7);
    /// everything else as it is, in UTF-8.
    static func quoted(_ text: String) -> String {
        var out = "\""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `2026-12-08T00:21:04.512Z`.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1_000).rounded(.down))
        var seconds = time_t(milliseconds / 1_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):"
            + "\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1_000), 3))Z"
    }
}
