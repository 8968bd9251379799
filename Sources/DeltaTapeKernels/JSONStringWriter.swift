/// Writing a JSON string (RFC 8259 §7): for the few places that write JSON by hand (a session log's lines, an upload's
/// manifest), which need no encoder's allocations or Foundation.
package enum JSONStringWriter {
    /// Appends `bytes` to `buffer` as a JSON string: quotes, backslashes and control characters escaped; invalid UTF-8
    /// replaced (U+FFFD).
    package static func append(_ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": buffer.append(contentsOf: "\\\"".utf8)
            case "\\": buffer.append(contentsOf: "\\\\".utf8)
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                buffer.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: buffer.append(contentsOf: String(scalar).utf8)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
