import DeltaTapeKernels

/// Read access to the members of one scanned JSON object, over bytes the caller keeps alive.
///
/// A view reads the scanner's record of every value (see ``JSONScanner``): finding a nested member walks that
/// record, never the text, so a view costs no more for a member three objects deep than for a top-level one.
package struct JSONObjectView {
    /// The whole text the ranges of the members point into.
    package let text: UnsafeRawBufferPointer
    private let values: [JSONMember]
    private let object: JSONMember

    /// A view of the top-level object `scanner` last scanned from `text`; `nil` when that value is not an object.
    package init?(scanner: JSONScanner, text: UnsafeRawBufferPointer) {
        guard let root = scanner.values.first, root.kind == .object else { return nil }
        self.init(text: text, values: scanner.values, object: root)
    }

    private init(text: UnsafeRawBufferPointer, values: [JSONMember], object: JSONMember) {
        self.text = text
        self.values = values
        self.object = object
    }

    /// The object's members in document order.
    package var members: JSONChildren { JSONChildren(values: values, of: object) }

    /// The first member whose key is `name` (JSON permits duplicate keys; the first one wins here).
    package func member(_ name: StaticString) -> JSONMember? {
        for member in members where keyEquals(member, name) { return member }
        return nil
    }

    /// Whether `member`'s key equals `name`, unescaping the key when it holds escapes.
    package func keyEquals(_ member: JSONMember, _ name: StaticString) -> Bool {
        if member.keyHasEscapes {
            return JSONString.unescaped(text, member.key).elementsEqual(
                UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        return bytesEqual(text, member.key, name)
    }

    /// The member's value if it is a string, unescaped.
    package func string(_ name: StaticString) -> String? {
        guard let member = member(name), member.kind == .string else { return nil }
        return JSONString.decode(text, member.value, hasEscapes: member.valueHasEscapes)
    }

    /// Whether the member `name` is a string equal to `value` (compared without allocating when unescaped).
    package func stringEquals(_ name: StaticString, _ value: StaticString) -> Bool {
        guard let member = member(name), member.kind == .string else { return false }
        if member.valueHasEscapes { return JSONString.decode(text, member.value, hasEscapes: true) == value.description }
        return bytesEqual(text, member.value, value)
    }

    /// The member's value if it is a number that is an exact integer in `Int`'s range.
    package func integer(_ name: StaticString) -> Int? {
        guard let member = member(name) else { return nil }
        switch member.kind {
        case .number: return JSONNumber.integer(text, member.value)
        default: return nil
        }
    }

    /// The member's value if it is an object, as a view.
    package func object(_ name: StaticString) -> JSONObjectView? {
        member(name).flatMap(object(in:))
    }

    /// The value of `member` (a member or an array element found through this view) if it is an object, as a view.
    package func object(in member: JSONMember) -> JSONObjectView? {
        guard member.kind == .object else { return nil }
        return JSONObjectView(text: text, values: values, object: member)
    }

    /// The member's value if it is an array: its elements in order, each with an empty key range.
    package func array(_ name: StaticString) -> JSONChildren? {
        guard let member = member(name), member.kind == .array else { return nil }
        return JSONChildren(values: values, of: member)
    }

    /// The byte range of the member's string content (escapes unresolved), when the member is a string.
    func stringRange(_ name: StaticString) -> Range<Int>? {
        guard let member = member(name), member.kind == .string else { return nil }
        return member.value
    }

    /// The member's value if it is `true`.
    package func isTrue(_ name: StaticString) -> Bool {
        member(name)?.kind == .true
    }

    /// The member's value if it is a number or a string holding an exact integer (Twilio writes numbers as strings).
    package func integerOrIntegerString(_ name: StaticString) -> Int? {
        guard let member = member(name) else { return nil }
        switch member.kind {
        case .number: return JSONNumber.integer(text, member.value)
        case .string where !member.valueHasEscapes && !member.value.isEmpty
            && text[member.value].allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }):
            return JSONNumber.integer(text, member.value)
        default: return nil
        }
    }

    /// The member's value if it is a number, as a `Double`.
    package func double(_ name: StaticString) -> Double? {
        guard let member = member(name), member.kind == .number else { return nil }
        return Double(String(decoding: UnsafeRawBufferPointer(rebasing: text[member.value]), as: UTF8.self))
    }
}

/// The members of an object, or the elements of an array, from a scanner's record of values, in document order.
package struct JSONChildren: Sequence {
    private let values: [JSONMember]
    private let range: Range<Int>

    init(values: [JSONMember], of parent: JSONMember) {
        self.values = values
        range = (parent.index + 1)..<parent.subtreeEnd
    }

    package func makeIterator() -> Iterator {
        Iterator(values: values, position: range.lowerBound, end: range.upperBound)
    }

    /// Steps from child to child, over each child's descendants.
    package struct Iterator: IteratorProtocol {
        let values: [JSONMember]
        var position: Int
        let end: Int

        package mutating func next() -> JSONMember? {
            guard position < end else { return nil }
            let child = values[position]
            position = child.subtreeEnd
            return child
        }
    }
}

