import DeltaTapeEvents
import Foundation
import Testing

/// Resolving escapes, against Foundation's reading of the same JSON strings: long plain runs (copied whole) between
/// escapes of every kind.
@Suite struct JSONStringTests {
    @Test func unescapesAsFoundationDoes() throws {
        let run = String(repeating: "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkrLw==", count: 3)
        let texts = [#""\#(run)\/\#(run)\n""#, #""\u00e9\#(run)\uD83D\uDE00\#(run)\"""#, #""\#(run)""#,
                     #""é\#(run)\t\b\f\r\\""#, #""""#]
        for text in texts {
            let bytes = Array(text.utf8)
            let expected = try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) as? String
            let unescaped = bytes.withUnsafeBytes { JSONString.unescaped($0, 1..<(bytes.count - 1)) }
            #expect(String(decoding: unescaped, as: UTF8.self) == expected, "\(text.prefix(20))")
            var appended: [UInt8] = [0x41]
            bytes.withUnsafeBytes { JSONString.unescape($0, 1..<(bytes.count - 1), appendingTo: &appended) }
            #expect(appended == [0x41] + unescaped)
        }
    }
}
