// Hand-written rather than JSONDecoder/JSONSerialization: audio messages are mostly one long base64 string,
// and a general parser would copy it into a tree; this validates in one pass and only records where values are
// (a flat list, like simdjson's tape), so nested lookups (Gemini's parts) never scan the bytes again.
// Measured in Benchmarks/EventReading: ~10x JSONDecoder on an OpenAI session log. Over 400 lines on purpose: the
// scanner's one pass, its tape and its failures read together.
import DeltaTapeKernels

/// What kind of JSON value a member holds.
@_spi(Blocks) public enum JSONValueKind: UInt8, Sendable {
    /// `{…}`.
    case object
    /// `[…]`.
    case array
    /// `"…"`.
    case string
    /// A number.
    case number
    /// `true`.
    case `true`
    /// `false`.
    case `false`
    /// `null`.
    case null
}

/// One value of a scanned JSON text: where it is in the scanned bytes and, for an object's member, where its key is.
@_spi(Blocks) public struct JSONMember: Sendable {
    /// Byte range of the key's content (without quotes).
    public var key: Range<Int>
    /// Byte range of the value; for strings, the content without quotes.
    public var value: Range<Int>
    /// The kind of the value.
    public var kind: JSONValueKind
    /// Whether the key contains a backslash escape (compare it unescaped then).
    public var keyHasEscapes: Bool
    /// Whether a string value contains a backslash escape (unescape before use).
    public var valueHasEscapes: Bool
    /// The value's position in its scanner's value list.
    var index: Int
    /// The position in the value list just after the value's last descendant (the next sibling's position).
    var subtreeEnd: Int
}

/// A JSON syntax error, with the byte offset where scanning stopped.
/// Public for the same reason as ``JSONValueKind``.
@_spi(Blocks) public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Offset of the offending byte within the scanned text.
    @_spi(Blocks) public var offset: Int
    /// What was expected or found, in words.
    @_spi(Blocks) public var message: String

    /// Creates an error.
    package init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    /// The message and the offending byte's place (1-based).
    public var description: String { "\(message) (at byte \(offset + 1))" }
}

/// Validates one JSON text (RFC 8259) completely and records where every value is.
///
/// Everything is checked: structure, string escapes and surrogate pairs, control characters, UTF-8,
/// number grammar, nesting depth, and that nothing but whitespace follows the value. Every value is
/// recorded in document order with its byte range (and its key, inside objects), so ``JSONObjectView``
/// finds nested members without reading the text again. A scanner keeps its buffers between calls,
/// so scanning allocates nothing once warmed up.
@_spi(Blocks) public struct JSONScanner: Sendable {
    /// Deepest nesting accepted; deeper input is rejected rather than risking the stack or time.
    public static let maximumDepth = 512
    /// Most values recorded for one text; more are rejected. Each costs a ``JSONMember`` (56 bytes), so without a bound a
    /// 64 MiB message of `[0,0,0,…]` would cost 1.8 GB; a realtime message holds dozens, a large `session.update` thousands.
    public static let maximumValueCount = 1 << 18

    /// Every value of the last scanned text in document order, the top-level value first.
    private(set) var values: [JSONMember] = []

    private var containerStack: [Bool] = []  // true = object
    private var openEntries: [Int] = []  // positions in `values` of the open containers

    /// The members of the last scanned top-level object (or the elements of the top-level array), in document order.
    public var members: [JSONMember] {
        guard let root = values.first else { return [] }
        return Array(JSONChildren(values: values, of: root))
    }

    /// Creates a scanner.
    public init() {
        values.reserveCapacity(16)
        containerStack.reserveCapacity(32)
        openEntries.reserveCapacity(32)
    }

    /// Scans `text`, which must hold exactly one JSON object (whitespace around it allowed).
    ///
    /// Its members are in ``members`` afterwards.
    /// - Throws: ``JSONScanFailure/syntax(_:)`` when the text is not valid JSON, or
    ///   ``JSONScanFailure/notAnObject(_:)`` when it is valid JSON of another kind.
    public mutating func scanObject(_ text: UnsafeRawBufferPointer) throws(JSONScanFailure) {
        let kind = try scan(text)
        if kind != .object { throw .notAnObject(kind) }
    }

