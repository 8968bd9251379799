@_spi(Blocks) import DeltaTapeEvents
import Testing
import TestSupport

/// The scanner against RFC 8259 (grammar in §2–§7, UTF-8 in §8.1 by RFC 3629), case by case, and against an
/// independent reference (`ReferenceJSONValidator`, written straight from the grammar) on random near-JSON bytes.
///
/// Every table case is checked twice, with the scanner and with the reference, so the reference earns its place as
/// an expectation source before the randomized comparison leans on it. Two implementation limits, both allowed by
/// RFC 8259 §9 ("An implementation may set limits on ... the depth of nesting ... [and] character contents of
/// strings"), are part of the expectations: nesting deeper than `JSONScanner.maximumDepth` (512) is rejected, and
/// an escaped surrogate must be part of a high-low pair (I-JSON, RFC 7493 §2.1), though §7's bare grammar allows a
/// lone one and §8.2 only warns that such strings behave unpredictably.
@Suite struct JSONConformanceTests {
    // MARK: - Cases

    static let structureAccepted: [JSONSample] = [
        "{}", "[]", #"{"a":1}"#, "[1,2]", #"{"":0}"#, #"{"":""}"#, #"{"a":1,"a":2}"#, #"{"a":1,"a":{"a":[]}}"#,
        "[[[]]]", #"[{}, [], "", 0, true, false, null]"#, #"{"a":{"b":{"c":{}}}}"#, #"{"é":1}"#, #"{"\u0061":1}"#,
        // All four whitespace bytes (§2) before and after every token.
        " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n, \t\r\n\"b\"\t:\tnull } \t\r\n",
        "\n\n[\r\n]\r\n", "\t{}\t",
        // Any value at the top level (§2), not just objects and arrays.
        #""top""#, "0", "-0", "true", "false", "null", " 1 ", "\t\"\"\n",
    ]

    static let structureRejected: [JSONSample] = [
        "", " ", "\t\r\n", "{", "}", "[", "]", "{]", "[}", #"{"a"}"#, #"{"a":}"#, #"{"a" 1}"#, "{:1}", "{1:1}",
        "{null:1}", "{true:1}", "{[]:1}", "{{}:1}", #"{"a":1,}"#, "[1,]", "[,1]", "[,]", "{,}", "[1,,2]", "[1 2]",
        #"{"a":1 "b":2}"#, #"{"a"::1}"#, #"{"a":1:2}"#, #"{"a",1}"#, "[1:2]", "{'a':1}", "['a']", "{a:1}",
        // Trailing content after the one value (§2: JSON-text = ws value ws).
        "[1] [2]", "{} {}", "[1]]", #"{"a":1}}"#, "[1] x", "1 2", #""a" "b""#, "{},", "[],[]", "null null", "[1]\u{0}",
        // Comments are not JSON.
        "// c\n{}", "{} // c", "/* c */ {}", #"{"a":1 /* c */}"#, "# c\n{}", "[1, // c\n2]",
        // Literals are lowercase and exact (§3).
        "tru", "True", "TRUE", "nul", "NULL", "Null", "fals", "FALSE", "truee", "nulll", "falsey", "t", "n", "f",
        "undefined", "None", "nil", "[undefined]", #"{"a":undefined}"#, "()", "<>",
    ]

    static let numbersAccepted: [JSONSample] = [
        "0", "-0", "-0.0", "0.0", "1", "-1", "10", "1234567890", "0e0", "0E0", "0e+0", "0e-0", "1e1", "1E+1",
        "1e-1", "1.5", "-1.5e+10", "0.000001", "1e01", "1.0e0000",
        // The grammar has no range (§6 leaves range and precision to the implementation): huge values are JSON.
        "1E400", "-1E400", "1e-400", "123456789012345678901234567890123456789", "-0.0000000000000000000000000001",
        "[-0,0.5,1E400]", #"{"a":-0}"#,
    ]

    static let numbersRejected: [JSONSample] = [
        "01", "-01", "00", "001.5", "01.5", "-00", "+1", "+0", ".5", "-.5", "1.", "-1.", "1.e1", "0.e1", "-", "--1",
        "- 1", "1e", "1E", "1e+", "1e-", "1E+-1", "1ee1", "1e1.5", "1.5.5", "0x1F", "0X1", "0b1", "1_000", "1,5",
        "1 .5", "1e 5", "NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "[NaN]", "[.5]", "[1.]", "[+1]",
        #"{"a":+1}"#, #"{"a":01}"#, "\u{0661}", "\u{FF11}", "1f", "1d", "1L", "1.5e", "-e1", "e1", ".e1",
    ]