/// Compares the bytes of `text[range]` with a static string.
@inline(__always)
func bytesEqual(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
    let count = literal.utf8CodeUnitCount
    guard range.count == count else { return false }
    let start = literal.utf8Start
    for offset in 0..<count where text[range.lowerBound + offset] != start[offset] { return false }
    return true
}

/// Decoding JSON string contents.
@usableFromInline package enum JSONString {
    /// The string content in `text[range]` (between its quotes) as a Swift `String`.
    package static func decode(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, hasEscapes: Bool) -> String {
        if !hasEscapes { return String(decoding: UnsafeRawBufferPointer(rebasing: text[range]), as: UTF8.self) }
        return String(decoding: unescaped(text, range), as: UTF8.self)
    }

    /// The content of an already validated JSON string with its escapes resolved, as UTF-8 bytes.
    package static func unescaped(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8] {
        var output: [UInt8] = []
        unescape(text, range, appendingTo: &output)
        return output
    }

    /// Resolves the escapes of an already validated JSON string's content, appending UTF-8 bytes to `output`.
    ///
    /// The content must have passed ``JSONScanner`` (escapes well formed, surrogates paired).
    @usableFromInline package static func unescape(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, appendingTo output: inout [UInt8]) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: range.count))
        let written = output.withUnsafeMutableBytes { unescape(text, range, into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        output.removeLast(range.count - written)
    }

    /// Resolves the escapes of an already validated JSON string's content into `output`, which must hold at least
    /// `range.count` bytes (resolving never lengthens a string).
    ///
    /// - Returns: The number of bytes written.
    @usableFromInline package static func unescape(_ text: UnsafeRawBufferPointer, _ range: Range<Int>, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= range.count, "the output must hold range.count bytes")
        guard let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self), let target = output.baseAddress else { return 0 }
        var index = range.lowerBound
        let end = range.upperBound
        var written = 0
        func put(_ byte: UInt8) {
            target.storeBytes(of: byte, toByteOffset: written, as: UInt8.self)
            written += 1
        }
        while index < end {
            // Runs without escapes (nearly all of a HAR text frame) are copied whole.
            let run = JSONStringScan.plainPrefixLength(base + index, count: end - index)
            if run > 0 {
                (target + written).copyMemory(from: base + index, byteCount: run)
                written += run
                index += run
                continue
            }
            let byte = base[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < end else {
                put(byte)
                index += 1
                continue
            }
            let escaped = base[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hex4(text, index))
                index += 4
                if (0xD800...0xDBFF).contains(scalar), index + 6 <= end {
                    let low = UInt32(hex4(text, index + 2))
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                switch scalar {
                case 0..<0x80:
                    put(UInt8(scalar))
                case 0x80..<0x800:
                    put(UInt8(0xC0 | scalar >> 6))
                    put(UInt8(0x80 | scalar & 0x3F))
                case 0x800..<0x10000:
                    put(UInt8(0xE0 | scalar >> 12))
                    put(UInt8(0x80 | scalar >> 6 & 0x3F))
                    put(UInt8(0x80 | scalar & 0x3F))
                default:
                    put(UInt8(0xF0 | scalar >> 18))
                    put(UInt8(0x80 | scalar >> 12 & 0x3F))
                    put(UInt8(0x80 | scalar >> 6 & 0x3F))
                    put(UInt8(0x80 | scalar & 0x3F))
                }
            default: put(escaped)  // '"', '\\', '/'
            }
        }
        return written
    }

    private static func hex4(_ text: UnsafeRawBufferPointer, _ index: Int) -> UInt16 {
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = text[index + offset]
            let digit: UInt8 = byte <= UInt8(ascii: "9") ? byte &- UInt8(ascii: "0") : (byte | 0x20) &- UInt8(ascii: "a") &+ 10
            value = value << 4 | UInt16(digit & 0x0F)
        }
        return value
    }
}

/// Reading JSON numbers.
package enum JSONNumber {
    /// The number in `text[range]` as an `Int`, when it is written as an integer (or with a zero fraction)
    /// and fits; `nil` otherwise.
    package static func integer(_ text: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var index = range.lowerBound
        var negative = false
        if index < range.upperBound, text[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value = 0
        var sawDigit = false
        while index < range.upperBound, text[index] &- UInt8(ascii: "0") < 10 {
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = multiplied.addingReportingOverflow(Int(text[index] - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = added
            sawDigit = true
            index += 1
        }
        guard sawDigit else { return nil }
        if index < range.upperBound {
            // Accept "12.0" / "12.00"; anything else (fractions, exponents) is not an exact integer here.
            guard text[index] == UInt8(ascii: ".") else { return nil }
            index += 1
            while index < range.upperBound, text[index] == UInt8(ascii: "0") { index += 1 }
            guard index == range.upperBound else { return nil }
        }
        return negative ? -value : value
    }
}
