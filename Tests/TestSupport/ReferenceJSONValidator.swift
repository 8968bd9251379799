// Hand-written on purpose: an expectation source for DeltaTape's JSONScanner that shares none of its code paths.
// It follows RFC 8259's ABNF (§2–§7) and RFC 3629's UTF-8 (§3–§4) literally, a byte at a time, recursing for nesting.
// (No imports: the fuzz package under Fuzz/ compiles this same file through a symbolic link.)

/// A deliberately plain recursive-descent JSON validator, written straight from the grammar of RFC 8259.
///
/// It is slow and simple on purpose: tests and the fuzzer compare `JSONScanner` against it. Two choices match the
/// scanner's documented limits, both allowed by RFC 8259 §9 ("An implementation may set limits on ... the depth of
/// nesting ... [and] character contents of strings"):
/// - nesting deeper than `maximumDepth` containers is rejected;
/// - unless `allowsUnpairedSurrogates` is set, a `\uD800`–`\uDFFF` escape must be part of a high-low pair, as
///   I-JSON (RFC 7493 §2.1) requires (RFC 8259 §8.2's grammar alone would accept a lone one).
///
/// UTF-8 is checked by decoding each sequence and testing the code point (overlong, surrogate, above U+10FFFF),
/// not by the byte-range table of RFC 3629 §4 that the scanner uses, so the two formulations check each other.
public struct ReferenceJSONValidator {
    /// The kind of a JSON value.
    public enum Kind: String, Sendable, Equatable {
        case object, array, string, number, `true`, `false`, null
    }

    /// One value of the top-level object or array, with byte ranges into the text.
    public struct Member: Sendable, Equatable {
        /// The key's content without quotes; for an array element, an empty range.
        public var key: Range<Int>
        /// The value; for a string, its content without quotes.
        public var value: Range<Int>
        /// The value's kind.
        public var kind: Kind
        /// Whether the key holds a backslash escape.
        public var keyHasEscapes: Bool
        /// Whether a string value holds a backslash escape (false for other kinds).
        public var valueHasEscapes: Bool

        /// Creates a member.
        public init(key: Range<Int>, value: Range<Int>, kind: Kind, keyHasEscapes: Bool, valueHasEscapes: Bool) {
            self.key = key
            self.value = value
            self.kind = kind
            self.keyHasEscapes = keyHasEscapes
            self.valueHasEscapes = valueHasEscapes
        }
    }

    /// What a valid text holds.
    public struct Document: Sendable, Equatable {
        /// The kind of the top-level value.
        public var kind: Kind
        /// The members of a top-level object, or the elements of a top-level array (empty for other kinds).
        public var members: [Member]

        /// Creates a description of a document.
        public init(kind: Kind, members: [Member]) {
            self.kind = kind
            self.members = members
        }
    }

    private let bytes: [UInt8]
    private let maximumDepth: Int
    private let allowsUnpairedSurrogates: Bool
    private var index = 0
    private var members: [Member] = []

