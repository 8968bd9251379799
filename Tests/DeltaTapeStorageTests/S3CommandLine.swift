import DeltaTapeStorage
import Foundation
import TestSupport

/// The `deltatape` binary run against the test S3 server (or a fault proxy in front of it), with the server's
/// credentials in its environment, no AWS shared files, and a cache folder (hence a spool folder) of the test's own.
struct S3CommandLine {
    let server: S3TestServer
    /// `XDG_CACHE_HOME`: the spool folder is `deltatape/spool` in it.
    let cache: URL
    /// Where the binary sends its requests: the server, or a proxy.
    var endpoint: String

    init(server: S3TestServer, cache: URL, endpoint: String? = nil) {
        self.server = server
        self.cache = cache
        self.endpoint = endpoint ?? server.endpoint
    }

    /// The default spool folder of the binary's runs.
    var spoolFolder: String { cache.appendingPathComponent("deltatape/spool").path }

    /// `env`'s arguments: the environment, then the binary.
    func command(secret: String? = nil, through wrapper: [String] = []) -> [String] {
        ["AWS_ACCESS_KEY_ID=\(server.accessKeyID)", "AWS_SECRET_ACCESS_KEY=\(secret ?? server.secretAccessKey)",
         "AWS_REGION=\(server.region)", "AWS_ENDPOINT_URL=\(endpoint)", "AWS_CONFIG_FILE=/dev/null",
         "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "XDG_CACHE_HOME=\(cache.path)"] + wrapper + [TestEnvironment.deltatapeExecutable.path]
    }

    /// Runs the binary with `arguments` (under `wrapper`, a command and its arguments such as `/usr/bin/time -f %M`,
    /// when given) and waits for it.
    func run(_ arguments: [String], secret: String? = nil, through wrapper: [String] = []) throws -> ProcessResult {
        try TestSupport.run("/usr/bin/env", command(secret: secret, through: wrapper) + arguments)
    }

    /// The object at `key` as curl (a client independent of ours) reads it from the server.
    func object(_ key: String) throws -> (status: Int, body: Data) {
        try server.curl("GET", "/\(server.bucket)/\(key)")
    }

    /// Whether the server lists an open multipart upload under `prefix` (ListMultipartUploads, by curl).
    ///
    /// - Throws: `TestSupportError` when the answer is not a listing: the query's keys are sorted, since curl signs the
    ///   query as written, and its values percent-encoded as SigV4 wants (`?uploads=&prefix=a/` is refused with
    ///   SignatureDoesNotMatch, whose answer has no `<UploadId>` either).
    func hasOpenUpload(under prefix: String) throws -> Bool {
        let encoded = prefix.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? prefix
        let (status, body) = try server.curl("GET", "/\(server.bucket)/?prefix=\(encoded)&uploads=")
        guard status == 200, body.range(of: Data("<ListMultipartUploadsResult".utf8)) != nil else {
            throw TestSupportError("ListMultipartUploads answered \(status): \(String(decoding: body, as: UTF8.self))")
        }
        return body.range(of: Data("<UploadId>".utf8)) != nil
    }

    /// The spool folder's files.
    func spoolFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: spoolFolder))?.sorted() ?? []
    }
}