    static let stringsAccepted: [JSONSample] = [
        #""""#, #""a""#, #""\"\\\/\b\f\n\r\t""#, #""\u0000""#, #""\u001F""#, #""\u0041\u00e9\u00E9""#,
        #""\uFFFF""#, #""\uFFFE""#, #""\uD7FF""#, #""\uE000""#, #""\u007F""#, #""\u005C\u0022""#, #""/""#, #""'""#,
        // Surrogate pairs, upper and lower case hex, the lowest and the highest.
        #""\uD83D\uDE00""#, #""\ud83d\ude00""#, #""\uD800\uDC00""#, #""\uDBFF\uDFFF""#, #""a\uD83D\uDE00b""#,
        #""\uD83D\uDE00\uD83D\uDE00""#, #"{"\uD83D\uDE00":"\uD83D\uDE00"}"#,
    ]

    static let stringsRejected: [JSONSample] = [
        #"""#, #""abc"#, "'abc'", #""\""#, #""\"#, #""\x41""#, #""\a""#, #""\v""#, #""\0""#, #""\'""#, #""\U0041""#,
        #""\u41""#, #""\u004""#, #""\u004G""#, #""\u+041""#, #""\u 041""#, #""\u""#, #""\u00"#, #"["\"]"#,
        #"{"a\":1}"#, "\"a\"b\"",
        // Lone high surrogates: at the end, before other characters, before a non-low escape.
        #""\uD800""#, #""\uDBFF""#, #""\ud800""#, #""\uD800x""#, #""\uD800\n""#, #""\uD800\u0041""#,
        #""\uD800\uD800""#, #""\uD800\uE000""#, #""\uD800\u""#, #""\uD800\uDC0""#, #""\uD800\\uDC00""#, #""\uD800"#,
        #""\uD800\uDC"#, #"{"\uD800":1}"#,
        // Lone low surrogates, and pairs in the wrong order.
        #""\uDC00""#, #""\uDFFF""#, #""\udc00""#, #""\uDC00\uD800""#, #""\uDE00\uD83D""#, #""a\uDC00b""#,
    ]

