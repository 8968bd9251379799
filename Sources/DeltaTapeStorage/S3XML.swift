// S3's answers are small, flat XML documents of which a few elements are read; a tag scanner reads them without
// Foundation (FoundationXML would bring Foundation and libxml2 into a module that otherwise needs neither).

/// The text of S3's XML answers, read by element name: `<Tag>text</Tag>`, with the five named entities and numeric
/// character references decoded. Attributes, namespaces and CDATA are not needed for S3's answers and not read.
package struct S3XML: Sendable {
    private let text: Substring

    /// Reads `bytes` as UTF-8.
    package init(_ bytes: [UInt8]) {
        text = Substring(String(decoding: bytes, as: UTF8.self))
    }

    private init(text: Substring) {
        self.text = text
    }

    /// The document's root element's name (`Error`, `ListBucketResult`), skipping the `<?xml …?>` declaration.
    package var rootName: String? {
        var rest = text[...]
        while let open = rest.firstIndex(of: "<") {
            let after = rest[rest.index(after: open)...]
            if after.hasPrefix("?") || after.hasPrefix("!") {
                guard let close = after.firstIndex(of: ">") else { return nil }
                rest = after[after.index(after: close)...]
                continue
            }
            return String(after.prefix { $0 != ">" && $0 != " " && $0 != "/" && $0 != "\t" && $0 != "\n" && $0 != "\r" })
        }
        return nil
    }

    /// Every `<name>…</name>` element's inner XML, in order, each readable in turn (for `<Contents>`, `<Upload>`).
    package func elements(_ name: String) -> [S3XML] {
        var found: [S3XML] = []
        var rest = text[...]
        while let (inner, after) = S3XML.nextElement(name, in: rest) {
            found.append(S3XML(text: inner))
            rest = after
        }
        return found
    }

    /// The decoded text of the first `<name>` element; `""` for `<name/>`; `nil` when there is none.
    package func value(_ name: String) -> String? {
        S3XML.nextElement(name, in: text[...]).map { S3XML.decodeEntities($0.inner) }
    }

    /// The first `<name …>` element's inner text and what follows its end tag.
    private static func nextElement(_ name: String, in text: Substring) -> (inner: Substring, after: Substring)? {
        var rest = text
        while let range = rest.firstRange(of: "<" + name) {
            let afterName = rest[range.upperBound...]
            guard let next = afterName.first else { return nil }
            if next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r" || next == "/" {
                guard let tagEnd = afterName.firstIndex(of: ">") else { return nil }
                if afterName[..<tagEnd].hasSuffix("/") {  // <name/>
                    return (afterName[tagEnd..<tagEnd], afterName[afterName.index(after: tagEnd)...])
                }
                let inner = afterName[afterName.index(after: tagEnd)...]
                guard let close = inner.firstRange(of: "</" + name + ">") else { return nil }
                return (inner[..<close.lowerBound], inner[close.upperBound...])
            }
            rest = afterName  // a longer name starting alike (<Key> when looking for <K>)
        }
        return nil
    }

    /// `&amp; &lt; &gt; &quot; &apos;` and `&#NN;` / `&#xNN;` decoded; anything else left as it is.
    package static func decodeEntities(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var result = ""
        var rest = text
        while let ampersand = rest.firstIndex(of: "&") {
            result += rest[..<ampersand]
            let entity = rest[ampersand...]
            guard let semicolon = entity.prefix(12).firstIndex(of: ";") else {
                result += "&"
                rest = entity.dropFirst()
                continue
            }
            let name = entity[entity.index(after: ampersand)..<semicolon]
            let named: [Substring: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            if let replacement = named[name] {
                result += replacement
            } else if name.hasPrefix("#"), case let digits = name.dropFirst(),
                      let scalar = (digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)).flatMap(Unicode.Scalar.init) {
                result.unicodeScalars.append(scalar)
            } else {
                result += entity[...semicolon]
            }
            rest = entity[entity.index(after: semicolon)...]
        }
        result += rest
        return result
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