    /// Scans `text`, which must hold exactly one JSON value of any kind (whitespace around it allowed).
    ///
    /// - Returns: The value's kind. For an object, its members are in ``members``; for an array, its elements
    ///   are, each with an empty key range.
    /// - Throws: ``JSONScanFailure/syntax(_:)`` when the text is not valid JSON.
    @discardableResult
    public mutating func scan(_ text: UnsafeRawBufferPointer) throws(JSONScanFailure) -> JSONValueKind {
        values.removeAll(keepingCapacity: true)
        containerStack.removeAll(keepingCapacity: true)
        openEntries.removeAll(keepingCapacity: true)
        guard let base = text.baseAddress, !text.isEmpty else {
            throw .syntax(JSONSyntaxError(offset: 0, message: "empty text where a JSON object was expected"))
        }
        var cursor = Cursor(base: base.assumingMemoryBound(to: UInt8.self), end: text.count)
        do {
            return try scanDocument(&cursor)
        } catch let error as JSONSyntaxError {
            throw .syntax(error)
        } catch {
            preconditionFailure("the scanner throws only JSONSyntaxError")
        }
    }

    // MARK: - The scanner

    /// A read position over the text, with unchecked access: every read is guarded by `position < end`.
    fileprivate struct Cursor {
        let base: UnsafePointer<UInt8>
        let end: Int
        var position = 0

        @inline(__always) var atEnd: Bool { position >= end }
        @inline(__always) var current: UInt8 { base[position] }

        @inline(__always) mutating func skipWhitespace() {
            while position < end {
                switch base[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        func error(_ message: String) -> JSONSyntaxError {
            JSONSyntaxError(offset: position, message: message)
        }

        func unexpected(expecting: String) -> JSONSyntaxError {
            if atEnd { return error("unexpected end of text, expected \(expecting)") }
            return error("unexpected \(describe(current)), expected \(expecting)")
        }
    }

    /// Scans one whole document, recording every value, and returns the kind of the top-level value.
    private mutating func scanDocument(_ cursor: inout Cursor) throws -> JSONValueKind {
        // The key of the object member whose value comes next.
        var pendingKey: (range: Range<Int>, hasEscapes: Bool) = (0..<0, false)
        cursor.skipWhitespace()
        // The value state: scan one value; containers push and continue inside.
        valueLoop: while true {
            // --- expecting a value ---
            cursor.skipWhitespace()
            guard !cursor.atEnd else { throw cursor.unexpected(expecting: "a value") }
            let valueStart = cursor.position
            let key: (range: Range<Int>, hasEscapes: Bool) = containerStack.last == true ? pendingKey : (valueStart..<valueStart, false)  // array elements have none
            let entry = values.count
            guard entry < Self.maximumValueCount else { throw cursor.error("more than \(Self.maximumValueCount) values in one message") }
            var kind: JSONValueKind
            var hasEscapes = false
            var opened = false
            switch cursor.current {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = cursor.current == UInt8(ascii: "{")
                kind = isObject ? .object : .array
                guard containerStack.count < Self.maximumDepth else { throw cursor.error("nesting deeper than \(Self.maximumDepth) levels") }
                cursor.position += 1
                cursor.skipWhitespace()
                if !cursor.atEnd, cursor.current == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    cursor.position += 1  // empty: complete already
                } else {
                    containerStack.append(isObject)
                    openEntries.append(entry)
                    opened = true
                    if isObject { try scanKeyAndColon(&cursor, key: &pendingKey) }
                }
            case UInt8(ascii: "\""):
                kind = .string
                cursor.position += 1
                hasEscapes = try scanStringBody(&cursor)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                kind = .number
                try scanNumber(&cursor)
            case UInt8(ascii: "t"):
                kind = .true
                try scanLiteral(&cursor, "true")
            case UInt8(ascii: "f"):
                kind = .false
                try scanLiteral(&cursor, "false")
            case UInt8(ascii: "n"):
                kind = .null
                try scanLiteral(&cursor, "null")
            default:
                throw cursor.unexpected(expecting: "a value")
            }
            let end = cursor.position
            values.append(JSONMember(
                key: key.range, value: kind == .string ? (valueStart + 1)..<(end - 1) : valueStart..<end, kind: kind,
                keyHasEscapes: key.hasEscapes, valueHasEscapes: hasEscapes, index: entry, subtreeEnd: entry + 1))
            // Inside a container just opened, a value follows (for an object, after its first key).
            if opened { continue valueLoop }

            // --- after a value: separators and closers ---
            while true {
                if containerStack.isEmpty {
                    cursor.skipWhitespace()
                    guard cursor.atEnd else { throw cursor.error("unexpected \(describe(cursor.current)) after the end of the JSON value") }
                    return values[0].kind
                }
                cursor.skipWhitespace()
                guard !cursor.atEnd else {
                    throw cursor.unexpected(expecting: containerStack.last! ? "',' or '}'" : "',' or ']'")
                }
                let inObject = containerStack.last!
                let byte = cursor.current
                if byte == UInt8(ascii: ",") {
                    cursor.position += 1
                    if inObject {
                        cursor.skipWhitespace()
                        try scanKeyAndColon(&cursor, key: &pendingKey)
                    }
                    continue valueLoop
                }
                if byte == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    cursor.position += 1
                    containerStack.removeLast()
                    // The container is complete: its range and where its descendants end.
                    let closed = openEntries.removeLast()
                    values[closed].value = values[closed].value.lowerBound..<cursor.position
                    values[closed].subtreeEnd = values.count
                    continue
                }
                throw cursor.unexpected(expecting: inObject ? "',' or '}'" : "',' or ']'")
            }
        }
    }

    /// Scans `"key"` and `:` inside an object.
    private func scanKeyAndColon(_ cursor: inout Cursor, key: inout (range: Range<Int>, hasEscapes: Bool)) throws {
        guard !cursor.atEnd, cursor.current == UInt8(ascii: "\"") else {
            throw cursor.unexpected(expecting: "a string key")
        }
        cursor.position += 1
        let keyStart = cursor.position
        let hasEscapes = try scanStringBody(&cursor)
        key = (keyStart..<(cursor.position - 1), hasEscapes)
        cursor.skipWhitespace()
        guard !cursor.atEnd, cursor.current == UInt8(ascii: ":") else {
            throw cursor.unexpected(expecting: "':' after an object key")
        }
        cursor.position += 1
    }

    /// Scans a string's content after its opening quote, through the closing quote.
    /// - Returns: Whether the string contains escapes.
    private func scanStringBody(_ cursor: inout Cursor) throws -> Bool {
        var hasEscapes = false
        let base = cursor.base
        let end = cursor.end
        var position = cursor.position
        defer { cursor.position = position }
        while true {
            // Fast path: skip the run of bytes that are neither a quote, a backslash, a control byte nor non-ASCII.
            position += JSONStringScan.plainPrefixLength(base + position, count: end - position)
            guard position < end else {
                throw JSONSyntaxError(offset: position, message: "unexpected end of text inside a string")
            }
            let byte = base[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return hasEscapes
            case UInt8(ascii: "\\"):
                hasEscapes = true
                position = try scanEscape(base: base, end: end, at: position)
            case 0x00..<0x20:
                throw JSONSyntaxError(offset: position, message: "control character \(describe(byte)) inside a string (it must be escaped)")
            case 0x80...:
                position = try scanUTF8(base: base, end: end, at: position)
            default:
                position += 1
            }
        }
    }

    /// Scans one escape sequence at `position` (the backslash); returns the position after it.
    private func scanEscape(base: UnsafePointer<UInt8>, end: Int, at position: Int) throws -> Int {
        guard position + 1 < end else {
            throw JSONSyntaxError(offset: position, message: "unexpected end of text inside an escape sequence")
        }
        switch base[position + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return position + 2
        case UInt8(ascii: "u"):
            let unit = try hex4(base: base, end: end, at: position + 2)
            if (0xD800...0xDBFF).contains(unit) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 12 <= end, base[position + 6] == UInt8(ascii: "\\"), base[position + 7] == UInt8(ascii: "u"),
                      let low = try? hex4(base: base, end: end, at: position + 8), (0xDC00...0xDFFF).contains(low)
                else {
                    throw JSONSyntaxError(offset: position, message: "unpaired high surrogate \\u\(String(unit, radix: 16, uppercase: true)) in a string")
                }
                return position + 12
            }
            if (0xDC00...0xDFFF).contains(unit) {
                throw JSONSyntaxError(offset: position, message: "unpaired low surrogate \\u\(String(unit, radix: 16, uppercase: true)) in a string")
            }
            return position + 6
        default:
            throw JSONSyntaxError(offset: position, message: "invalid escape sequence \\\(describe(base[position + 1]).trimmingQuotes) in a string")
        }
    }

