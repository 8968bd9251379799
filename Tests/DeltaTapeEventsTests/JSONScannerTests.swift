@_spi(Blocks) import DeltaTapeEvents
import Testing

/// The scanner accepts exactly the JSON texts RFC 8259 allows (cases written from the RFC's grammar, §2–§8),
/// and records the top-level members where they are.
@Suite struct JSONScannerTests {
    private func scan(_ text: String) -> Result<[JSONMember], JSONScanFailure> {
        scan(Array(text.utf8))
    }

    private func scan(_ bytes: [UInt8]) -> Result<[JSONMember], JSONScanFailure> {
        var scanner = JSONScanner()
        return bytes.withUnsafeBytes { buffer in
            do throws(JSONScanFailure) {
                try scanner.scanObject(buffer)
                return .success(scanner.members)
            } catch {
                return .failure(error)
            }
        }
    }

    private func accepts(_ text: String) -> Bool {
        if case .success = scan(text) { return true }
        return false
    }

    static let validObjects = [
        "{}", " { } ", "\t{\r\n}\n", #"{"a":1}"#, #"{"a" : [1, 2.5, -3e10, 0.0, -0, 1E+2, 1e-2]}"#,
        #"{"a":{"b":{"c":[[],[{}],{"d":null}]}}}"#, #"{"t":true,"f":false,"n":null}"#,
        #"{"esc":"\"\\\/\b\f\n\r\t\u0041\u00e9\uD83D\uDE00"}"#, #"{"utf8":"é中😀"}"#, #"{"":""}"#,
        #"{"dup":1,"dup":2}"#, #"{"big":123456789012345678901234567890}"#, #"{"a":"\u0000"}"#,
        #"{"a":[1,"two",{"three":3}],"b":"x"}"#,
    ]

    static let invalidTexts = [
        "", " ", "{", "}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{,"a":1}"#, #"{"a":1 "b":2}"#, #"{a:1}"#,
        #"{'a':1}"#, #"{"a":01}"#, #"{"a":-}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":1e}"#, #"{"a":+1}"#,
        #"{"a":NaN}"#, #"{"a":Infinity}"#, #"{"a":tru}"#, #"{"a":nul}"#, #"{"a":True}"#, #"{"a":[1,]}"#,
        #"{"a":[1 2]}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":"\uD800"}"#, #"{"a":"\uDC00"}"#,
        #"{"a":"\uD800\u0041"}"#, "{\"a\":\"tab\there\"}", "{\"a\":\"new\nline\"}", #"{"a":"unterminated}"#,
        #"{"a":1}}"#, #"{"a":1} {"b":2}"#, #"{"a":1} x"#, #"{"a":[}"#, #"{"a":{]}"#, "{\"a\":1}\u{0}",
    ]

    @Test(arguments: validObjects) func acceptsValidObjects(_ text: String) {
        #expect(accepts(text), "\(text)")
    }

    @Test(arguments: invalidTexts) func rejectsInvalidTexts(_ text: String) {
        guard case .failure(.syntax) = scan(text) else {
            Issue.record("accepted or misclassified: \(text)")
            return
        }
    }

    @Test func valuesThatAreNotObjectsAreReportedAsSuch() {
        for (text, kind) in [("[1]", JSONValueKind.array), ("\"s\"", .string), ("12", .number), ("null", .null), ("true", .true)] {
            guard case .failure(.notAnObject(let found)) = scan(text) else {
                Issue.record("\(text) not reported as a non-object")
                continue
            }
            #expect(found == kind)
        }
    }

    @Test func rejectsInvalidUTF8() {
        let cases: [[UInt8]] = [
            [0xFF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0xC3], [0xE2, 0x82], [0x80], [0xC3, 0x28],
        ]
        for bad in cases {
            let text = Array(#"{"a":""#.utf8) + bad + Array(#""}"#.utf8)
            guard case .failure(.syntax) = scan(text) else {
                Issue.record("accepted invalid UTF-8 \(bad)")
                continue
            }
        }
        let good: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xEF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF]]
        for fine in good {
            let text = Array(#"{"a":""#.utf8) + fine + Array(#""}"#.utf8)
            guard case .success = scan(text) else {
                Issue.record("rejected valid UTF-8 \(fine)")
                continue
            }
        }
    }

    @Test func nestingIsLimitedNotCrashing() {
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        guard case .failure(.syntax(let error)) = scan(deep) else {
            Issue.record("100 000 levels accepted")
            return
        }
        #expect(error.message.contains("nesting"))
        let fine = "{\"a\":" + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "}"
        #expect(accepts(fine))
    }

    /// Each value costs a recorded member, so a message of millions of tiny values is refused at the limit rather than
    /// costing 28 times its size (issue 14, item 2): `{"a":[0,0,…]}` holds the object, the array and its elements.
    @Test func valueCountIsLimitedAtExactlyTheMaximum() {
        let limit = JSONScanner.maximumValueCount
        let fits = "{\"a\":[" + Array(repeating: "0", count: limit - 2).joined(separator: ",") + "]}"
        #expect(accepts(fits))
        let over = "{\"a\":[" + Array(repeating: "0", count: limit - 1).joined(separator: ",") + "]}"
        guard case .failure(.syntax(let error)) = scan(over) else {
            Issue.record("\(limit) values accepted")
            return
        }
        #expect(error.message.contains("more than \(limit) values"), "\(error)")
    }

    @Test func recordsTopLevelMembersOnly() throws {
        let text = #"{ "type" : "x\/y", "n": -12.5e1, "o": {"type": "inner", "delta": "AAAA"}, "a": [1, {"k": 2}], "delta":"QUJD" }"#
        let members = try scan(text).get()
        let bytes = Array(text.utf8)
        let keys = members.map { String(decoding: bytes[$0.key], as: UTF8.self) }
        let values = members.map { String(decoding: bytes[$0.value], as: UTF8.self) }
        #expect(keys == ["type", "n", "o", "a", "delta"])
        #expect(values == [#"x\/y"#, "-12.5e1", #"{"type": "inner", "delta": "AAAA"}"#, #"[1, {"k": 2}]"#, "QUJD"])
        #expect(members.map(\.kind) == [.string, .number, .object, .array, .string])
        #expect(members.map(\.valueHasEscapes) == [true, false, false, false, false])
    }

    @Test func unescapesStrings() {
        let text = #""\"\\\/\b\f\n\r\t\u0041\u00e9\uD83D\uDE00plain""#
        let bytes = Array(text.utf8)
        let decoded = bytes.withUnsafeBytes { JSONString.decode($0, 1..<(bytes.count - 1), hasEscapes: true) }
        #expect(decoded == "\"\\/\u{8}\u{C}\n\r\tAé😀plain")
    }
}
