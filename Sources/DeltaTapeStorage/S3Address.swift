/// An object or a prefix in a bucket: `s3://BUCKET/KEY`, or `s3://BUCKET/PREFIX/` (a key ending in `/`, or none),
/// which stands for every object under it, as a folder does for files.
public struct S3Address: Sendable, Hashable, CustomStringConvertible {
    /// The bucket's name.
    public let bucket: String
    /// The object's key, or the prefix (empty, or ending in `/`), exactly as S3 stores it (not percent-encoded).
    public let key: String

    /// The scheme every address starts with.
    public static let scheme = "s3://"

    /// Whether `text` is meant as an S3 address (it starts with `s3://`), valid or not.
    public static func isAddress(_ text: String) -> Bool {
        text.hasPrefix(scheme)
    }

    /// Whether this names a prefix (every object under it) rather than one object.
    public var isPrefix: Bool { key.isEmpty || key.hasSuffix("/") }

    /// `s3://BUCKET/KEY`.
    public var description: String { "\(S3Address.scheme)\(bucket)/\(key)" }

    /// Reads `s3://BUCKET/KEY` or `s3://BUCKET/PREFIX/` (also `s3://BUCKET`, the whole bucket).
    ///
    /// The key is taken as written: `%20` stays three characters, since S3 keys may hold `%`.
    ///
    /// - Parameter text: The address.
    /// - Throws: ``S3AddressError``, saying what is wrong and what a valid address looks like.
    public init(parsing text: String) throws(S3AddressError) {
        guard S3Address.isAddress(text) else {
            throw S3AddressError(text, "it does not start with s3:// (write s3://BUCKET/KEY)")
        }
        let rest = text.dropFirst(S3Address.scheme.count)
        let bucket = rest.prefix { $0 != "/" }
        let key = rest.dropFirst(bucket.count + (bucket.count < rest.count ? 1 : 0))
        try self.init(bucket: String(bucket), key: String(key), text: text)
    }

    /// An address from its parts.
    ///
    /// - Parameters:
    ///   - bucket: A bucket name (3 to 63 lowercase letters, digits, dots and hyphens).
    ///   - key: The key, or a prefix (empty or ending in `/`).
    /// - Throws: ``S3AddressError`` for an invalid bucket name or key.
    public init(bucket: String, key: String) throws(S3AddressError) {
        try self.init(bucket: bucket, key: key, text: "\(S3Address.scheme)\(bucket)/\(key)")
    }

    private init(bucket: String, key: String, text: String) throws(S3AddressError) {
        if let problem = S3Address.bucketProblem(bucket) { throw S3AddressError(text, problem) }
        if let problem = S3Address.keyProblem(key) { throw S3AddressError(text, problem) }
        self.bucket = bucket
        self.key = key
    }

    /// The object named `name` under this prefix (`s3://b/logs/` + `x.wav` is `s3://b/logs/x.wav`).
    ///
    /// - Parameter name: A key relative to the prefix.
    /// - Returns: The object's address.
    /// - Throws: ``S3AddressError`` when this is no prefix or the key that results is invalid.
    public func appending(_ name: String) throws(S3AddressError) -> S3Address {
        guard isPrefix else {
            throw S3AddressError(description, "it names an object, not a prefix (end it with / to name a prefix)")
        }
        return try S3Address(bucket: bucket, key: key + name)
    }

    /// Why `name` is no valid bucket name, or `nil`. These are AWS's rules for general purpose buckets; other stores
    /// accept a subset of them.
    static func bucketProblem(_ name: String) -> String? {
        if name.isEmpty { return "it names no bucket (write s3://BUCKET/KEY)" }
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else {
            return "the bucket name \"\(name)\" has \(bytes.count) characters; bucket names have 3 to 63"
        }
        let allowed = bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }
        guard allowed else {
            return "the bucket name \"\(name)\" may hold only lowercase letters, digits, dots and hyphens"
        }
        let isAlphanumeric: (UInt8) -> Bool = { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return "the bucket name \"\(name)\" must begin and end with a letter or a digit"
        }
        if name.contains("..") { return "the bucket name \"\(name)\" has two dots in a row" }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
            return "the bucket name \"\(name)\" is written like an IP address, which buckets may not be"
        }
        return nil
    }

    /// Why `key` is no valid key or prefix, or `nil`.
    static func keyProblem(_ key: String) -> String? {
        if key.utf8.count > 1024 { return "its key is \(key.utf8.count) bytes long; S3 keys hold at most 1024 bytes of UTF-8" }
        // curl (and many servers) fold `.` and `..` path segments, so such a key would be stored under another name.
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." }) {
            return "its key has a \".\" or \"..\" segment, which HTTP clients and servers fold away; rename it"
        }
        if key.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return "its key holds a control character, which S3's XML listings cannot carry"
        }
        return nil
    }
}

/// An `s3://` address that cannot be used, with the reason.
public struct S3AddressError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address as given.
    public let address: String
    /// What is wrong, as a sentence's end a person can act on.
    public let reason: String

    init(_ address: String, _ reason: String) {
        self.address = address
        self.reason = reason
    }

    /// `"s3://…" is not a valid S3 address: REASON.`
    public var description: String { "\"\(address)\" is not a valid S3 address: \(reason)." }
}