    private func hex4(base: UnsafePointer<UInt8>, end: Int, at position: Int) throws -> UInt16 {
        guard position + 4 <= end else {
            throw JSONSyntaxError(offset: position, message: "unexpected end of text inside a \\u escape")
        }
        var value: UInt16 = 0
        for index in position..<(position + 4) {
            guard let digit = hexValue(base[index]) else {
                throw JSONSyntaxError(offset: index, message: "\\u escape needs four hex digits, found \(describe(base[index]))")
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// Validates one UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
    private func scanUTF8(base: UnsafePointer<UInt8>, end: Int, at position: Int) throws -> Int {
        let lead = base[position]
        let length: Int
        var lowerBound: UInt8 = 0x80, upperBound: UInt8 = 0xBF  // bounds on the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upperBound = 0x9F
        case 0xF0: length = 4; lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upperBound = 0x8F
        default:
            throw JSONSyntaxError(offset: position, message: "invalid UTF-8 byte 0x\(String(lead, radix: 16, uppercase: true))")
        }
        guard position + length <= end else {
            throw JSONSyntaxError(offset: position, message: "truncated UTF-8 sequence")
        }
        let second = base[position + 1]
        guard second >= lowerBound, second <= upperBound else {
            throw JSONSyntaxError(offset: position + 1, message: "invalid UTF-8 sequence")
        }
        for index in (position + 2)..<(position + length) where base[index] & 0xC0 != 0x80 {
            throw JSONSyntaxError(offset: index, message: "invalid UTF-8 sequence")
        }
        return position + length
    }

    /// Scans a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private func scanNumber(_ cursor: inout Cursor) throws {
        if cursor.current == UInt8(ascii: "-") { cursor.position += 1 }
        guard !cursor.atEnd, isDigit(cursor.current) else { throw cursor.unexpected(expecting: "a digit") }
        if cursor.current == UInt8(ascii: "0") {
            cursor.position += 1
            if !cursor.atEnd, isDigit(cursor.current) { throw cursor.error("leading zero in a number") }
        } else {
            while !cursor.atEnd, isDigit(cursor.current) { cursor.position += 1 }
        }
        if !cursor.atEnd, cursor.current == UInt8(ascii: ".") {
            cursor.position += 1
            guard !cursor.atEnd, isDigit(cursor.current) else { throw cursor.unexpected(expecting: "a digit after '.'") }
            while !cursor.atEnd, isDigit(cursor.current) { cursor.position += 1 }
        }
        if !cursor.atEnd, cursor.current | 0x20 == UInt8(ascii: "e") {
            cursor.position += 1
            if !cursor.atEnd, cursor.current == UInt8(ascii: "+") || cursor.current == UInt8(ascii: "-") { cursor.position += 1 }
            guard !cursor.atEnd, isDigit(cursor.current) else { throw cursor.unexpected(expecting: "a digit in the exponent") }
            while !cursor.atEnd, isDigit(cursor.current) { cursor.position += 1 }
        }
    }

    private func scanLiteral(_ cursor: inout Cursor, _ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        let literalStart = cursor.position
        for index in 0..<count {
            guard cursor.position < cursor.end, cursor.current == start[index] else {
                throw JSONSyntaxError(offset: literalStart, message: "expected a JSON value, found text that is not '\(literal)'")
            }
            cursor.position += 1
        }
    }
}

/// Why ``JSONScanner/scanObject(_:)`` did not produce an object.
/// Public for the same reason as ``JSONValueKind``.
@_spi(Blocks) public enum JSONScanFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not valid JSON.
    case syntax(JSONSyntaxError)
    /// The text is valid JSON, but its value is not an object.
    case notAnObject(JSONValueKind)

    /// The failure in words.
    public var description: String {
        switch self {
        case .syntax(let error): return "invalid JSON: \(error)"
        case .notAnObject(let kind): return "a JSON \(kind.name) where a JSON object was expected"
        }
    }
}

extension JSONValueKind {
    /// The kind's name in words.
    @_spi(Blocks) public var name: String {
        switch self {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .number: "number"
        case .true, .false: "boolean"
        case .null: "null"
        }
    }
}

@inline(__always) private func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A byte, in words for an error message.
func describe(_ byte: UInt8) -> String {
    if (0x21...0x7E).contains(byte) { return "'\(Character(UnicodeScalar(byte)))'" }
    return "byte 0x\(String(byte, radix: 16, uppercase: true))"
}

extension String {
    fileprivate var trimmingQuotes: String {
        hasPrefix("'") && hasSuffix("'") && count > 2 ? String(dropFirst().dropLast()) : self
    }
}