    private init(bytes: [UInt8], maximumDepth: Int, allowsUnpairedSurrogates: Bool) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
        self.allowsUnpairedSurrogates = allowsUnpairedSurrogates
    }

    /// Validates `bytes` as one JSON text.
    ///
    /// - Parameters:
    ///   - bytes: The text.
    ///   - maximumDepth: The deepest nesting of objects and arrays accepted.
    ///   - allowsUnpairedSurrogates: Whether a lone `\uD800`–`\uDFFF` escape is accepted (the bare grammar).
    /// - Returns: The top-level value's kind and members, or `nil` when the text is not valid.
    public static func validate(
        _ bytes: [UInt8], maximumDepth: Int = 512, allowsUnpairedSurrogates: Bool = false
    ) -> Document? {
        var validator = ReferenceJSONValidator(
            bytes: bytes, maximumDepth: maximumDepth, allowsUnpairedSurrogates: allowsUnpairedSurrogates)
        guard let kind = validator.jsonText() else { return nil }
        return Document(kind: kind, members: validator.members)
    }

    /// Whether `bytes` is one valid JSON text (with the default limits).
    public static func accepts(_ bytes: [UInt8]) -> Bool {
        validate(bytes) != nil
    }

    // MARK: - RFC 8259 §2: JSON-text = ws value ws

    private mutating func jsonText() -> Kind? {
        whitespace()
        guard let kind = value(depth: 0) else { return nil }
        whitespace()
        return index == bytes.count ? kind : nil
    }

    private var next: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard next == byte else { return false }
        index += 1
        return true
    }

    /// `ws = *( %x20 / %x09 / %x0A / %x0D )`
    private mutating func whitespace() {
        while let byte = next, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    // MARK: - §3: value = false / null / true / object / array / number / string

    /// Parses one value; `depth` is the number of containers around it. Records top-level members at depth 1.
    private mutating func value(depth: Int) -> Kind? {
        switch next {
        case 0x7B: return object(depth: depth) ? .object : nil
        case 0x5B: return array(depth: depth) ? .array : nil
        case 0x22: return string() != nil ? .string : nil
        case 0x2D, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39: return number() ? .number : nil
        case 0x74: return literal([0x74, 0x72, 0x75, 0x65]) ? .true : nil  // true
        case 0x66: return literal([0x66, 0x61, 0x6C, 0x73, 0x65]) ? .false : nil  // false
        case 0x6E: return literal([0x6E, 0x75, 0x6C, 0x6C]) ? .null : nil  // null
        default: return nil
        }
    }

    private mutating func literal(_ word: [UInt8]) -> Bool {
        for byte in word {
            guard take(byte) else { return false }
        }
        return true
    }

    // MARK: - §4: object = begin-object [ member *( value-separator member ) ] end-object

    /// `member = string name-separator value`; the separators carry their own `ws` on both sides.
    private mutating func object(depth: Int) -> Bool {
        guard depth < maximumDepth else { return false }
        index += 1  // {
        whitespace()
        if take(0x7D) { return true }
        while true {
            guard next == 0x22 else { return false }
            let keyStart = index + 1
            guard let keyHasEscapes = string() else { return false }
            let key = keyStart..<(index - 1)
            whitespace()
            guard take(0x3A) else { return false }
            whitespace()
            guard memberValue(depth: depth + 1, key: key, keyHasEscapes: keyHasEscapes) else { return false }
            whitespace()
            if take(0x2C) {
                whitespace()
                continue
            }
            return take(0x7D)
        }
    }

    // MARK: - §5: array = begin-array [ value *( value-separator value ) ] end-array

    private mutating func array(depth: Int) -> Bool {
        guard depth < maximumDepth else { return false }
        index += 1  // [
        whitespace()
        if take(0x5D) { return true }
        while true {
            guard memberValue(depth: depth + 1, key: index..<index, keyHasEscapes: false) else { return false }
            whitespace()
            if take(0x2C) {
                whitespace()
                continue
            }
            return take(0x5D)
        }
    }

    /// A value inside a container; when the container is the top-level one (`depth` 1), records it.
    private mutating func memberValue(depth: Int, key: Range<Int>, keyHasEscapes: Bool) -> Bool {
        let start = index
        let stringHasEscapes = next == 0x22 ? bytesHoldBackslash(from: start) : false
        guard let kind = value(depth: depth) else { return false }
        if depth == 1 {
            let value = kind == .string ? (start + 1)..<(index - 1) : start..<index
            members.append(Member(key: key, value: value, kind: kind, keyHasEscapes: keyHasEscapes,
                                  valueHasEscapes: kind == .string && stringHasEscapes))
        }
        return true
    }

    /// Whether the string starting at `start` (its quote) holds a backslash; only looked at once it is valid.
    private func bytesHoldBackslash(from start: Int) -> Bool {
        var position = start + 1
        while position < bytes.count {
            if bytes[position] == 0x5C { return true }
            if bytes[position] == 0x22 { return false }
            position += 1
        }
        return false
    }

    // MARK: - §6: number = [ minus ] int [ frac ] [ exp ]

    /// `int = zero / ( digit1-9 *DIGIT )`, `frac = decimal-point 1*DIGIT`, `exp = e [ minus / plus ] 1*DIGIT`.
    ///
    /// A leading zero followed by more digits is not rejected here: the number ends after the zero, and the
    /// digit that follows is then not allowed by whatever comes next in the grammar.
    private mutating func number() -> Bool {
        _ = take(0x2D)
        if !take(0x30) {
            guard digits() >= 1 else { return false }
        }
        if take(0x2E) {
            guard digits() >= 1 else { return false }
        }
        if take(0x65) || take(0x45) {
            if !take(0x2D) { _ = take(0x2B) }
            guard digits() >= 1 else { return false }
        }
        return true
    }

    private mutating func digits() -> Int {
        var count = 0
        while let byte = next, byte >= 0x30, byte <= 0x39 {
            index += 1
            count += 1
        }
        return count
    }

    // MARK: - §7: string = quotation-mark *char quotation-mark

    /// `char = unescaped / escape ( %x22 / %x5C / %x2F / %x62 / %x66 / %x6E / %x72 / %x74 / %x75 4HEXDIG )`,
    /// `unescaped = %x20-21 / %x23-5B / %x5D-10FFFF` (as UTF-8, §8.1).
    /// - Returns: Whether the string holds escapes; `nil` when it is invalid.
    private mutating func string() -> Bool? {
        index += 1  // "
        var hasEscapes = false
        while let byte = next {
            if byte == 0x22 {
                index += 1
                return hasEscapes
            } else if byte == 0x5C {
                hasEscapes = true
                guard escape() else { return nil }
            } else if byte < 0x20 {
                return nil
            } else if byte < 0x80 {
                index += 1
            } else {
                guard utf8Scalar() else { return nil }
            }
        }
        return nil  // no closing quote
    }

    private mutating func escape() -> Bool {
        index += 1  // backslash
        guard let escaped = next else { return false }
        index += 1
        switch escaped {
        case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: return true
        case 0x75:
            guard let unit = hexQuad() else { return false }
            if allowsUnpairedSurrogates || unit < 0xD800 || unit > 0xDFFF { return true }
            guard unit <= 0xDBFF else { return false }  // a low surrogate first
            // A high surrogate: the next escape must be a low one.
            guard take(0x5C), take(0x75), let low = hexQuad() else { return false }
            return low >= 0xDC00 && low <= 0xDFFF
        default:
            return false
        }
    }

    /// `4HEXDIG`, as a number.
    private mutating func hexQuad() -> Int? {
        var unit = 0
        for _ in 0..<4 {
            guard let byte = next else { return nil }
            let digit: Int
            if byte >= 0x30 && byte <= 0x39 {
                digit = Int(byte) - 0x30
            } else if byte >= 0x41 && byte <= 0x46 {
                digit = Int(byte) - 0x41 + 10
            } else if byte >= 0x61 && byte <= 0x66 {
                digit = Int(byte) - 0x61 + 10
            } else {
                return nil
            }
            unit = unit * 16 + digit
            index += 1
        }
        return unit
    }

    // MARK: - RFC 3629: one UTF-8 encoded scalar

    /// Decodes the sequence at `index` and checks the code point it spells: the shortest form for its value
    /// (no overlongs), not a surrogate, not above U+10FFFF.
    private mutating func utf8Scalar() -> Bool {
        let lead = bytes[index]
        let length: Int
        var scalar: UInt32
        if lead & 0b1110_0000 == 0b1100_0000 {
            length = 2
            scalar = UInt32(lead & 0b0001_1111)
        } else if lead & 0b1111_0000 == 0b1110_0000 {
            length = 3
            scalar = UInt32(lead & 0b0000_1111)
        } else if lead & 0b1111_1000 == 0b1111_0000 {
            length = 4
            scalar = UInt32(lead & 0b0000_0111)
        } else {
            return false  // a continuation byte without a lead, or 0xF8–0xFF
        }
        for offset in 1..<length {
            guard index + offset < bytes.count else { return false }
            let byte = bytes[index + offset]
            guard byte & 0b1100_0000 == 0b1000_0000 else { return false }
            scalar = scalar << 6 | UInt32(byte & 0b0011_1111)
        }
        let shortest: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard scalar >= shortest, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return false }
        index += length
        return true
    }
}
