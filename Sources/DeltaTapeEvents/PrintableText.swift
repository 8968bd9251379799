extension String {
    /// The text made safe to print to a terminal or a log: control characters (C0, DEL, C1: escape sequences, bell,
    /// carriage returns, line breaks), Unicode's line and paragraph separators and its bidirectional marks, overrides and
    /// isolates written as `\u{1B}`-style escapes, and cut to `limit` characters with a note of how much was left out.
    /// Text from an input (a type name, an id, a path) passes through here before a person sees it, so a log cannot set
    /// a terminal's title, clear its screen, forge a line of output or show its text reordered (`\u{202E}`).
    ///
    /// - Parameter limit: The most characters kept.
    /// - Returns: The printable text.
    @_spi(Blocks) public func escapingControlCharacters(limit: Int = 200) -> String {
        var result = ""
        var kept = 0
        for scalar in unicodeScalars {
            if kept == limit {
                return result + "... (\(unicodeScalars.count - kept) more characters)"
            }
            switch scalar.value {
            case 0x00..<0x20, 0x7F..<0xA0, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                result.unicodeScalars.append(scalar)
            }
            kept += 1
        }
        return result
    }
}
