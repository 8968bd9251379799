/// Where requests go, and how the bucket is named in them.
///
/// With a custom endpoint (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`: SeaweedFS, MinIO, Ceph, R2, …) the bucket is the
/// path's first segment (path-style), which every S3-compatible store serves and which needs no DNS name per bucket.
/// Without one, requests go to AWS in the virtual-hosted style AWS recommends (`BUCKET.s3.REGION.amazonaws.com`),
/// except for bucket names with dots, which a wildcard TLS certificate does not cover: those go path-style.
public struct S3Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public let scheme: String
    /// The host, with `:PORT` when one was given.
    public let host: String
    /// A path the endpoint's URL had (`/storage` of `https://host/storage`), without a trailing `/`; usually empty.
    public let basePath: String
    /// Whether the bucket goes into the path (`true`) or the host name.
    public let usesPathStyle: Bool

    /// The endpoint's URL.
    public var description: String { "\(scheme)://\(host)\(basePath)" }

    /// AWS's own endpoint for a region, virtual-hosted.
    ///
    /// - Parameter region: The region, such as `eu-west-1`.
    public static func aws(region: String) -> S3Endpoint {
        S3Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com", basePath: "", usesPathStyle: false)
    }

    /// A custom endpoint, path-style.
    ///
    /// - Parameter url: `http://HOST[:PORT][/PATH]` or `https://…`.
    /// - Throws: ``S3ConfigurationError`` for a URL of another form.
    public init(url: String) throws(S3ConfigurationError) {
        let schemeEnd = url.firstRange(of: "://")
        guard let schemeEnd, case let scheme = url[..<schemeEnd.lowerBound].lowercased(), scheme == "http" || scheme == "https" else {
            throw S3ConfigurationError("the endpoint URL \"\(url)\" does not start with http:// or https://")
        }
        let rest = url[schemeEnd.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !host.isEmpty, !host.contains("@") else {
            throw S3ConfigurationError("the endpoint URL \"\(url)\" has no host (or has user information, which does not belong there)")
        }
        var path = rest.dropFirst(host.count)
        guard !path.contains("?"), !path.contains("#") else {
            throw S3ConfigurationError("the endpoint URL \"\(url)\" has a query or a fragment; give scheme, host, port and path only")
        }
        while path.hasSuffix("/") { path.removeLast() }
        self.init(scheme: scheme, host: String(host), basePath: String(path), usesPathStyle: true)
    }

    private init(scheme: String, host: String, basePath: String, usesPathStyle: Bool) {
        self.scheme = scheme
        self.host = host
        self.basePath = basePath
        self.usesPathStyle = usesPathStyle
    }

    /// The URL of `key` in `bucket` (the bucket alone for an empty key) with `query`, its path and query
    /// percent-encoded as SigV4 signs them.
    func url(bucket: String, key: String, query: [(key: String, value: String)]) -> String {
        let queryText = query.isEmpty ? "" : "?" + S3URIEncoding.query(query)
        let encodedKey = S3URIEncoding.path(key)
        if usesPathStyle || bucket.contains(".") {
            return "\(scheme)://\(host)\(basePath)/\(bucket)/\(encodedKey)\(queryText)"
        }
        return "\(scheme)://\(bucket).\(host)\(basePath)/\(encodedKey)\(queryText)"
    }
}
