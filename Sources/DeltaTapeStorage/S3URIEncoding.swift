/// Percent-encoding as SigV4 defines it ("UriEncode" in AWS's Signature Version 4 reference): every byte of the UTF-8
/// text is kept when it is `A-Z a-z 0-9 - . _ ~`, else written `%XX` with uppercase hex; `/` is kept in a path and
/// encoded in a query. S3 signs its path without normalizing or encoding it twice, so the URL path written this way
/// is also the canonical path curl signs (curl signs the path and the query as the URL has them).
package enum S3URIEncoding {
    /// `text` for a URL path: `/` kept.
    package static func path(_ text: String) -> String {
        encode(text, keepingSlash: true)
    }

    /// `text` for a query key or value: `/` encoded too.
    package static func queryComponent(_ text: String) -> String {
        encode(text, keepingSlash: false)
    }

    /// A query string: keys sorted (by their encoded bytes, as SigV4's canonical query is), every key with `=`, even
    /// when its value is empty (`uploads=`). libcurl 7.88 signs the query as written, neither sorting it nor adding
    /// `=`, so a query written any other way is refused with SignatureDoesNotMatch.
    package static func query(_ items: [(key: String, value: String)]) -> String {
        items.map { (key: queryComponent($0.key), value: queryComponent($0.value)) }
            .sorted { $0.key == $1.key ? Array($0.value.utf8).lexicographicallyPrecedes($1.value.utf8) : Array($0.key.utf8).lexicographicallyPrecedes($1.key.utf8) }
            .map { "\($0.key)=\($0.value)" }
            .joined(separator: "&")
    }

    private static func encode(_ text: String, keepingSlash: Bool) -> String {
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            let unreserved = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            if unreserved || (keepingSlash && byte == 0x2F) {
                encoded.append(byte)
            } else {
                encoded += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }
}
