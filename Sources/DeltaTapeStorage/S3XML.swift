// S3's answers are small, flat XML documents of which a few elements are read; a tag scanner reads them without
// Foundation: FoundationXML's XMLParser would bring Foundation, ICU and libxml2 into a module that needs none of them,
// and was slower (release builds, a 1000-key ListObjectsV2 page: XMLParser 2.4 ms, this scanner 1.1 ms).

/// The text of S3's XML answers, read by element name: `<Tag>text</Tag>`, with the five named entities and numeric
/// character references decoded. Attributes, namespaces and CDATA are not needed for S3's answers and not read.
package struct S3XML: Sendable {
    /// The whole document, shared by every element read from it; `range` is this element's inner part. Bytes, not a
    /// String: searching Characters (grapheme clusters) was 9 times slower than FoundationXML on a 1000-key listing.
    private let bytes: [UInt8]
    private let range: Range<Int>

    /// Reads `bytes` (UTF-8).
    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
        range = 0..<bytes.count
    }

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.range = range
    }

    /// The document's root element's name (`Error`, `ListBucketResult`), skipping the `<?xml …?>` declaration.
    package var rootName: String? {
        var position = range.lowerBound
        while let open = firstIndex(of: [0x3C], from: position) {  // <
            let next = open + 1
            guard next < range.upperBound else { return nil }
            if bytes[next] == 0x3F || bytes[next] == 0x21 {  // <? or <!
                guard let close = firstIndex(of: [0x3E], from: next) else { return nil }
                position = close + 1
                continue
            }
            var end = next
            while end < range.upperBound, !S3XML.endsName(bytes[end]) { end += 1 }
            return String(decoding: bytes[next..<end], as: UTF8.self)
        }
        return nil
    }

    /// Every `<name>…</name>` element's inner XML, in order, each readable in turn (for `<Contents>`, `<Upload>`).
    package func elements(_ name: String) -> [S3XML] {
        var found: [S3XML] = []
        var position = range.lowerBound
        while let (inner, after) = nextElement(Array(name.utf8), from: position) {
            found.append(S3XML(bytes: bytes, range: inner))
            position = after
        }
        return found
    }

    /// The decoded text of the first `<name>` element; `""` for `<name/>`; `nil` when there is none.
    package func value(_ name: String) -> String? {
        nextElement(Array(name.utf8), from: range.lowerBound).map { S3XML.decodeEntities(bytes[$0.inner]) }
    }

    /// The first `<name …>` element from `position`: its inner range, and where its end tag ends.
    private func nextElement(_ name: [UInt8], from position: Int) -> (inner: Range<Int>, after: Int)? {
        let open = [0x3C] + name  // <name
        let close = [0x3C, 0x2F] + name + [0x3E]  // </name>
        var position = position
        while let start = firstIndex(of: open, from: position) {
            let afterName = start + open.count
            guard afterName < range.upperBound else { return nil }
            guard S3XML.endsName(bytes[afterName]) else {  // a longer name starting alike (<KeyCount> for <Key>)
                position = afterName
                continue
            }
            guard let tagEnd = firstIndex(of: [0x3E], from: afterName) else { return nil }
            if bytes[tagEnd - 1] == 0x2F { return (tagEnd..<tagEnd, tagEnd + 1) }  // <name/>
            guard let end = firstIndex(of: close, from: tagEnd + 1) else { return nil }
            return (tagEnd + 1..<end, end + close.count)
        }
        return nil
    }

    /// Where `pattern` first starts at or after `position`, within this element.
    private func firstIndex(of pattern: [UInt8], from position: Int) -> Int? {
        guard let first = pattern.first, pattern.count <= range.upperBound - position else { return nil }
        var index = position
        let last = range.upperBound - pattern.count
        while index <= last {
            if bytes[index] == first {
                var matched = 1
                while matched < pattern.count && bytes[index + matched] == pattern[matched] { matched += 1 }
                if matched == pattern.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// Whether `byte` ends a tag's name: `>`, `/` or white space.
    private static func endsName(_ byte: UInt8) -> Bool {
        byte == 0x3E || byte == 0x2F || byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// `&amp; &lt; &gt; &quot; &apos;` and `&#NN;` / `&#xNN;` decoded; anything else left as it is.
    package static func decodeEntities(_ text: ArraySlice<UInt8>) -> String {
        guard text.contains(0x26) else { return String(decoding: text, as: UTF8.self) }  // &
        var result: [UInt8] = []
        result.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            guard byte == 0x26, let semicolon = text[index..<min(index + 12, text.endIndex)].firstIndex(of: 0x3B) else {
                result.append(byte)
                index += 1
                continue
            }
            let name = String(decoding: text[(index + 1)..<semicolon], as: UTF8.self)
            let named: [String: UInt8] = ["amp": 0x26, "lt": 0x3C, "gt": 0x3E, "quot": 0x22, "apos": 0x27]
            if let replacement = named[name] {
                result.append(replacement)
            } else if name.hasPrefix("#"), case let digits = name.dropFirst(),
                      let scalar = (digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)).flatMap(Unicode.Scalar.init) {
                result += Array(String(Character(scalar)).utf8)
            } else {
                result += text[index...semicolon]
            }
            index = semicolon + 1
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// `text` with `& < > " '` written as entities, for a request body.
    package static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}