    /// UTF-8 sequences that are valid (RFC 3629 §4), at the edges of every length and of the surrogate gap.
    static let validUTF8: [[UInt8]] = [
        [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xEF, 0xBF, 0xBE], [0xEF, 0xB7, 0x90], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        [0xF3, 0xBF, 0xBF, 0xBF], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80],
        [0xEF, 0xBB, 0xBF],  // U+FEFF inside a string is an ordinary character
        [0x7F],  // DEL is not a control character for JSON (§7 forbids only U+0000 to U+001F unescaped)
    ]

    /// UTF-8 that RFC 3629 forbids.
    static let invalidUTF8: [[UInt8]] = [
        // Overlong forms.
        [0xC0, 0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0x80],
        [0xF0, 0x8F, 0xBF, 0xBF], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],
        // Surrogates encoded directly, alone and as CESU-8 pairs.
        [0xED, 0xA0, 0x80], [0xED, 0xAF, 0xBF], [0xED, 0xB0, 0x80], [0xED, 0xBF, 0xBF],
        [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80],
        // Above U+10FFFF.
        [0xF4, 0x90, 0x80, 0x80], [0xF4, 0xBF, 0xBF, 0xBF], [0xF5, 0x80, 0x80, 0x80], [0xF7, 0xBF, 0xBF, 0xBF],
        // Truncated sequences (followed by the closing quote).
        [0xC3], [0xE2], [0xE2, 0x82], [0xF0], [0xF0, 0x9F], [0xF0, 0x9F, 0x98], [0xC3, 0xE2, 0x82, 0xAC],
        // A lead byte followed by something that is not a continuation byte.
        [0xC3, 0x28], [0xC3, 0x41], [0xC3, 0xC3, 0xA9], [0xE2, 0x28, 0xA1], [0xE2, 0x82, 0x28], [0xF0, 0x28, 0x8C, 0xBC],
        [0xF0, 0x90, 0x28, 0xBC], [0xF0, 0x90, 0x8C, 0x28], [0xE2, 0x82, 0x5C], [0xC3, 0x00],
        // Stray continuation bytes.
        [0x80], [0xBF], [0x80, 0x80], [0xC3, 0xA9, 0xA9], [0xE2, 0x82, 0xAC, 0x80], [0xF0, 0x9F, 0x98, 0x80, 0xBF],
    ] + (0xF5...0xFF).map { [UInt8($0)] } + (0xF5...0xFF).map { [UInt8($0), 0x80, 0x80, 0x80] }
        + (0xC0...0xC1).map { [UInt8($0)] }

    /// Whitespace RFC 8259 §2 does not allow: other ASCII controls, Unicode spaces, a byte order mark.
    static let foreignWhitespace: [(name: String, bytes: [UInt8])] = [
        ("form feed", [0x0C]), ("vertical tab", [0x0B]), ("NUL", [0x00]), ("file separator", [0x1C]),
        ("unit separator", [0x1F]), ("DEL", [0x7F]), ("U+00A0 no-break space", [0xC2, 0xA0]),
        ("U+0085 next line", [0xC2, 0x85]), ("U+2028 line separator", [0xE2, 0x80, 0xA8]),
        ("U+2029 paragraph separator", [0xE2, 0x80, 0xA9]), ("U+3000 ideographic space", [0xE3, 0x80, 0x80]),
        ("U+200B zero-width space", [0xE2, 0x80, 0x8B]), ("U+FEFF byte order mark", [0xEF, 0xBB, 0xBF]),
        ("U+FFFE", [0xEF, 0xBF, 0xBE]),
    ]

    // MARK: - Table tests

    @Test(arguments: structureAccepted + numbersAccepted + stringsAccepted)
    func acceptsWhatTheGrammarAllows(_ sample: JSONSample) {
        #expect(scanKind(sample.bytes) != nil, "scanner rejected \(sample)")
        #expect(ReferenceJSONValidator.accepts(sample.bytes), "reference rejected \(sample)")
    }

    @Test(arguments: structureRejected + numbersRejected + stringsRejected)
    func rejectsWhatTheGrammarDoesNotAllow(_ sample: JSONSample) {
        #expect(scanKind(sample.bytes) == nil, "scanner accepted \(sample)")
        #expect(!ReferenceJSONValidator.accepts(sample.bytes), "reference accepted \(sample)")
    }

    @Test func everyControlCharacterMustBeEscaped() {
        for code in UInt8(0x00)...UInt8(0x1F) {
            let hex = String(code, radix: 16, uppercase: code % 2 == 0)
            let escaped = Array(#""\u00"#.utf8) + Array((hex.count == 1 ? "0" + hex : hex).utf8) + [0x22]
            for (text, wanted) in [
                ([0x22, code, 0x22], false), ([0x22, 0x61, code, 0x62, 0x22], false),
                (Array(#"{"k"#.utf8) + [code] + Array(#"":1}"#.utf8), false),  // in a key
                (escaped, true), (Array(#"{"k":"#.utf8) + escaped + [0x7D], true),
            ] {
                #expect((scanKind(text) != nil) == wanted, "scanner, 0x\(hex): \(JSONSample(text))")
                #expect(ReferenceJSONValidator.accepts(text) == wanted, "reference, 0x\(hex): \(JSONSample(text))")
            }
        }
        // The two-character escapes of §7 for the controls that have them.
        for escape in [#""\b""#, #""\f""#, #""\n""#, #""\r""#, #""\t""#, "\"\u{7F}\"", "\"a\u{7F}b\""] {
            #expect(scanKind(Array(escape.utf8)) == .string, "\(escape)")
            #expect(ReferenceJSONValidator.accepts(Array(escape.utf8)), "\(escape)")
        }
    }

    @Test func validUTF8IsAcceptedInValuesAndKeys() {
        for sequence in Self.validUTF8 {
            for text in inStringPositions(sequence) {
                #expect(scanKind(text) != nil, "scanner rejected \(JSONSample(text))")
                #expect(ReferenceJSONValidator.accepts(text), "reference rejected \(JSONSample(text))")
            }
        }
    }

    @Test func invalidUTF8IsRejectedInValuesAndKeys() {
        for sequence in Self.invalidUTF8 {
            // Inside strings, and also at the very end of the text, where a truncated sequence meets the bounds.
            for text in inStringPositions(sequence) + [[0x22] + sequence, [0x5B, 0x22, 0x61] + sequence] {
                #expect(scanKind(text) == nil, "scanner accepted \(JSONSample(text))")
                #expect(!ReferenceJSONValidator.accepts(text), "reference accepted \(JSONSample(text))")
            }
        }
    }

    /// Every two-byte start of a non-ASCII sequence, with a few endings, against the standard library's UTF-8
    /// validation (a third, independent judge).
    @Test func nonASCIIBytesAgreeWithTheStandardLibrary() {
        // Every non-ASCII second byte; for ASCII, a few plain ones stand for all (quote, backslash and controls
        // would make the text invalid for reasons other than UTF-8).
        let seconds = Array(UInt8(0x80)...UInt8(0xFF)) + [0x20, 0x41, 0x7F]
        let endings: [[UInt8]] = [[], [0x80], [0xBF, 0xBF], [0x41]]
        var mismatches: [String] = []
        var scanner = JSONScanner()
        for lead in UInt8(0x80)...UInt8(0xFF) {
            for second in seconds {
                for ending in endings {
                    let content = [lead, second] + ending
                    let wanted = String(validating: content, as: UTF8.self) != nil
                    let text = [0x22] + content + [0x22]
                    let scanned = scanKind(text, with: &scanner) != nil
                    if scanned != wanted || ReferenceJSONValidator.accepts(text) != wanted {
                        mismatches.append("\(JSONSample(content)): wanted \(wanted), scanner \(scanned)")
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(10))")
    }

    @Test func nonASCIIOutsideStringsIsRejected() {
        for text: [UInt8] in [[0xC3, 0xA9], [0x5B, 0xC3, 0xA9, 0x5D], Array("{}".utf8) + [0xC3, 0xA9], [0x80], [0xFF]] {
            #expect(scanKind(text) == nil, "\(JSONSample(text))")
            #expect(!ReferenceJSONValidator.accepts(text), "\(JSONSample(text))")
        }
    }

    @Test(arguments: foreignWhitespace.map(\.name))
    func onlyTheFourWhitespaceBytesSeparateTokens(_ name: String) {
        let space = Self.foreignWhitespace.first { $0.name == name }!.bytes
        let placements: [[UInt8]] = [
            space + Array("{}".utf8), Array("{}".utf8) + space, Array("[1,".utf8) + space + Array("2]".utf8),
            Array(#"{"a""#.utf8) + space + Array(":1}".utf8), Array(#"{"a":"#.utf8) + space + Array("1}".utf8),
            space + Array("1".utf8), Array("[".utf8) + space + Array("]".utf8), Array("true".utf8) + space,
        ]
        for text in placements {
            #expect(scanKind(text) == nil, "scanner accepted \(JSONSample(text))")
            #expect(!ReferenceJSONValidator.accepts(text), "reference accepted \(JSONSample(text))")
        }
        // The same bytes inside a string are characters (the controls escaped), and the text is valid.
        let inString = space.first! < 0x20 ? Array(#""\u001F""#.utf8) : [0x22] + space + [0x22]
        #expect(scanKind(inString) == .string, "\(JSONSample(inString))")
    }

    /// A byte order mark is not part of a JSON text (§8.1: parsers MAY ignore one, the scanner does not). The line
    /// reader drops one at the very start of a file, before any message reaches the scanner; that is a separate layer.
    @Test func byteOrderMarkIsRejectedByTheScannerAndDroppedByTheLineReader() throws {
        let message = Array(#"{"type":"session.created"}"#.utf8)
        let marked = [0xEF, 0xBB, 0xBF] + message
        #expect(scanKind(marked) == nil)
        #expect(!ReferenceJSONValidator.accepts(marked))
        var events = EventReader()
        let readMarked = marked.withUnsafeBytes { bytes in Result { () throws(EventReadError) in _ = try events.read(bytes) } }
        guard case .failure(.json(.syntax)) = readMarked else {
            Issue.record("the event reader accepted a message starting with a byte order mark")
            return
        }
        let lines = LineReader(source: MemoryByteSource(marked + [0x0A] + marked), chunkSize: 16)
        let first = try #require(try lines.nextLine())
        #expect(Array(first.bytes) == message)
        let second = try #require(try lines.nextLine())
        #expect(Array(second.bytes) == marked, "only the mark at the start of the input is dropped")
    }

    @Test func nestingIsAcceptedToExactly512Levels() {
        let limit = JSONScanner.maximumDepth
        #expect(limit == 512)
        let shapes: [(open: String, close: String)] = [("[", "]"), (#"{"a":"#, "}"), (#"[{"a":"#, "}]")]
        for shape in shapes {
            let unit = shape.open.hasPrefix("[{") ? 2 : 1  // levels per repetition
            for levels in [limit - 1, limit, limit + 1] where levels % unit == 0 {
                let repeats = levels / unit
                for inner in ["", "1", #""x""#, "[]", "{}"] where !(inner.isEmpty && shape.open.hasSuffix(":")) {
                    // An empty container inside adds a level.
                    let total = levels + (inner == "[]" || inner == "{}" ? 1 : 0)
                    let text = Array((String(repeating: shape.open, count: repeats) + inner
                        + String(repeating: shape.close, count: repeats)).utf8)
                    let wanted = total <= limit
                    #expect((scanKind(text) != nil) == wanted, "\(total) levels, \(shape.open)…\(inner)")
                    #expect(ReferenceJSONValidator.accepts(text) == wanted, "reference: \(total) levels, \(shape.open)…\(inner)")
                }
            }
        }
        // The 513th bracket is where the scanner stops.
        let tooDeep = Array((String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)).utf8)
        guard case .failure(.syntax(let error)) = scan(tooDeep) else {
            Issue.record("513 levels accepted")
            return
        }
        #expect(error.offset == limit)
        // Far deeper input is rejected without exhausting the stack, by both.
        let absurd = [UInt8](repeating: 0x5B, count: 1_000_000)
        #expect(scanKind(absurd) == nil)
        #expect(!ReferenceJSONValidator.accepts(absurd))
    }

    @Test func scanAcceptsEveryKindAtTheTopAndScanObjectOnlyObjects() {
        let cases: [(String, JSONValueKind)] = [
            (#""s""#, .string), ("12", .number), ("-0.5e3", .number), ("true", .true), ("false", .false),
            ("null", .null), ("[]", .array), ("{}", .object), (" [1] ", .array), ("\n{\"a\":[]}\r\n", .object),
        ]
        var scanner = JSONScanner()
        for (text, kind) in cases {
            let bytes = Array(text.utf8)
            #expect(scanKind(bytes, with: &scanner) == kind, "\(text)")
            if kind != .object && kind != .array { #expect(scanner.members.isEmpty, "\(text)") }
            let asObject = bytes.withUnsafeBytes { buffer in
                Result { () throws(JSONScanFailure) in try scanner.scanObject(buffer) }
            }
            switch asObject {
            case .success: #expect(kind == .object, "\(text)")
            case .failure(.notAnObject(let found)): #expect(found == kind && kind != .object, "\(text)")
            case .failure(.syntax(let error)): Issue.record("\(text): \(error)")
            }
        }
    }

    /// The event reader validates every message through the scanner: what the scanner rejects, it rejects.
    @Test func eventReaderRejectsWhatTheScannerRejects() {
        var reader = EventReader()
        for sample in Self.structureRejected + Self.numbersRejected + Self.stringsRejected {
            let read = sample.bytes.withUnsafeBytes { bytes in Result { () throws(EventReadError) in _ = try reader.read(bytes) } }
            guard case .failure(.json(.syntax)) = read else {
                Issue.record("event reader did not report a syntax error for \(sample)")
                continue
            }
        }
        for (text, kind) in [("[]", JSONValueKind.array), ("1", .number), (#""type""#, .string), ("null", .null)] {
            let read = Array(text.utf8).withUnsafeBytes { bytes in Result { () throws(EventReadError) in _ = try reader.read(bytes) } }
            guard case .failure(.json(.notAnObject(let found))) = read, found == kind else {
                Issue.record("event reader did not report \(text) as a non-object")
                continue
            }
        }
        let valid = Array(#" {"type":"x","a":[1,{"b":"\uD83D\uDE00"}],"":""} "#.utf8)
        let read = valid.withUnsafeBytes { bytes in Result { () throws(EventReadError) in try reader.read(bytes) }.map(\.typeName) }
        #expect((try? read.get()) == "x")
    }

    // MARK: - Where members are

    @Test func recordsTopLevelObjectMembersWhereTheyAre() throws {
        let text = #"{ "a" :1,"bc":"x\"y" , "":[],"d":{"e":[1,{"f":2}]}, "g\u0068":null,"t":true,"n":-1.5e3 }"#
        let (members, bytes) = try scanMembers(text)
        #expect(members.map { string(bytes, $0.key) } == ["a", "bc", "", "d", #"g\u0068"#, "t", "n"])
        #expect(members.map { string(bytes, $0.value) } == ["1", #"x\"y"#, "[]", #"{"e":[1,{"f":2}]}"#, "null", "true", "-1.5e3"])
        #expect(members.map(\.kind) == [.number, .string, .array, .object, .null, .true, .number])
        #expect(members.map(\.keyHasEscapes) == [false, false, false, false, true, false, false])
        #expect(members.map(\.valueHasEscapes) == [false, true, false, false, false, false, false])
        #expect(try reference(text) == members.map(ReferenceJSONValidator.Member.init))
    }

    @Test func recordsTopLevelArrayElementsWithEmptyKeys() throws {
        let text = #"[ 1 , "two" , {"k":[3]} , [ ] ,true,"\/",[[{}]], {} ]"#
        let (members, bytes) = try scanMembers(text)
        #expect(members.allSatisfy { $0.key.isEmpty && !$0.keyHasEscapes })
        #expect(members.map { string(bytes, $0.value) } == ["1", "two", #"{"k":[3]}"#, "[ ]", "true", #"\/"#, "[[{}]]", "{}"])
        #expect(members.map(\.kind) == [.number, .string, .object, .array, .true, .string, .array, .object])
        #expect(members.map(\.valueHasEscapes) == [false, false, false, false, false, true, false, false])
        #expect(try reference(text) == members.map(ReferenceJSONValidator.Member.init))
    }

    @Test func emptyContainersAndScalarsRecordNothingAndScansDoNotLeakMembers() throws {
        var scanner = JSONScanner()
        #expect(scanKind(Array(#"{"a":1,"b":[2]}"#.utf8), with: &scanner) == .object)
        #expect(scanner.members.count == 2)
        for text in ["{}", "[]", " { } ", "7", #""s""#] {
            #expect(scanKind(Array(text.utf8), with: &scanner) != nil)
            #expect(scanner.members.isEmpty, "\(text)")
        }
        #expect(scanKind(Array(#"{"a":1,"b":"#.utf8), with: &scanner) == nil)
        #expect(scanKind(Array("[0]".utf8), with: &scanner) == .array)
        #expect(scanner.members.count == 1)
    }

    // MARK: - Against the reference, on random near-JSON

    /// Random documents from the grammar (with deliberate near-misses), and valid documents mutated by byte flips,
    /// insertions of awkward bytes, deletions and truncations: scanner and reference agree on every one, on the
    /// kind, and on the top-level members of what they accept. Seeded, so a failure reproduces; the seed is printed.
    /// Two fixed seeds and the run's (``TestSeed``), so each run also explores.
    @Test(arguments: [0x5EED_0001, 0xDE17A_7A9E, TestSeed.value] as [UInt64])
    func agreesWithTheReferenceOnRandomInput(seed: UInt64) {
        var generator = NearJSONGenerator(seed: seed)
        var scanner = JSONScanner()
        var mismatches: [String] = []
        var accepted = 0
        let count = 20_000
        for _ in 0..<count {
            let text = generator.next()
            let expected = ReferenceJSONValidator.validate(text)
            let scanned = text.withUnsafeBytes { buffer -> Result<ReferenceJSONValidator.Document, JSONScanFailure> in
                Result { () throws(JSONScanFailure) in
                    let kind = try scanner.scan(buffer)
                    return ReferenceJSONValidator.Document(
                        kind: ReferenceJSONValidator.Kind(kind), members: scanner.members.map(ReferenceJSONValidator.Member.init))
                }
            }
            switch scanned {
            case .success(let document):
                accepted += 1
                if document != expected { mismatches.append("scanner \(document), reference \(String(describing: expected)): \(JSONSample(text))") }
            case .failure(.syntax(let error)):
                if expected != nil { mismatches.append("scanner rejected (\(error)), reference accepted: \(JSONSample(text))") }
                if !(0...text.count).contains(error.offset) { mismatches.append("error offset \(error.offset) outside the text: \(JSONSample(text))") }
            case .failure(.notAnObject):
                mismatches.append("scan threw notAnObject: \(JSONSample(text))")
            }
            if mismatches.count >= 10 { break }
        }
        #expect(mismatches.isEmpty, "seed \(seed) (replay: \(TestSeed.variable)=\(seed)): \(mismatches)")
        // The generator must exercise both sides, or agreement would mean little.
        #expect(accepted > count / 10 && accepted < count * 9 / 10, "seed \(seed): \(accepted) of \(count) accepted")
    }

    // MARK: - Helpers

    private func scan(_ bytes: [UInt8]) -> Result<JSONValueKind, JSONScanFailure> {
        var scanner = JSONScanner()
        return bytes.withUnsafeBytes { buffer in Result { () throws(JSONScanFailure) in try scanner.scan(buffer) } }
    }

    private func scanKind(_ bytes: [UInt8]) -> JSONValueKind? {
        try? scan(bytes).get()
    }

    private func scanKind(_ bytes: [UInt8], with scanner: inout JSONScanner) -> JSONValueKind? {
        bytes.withUnsafeBytes { buffer in try? scanner.scan(buffer) }
    }

    private func scanMembers(_ text: String) throws -> ([JSONMember], [UInt8]) {
        let bytes = Array(text.utf8)
        var scanner = JSONScanner()
        _ = try bytes.withUnsafeBytes { buffer throws(JSONScanFailure) in try scanner.scan(buffer) }
        return (scanner.members, bytes)
    }

    private func reference(_ text: String) throws -> [ReferenceJSONValidator.Member] {
        try #require(ReferenceJSONValidator.validate(Array(text.utf8))).members
    }

    private func string(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// `sequence` as a whole string, inside a string between characters, and inside a key.
    private func inStringPositions(_ sequence: [UInt8]) -> [[UInt8]] {
        [
            [0x22] + sequence + [0x22],
            Array(#"{"a":"x"#.utf8) + sequence + Array(#"y"}"#.utf8),
            Array(#"{""#.utf8) + sequence + Array(#"":1}"#.utf8),
            Array(#"[""#.utf8) + sequence + Array(#"",""#.utf8) + sequence + Array(#""]"#.utf8),
        ]
    }
}

// MARK: - Support

/// A JSON text to try, shown with its non-printable bytes in hex.
struct JSONSample: Sendable, CustomStringConvertible, CustomTestStringConvertible, ExpressibleByStringLiteral {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(stringLiteral text: String) { bytes = Array(text.utf8) }

    var description: String {
        var shown = ""
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                shown.append(Character(UnicodeScalar(byte)))
            } else if byte == UInt8(ascii: "\\") {
                shown += "\\\\"
            } else {
                shown += "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return "‹" + shown + "›"
    }

    var testDescription: String { description }
}

/// Bytes that are JSON, nearly JSON, or JSON with a twist: grammar-generated documents with occasional
/// near-misses, and valid documents mutated.
struct NearJSONGenerator {
    private var random: SeededGenerator
    private var pool: [[UInt8]] = []

    init(seed: UInt64) {
        random = SeededGenerator(seed: seed, name: "NearJSONGenerator")
        pool = Self.realisticMessages.map { Array($0.utf8) }
    }

    /// Messages shaped like the sessions DeltaTape reads.
    static let realisticMessages = [
        #"{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"AAAA/+8AAP//"}"#,
        #"{"type":"session.created","session":{"audio":{"output":{"format":{"type":"audio/pcm","rate":24000}}},"instructions":"Say \"hi\"\n"}}"#,
        #"{"event":"media","sequenceNumber":"3","media":{"track":"outbound","chunk":"2","timestamp":"40","payload":"//7+/w=="},"streamSid":"MZ1"}"#,
        #"{"type":"audio","audio_event":{"audio_base_64":"AAAAAA==","event_id":1}}"#,
        #"{"time":1.5,"source":"server","event":{"type":"response.audio.delta","delta":"AA\/AA=="}}"#,
        #"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAAA"}}]}}}"#,
        #"[{"a":[1,2,{"b":null}]},-0.5e-3,"é😀\u00e9\uD83D\uDE00",true,false,{}]"#,
    ]

    /// Bytes worth inserting: structure, escapes, surrogates, bad and good UTF-8, foreign whitespace.
    private static let awkwardPieces: [[UInt8]] = [
        [0x00], [0x1F], [0x0C], [0x0B], [0x7F], [0x22], [0x5C], [0x2C], [0x3A], [0x5B], [0x5D], [0x7B], [0x7D],
        [0x2D], [0x2B], [0x2E], [0x30], [0x31], [0x65], [0x45], [0x20], [0x0A], [0x09], [0x0D],
        Array(#"\u"#.utf8), Array(#"\uD800"#.utf8), Array(#"\uDC00"#.utf8), Array(#"\uD83D\uDE00"#.utf8),
        Array(#"\uDE00\uD83D"#.utf8), Array(#"\u00"#.utf8), Array(#"\x"#.utf8), Array("//".utf8), Array("/*".utf8),
        Array("true".utf8), Array("nul".utf8), Array("1e400".utf8), Array("01".utf8), Array("NaN".utf8),
        [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF4, 0x8F, 0xBF, 0xBF], [0xEF, 0xBB, 0xBF], [0xC2, 0xA0], [0xC3, 0xA9], [0xE2, 0x82, 0xAC],
        [0xF0, 0x9F, 0x98, 0x80], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0x80], [0xBF], [0xF5], [0xFF],
    ]

    mutating func next() -> [UInt8] {
        switch random.next() % 16 {
        case 0..<5:
            // A fresh document, possibly with a near-miss in it.
            var text: [UInt8] = []
            document(into: &text, nearMissOneIn: random.next() % 2 == 0 ? 1_000_000 : 40)
            if text.count < 2_000 && pool.count < 256 { pool.append(text) }
            return text
        case 5:
            return nesting()
        default:
            var text = pool[Int(random.next() % UInt64(pool.count))]
            for _ in 0...(random.next() % 3) { mutate(&text) }
            return text
        }
    }

    private mutating func chance(_ oneIn: UInt64) -> Bool { random.next() % oneIn == 0 }
    private mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }

    private mutating func mutate(_ text: inout [UInt8]) {
        let position = text.isEmpty ? 0 : Int(random.next() % UInt64(text.count + 1))
        switch random.next() % 7 {
        case 0 where !text.isEmpty: text[min(position, text.count - 1)] ^= UInt8(1) << (random.next() % 8)
        case 1 where !text.isEmpty: text[min(position, text.count - 1)] = pick(Self.awkwardPieces)[0]
        case 2: text.insert(contentsOf: pick(Self.awkwardPieces), at: position)
        case 3 where !text.isEmpty:
            let end = min(text.count, position + 1 + Int(random.next() % 4))
            text.removeSubrange(min(position, text.count - 1)..<end)
        case 4: text.removeSubrange(position...)
        case 5 where position < text.count:
            let end = min(text.count, position + 1 + Int(random.next() % 8))
            text.insert(contentsOf: text[position..<end], at: Int(random.next() % UInt64(text.count + 1)))
        default: text.insert(pick([0x20, 0x09, 0x0A, 0x0D]), at: position)
        }
    }

    /// Nesting around the 512-level limit, sometimes unbalanced.
    private mutating func nesting() -> [UInt8] {
        let levels = 508 + Int(random.next() % 8)
        let object = chance(2)
        var text: [UInt8] = []
        for _ in 0..<levels { text += object ? Array(#"{"k":"#.utf8) : [0x5B] }
        text += pick([Array("1".utf8), Array("[]".utf8), Array("{}".utf8), Array(#""s""#.utf8)])
        for _ in 0..<(levels - (chance(10) ? 1 : 0)) { text.append(object ? 0x7D : 0x5D) }
        return text
    }

    // MARK: Grammar-generated documents

    private var nearMissOneIn: UInt64 = 1_000_000

    private mutating func document(into text: inout [UInt8], nearMissOneIn: UInt64) {
        self.nearMissOneIn = nearMissOneIn
        whitespace(into: &text)
        value(into: &text, depth: 0)
        whitespace(into: &text)
    }

    private mutating func nearMiss() -> Bool { chance(nearMissOneIn) }

    private mutating func whitespace(into text: inout [UInt8]) {
        guard chance(3) else { return }
        for _ in 0..<(1 + random.next() % 3) { text.append(pick([0x20, 0x09, 0x0A, 0x0D])) }
        if nearMiss() { text += pick([[0x0C], [0x0B], [0xC2, 0xA0], [0xEF, 0xBB, 0xBF], [0x00]]) }
    }

    private mutating func value(into text: inout [UInt8], depth: Int) {
        let choice = random.next() % (depth < 5 ? 7 : 5)
        switch choice {
        case 0: string(into: &text)
        case 1: number(into: &text)
        case 2: text += pick([Array("true".utf8), Array("false".utf8), Array("null".utf8)])
        case 3: if nearMiss() { text += pick([Array("tru".utf8), Array("True".utf8), Array("nul".utf8), Array("NaN".utf8)]) } else { string(into: &text) }
        case 4: number(into: &text)
        case 5: container(into: &text, depth: depth, isObject: true)
        default: container(into: &text, depth: depth, isObject: false)
        }
    }

    private mutating func container(into text: inout [UInt8], depth: Int, isObject: Bool) {
        text.append(isObject ? 0x7B : 0x5B)
        whitespace(into: &text)
        let count = chance(4) ? 0 : 1 + Int(random.next() % 4)
        for index in 0..<count {
            if index > 0 {
                whitespace(into: &text)
                if !nearMiss() { text.append(0x2C) }
                whitespace(into: &text)
            }
            if isObject {
                if nearMiss() { text += Array("k".utf8) } else { string(into: &text) }
                whitespace(into: &text)
                if !nearMiss() { text.append(0x3A) }
                whitespace(into: &text)
            }
            value(into: &text, depth: depth + 1)
        }
        whitespace(into: &text)
        if count > 0 && nearMiss() { text.append(0x2C) }
        if !nearMiss() { text.append(isObject ? 0x7D : 0x5D) }
    }

    private mutating func number(into text: inout [UInt8]) {
        if chance(3) { text.append(0x2D) }
        if chance(3) { text.append(0x30) } else {
            text.append(0x31 + UInt8(random.next() % 9))
            for _ in 0..<(random.next() % 5) { text.append(0x30 + UInt8(random.next() % 10)) }
        }
        if chance(3) {
            text.append(0x2E)
            for _ in 0..<(1 + random.next() % 3) { text.append(0x30 + UInt8(random.next() % 10)) }
        }
        if chance(4) {
            text.append(pick([0x65, 0x45]))
            if chance(2) { text.append(pick([0x2B, 0x2D])) }
            for _ in 0..<(1 + random.next() % 3) { text.append(0x30 + UInt8(random.next() % 10)) }
        }
        if nearMiss() { text += pick([[0x30], [0x2E], [0x65], [0x2B], [0x78], [0x2D]]) }
    }

    private mutating func string(into text: inout [UInt8]) {
        text.append(0x22)
        for _ in 0..<(random.next() % 6) {
            switch random.next() % 8 {
            case 0: text += Array(pick([#"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#, #"\r"#, #"\t"#]).utf8)
            case 1: text += Array(pick([#"\u0000"#, #"\u001f"#, #"\u0041"#, #"\u00E9"#, #"\uFFFF"#, #"\uD83D\uDE00"#, #"\udbff\udfff"#]).utf8)
            case 2: appendScalar(into: &text)
            case 3 where nearMiss(): text += pick(Self.awkwardPieces)
            default:
                // Printable ASCII and DEL, without the quote and the backslash, which the other branches place.
                let byte = 0x20 + UInt8(random.next() % 0x60)
                text.append(byte == 0x22 || byte == 0x5C ? 0x61 : byte)
            }
        }
        text.append(0x22)
    }

    /// A random scalar, UTF-8 encoded: from each length class.
    private mutating func appendScalar(into text: inout [UInt8]) {
        let ranges: [ClosedRange<UInt32>] = [0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
        let range = pick(ranges)
        let scalar = Unicode.Scalar(range.lowerBound + UInt32(random.next() % UInt64(range.count)))!
        text += Array(String(Character(scalar)).utf8)
    }
}
