import DeltaTapeStorage
import Foundation
import Synchronization
import Testing
import TestSupport

/// The client against a real S3 server that checks signatures (SeaweedFS, `S3TestServer`). What the client stored is
/// read back by `curl --aws-sigv4` too, a client independent of this one, and compared byte for byte.
@Suite(.timeLimit(.minutes(2))) struct S3ClientTests {
    let server: S3TestServer
    /// Keys of this test under their own prefix, so tests running at once never see each other's objects.
    let prefix: S3Address

    init() throws {
        server = try S3TestServer.shared()
        prefix = try S3Address(bucket: server.bucket, key: "t-\(UUID().uuidString.prefix(8))/")
    }

    func client(secret: String? = nil, accessKeyID: String? = nil, token: String? = nil, retry: S3RetryPolicy = S3RetryPolicy(),
                endpoint: String? = nil) throws -> S3Client {
        let credentials = S3Credentials(accessKeyID: accessKeyID ?? server.accessKeyID, secretAccessKey: secret ?? server.secretAccessKey,
                                        sessionToken: token)
        let configuration = S3Configuration(credentials: credentials, region: server.region, endpoint: try S3Endpoint(url: endpoint ?? server.endpoint))
        return S3Client(configuration: configuration, options: .init(retry: retry, connectTimeoutSeconds: 5, lowSpeedTimeoutSeconds: 10))
    }

    func read(_ client: S3Client, _ address: S3Address, range: Range<Int64>? = nil) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try client.getObject(address, range: range) { bytes += $0 }
        return bytes
    }

    /// The object as the independent client reads it.
    func curlRead(_ address: S3Address) throws -> (status: Int, body: Data) {
        let path = "/\(address.bucket)/" + address.key.addingPercentEncoding(withAllowedCharacters: Self.unreserved)!
            .replacingOccurrences(of: "%2F", with: "/")
        return try server.curl("GET", path)
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    @Test func roundTrip() throws {
        let s3 = try client()
        let address = try prefix.appending("one.bin")
        var random = SplitMix64(seed: 28)
        let bytes = random.bytes(100_000)
        let etag = try s3.putObject(address, bytes: bytes, contentType: "application/octet-stream")
        #expect(etag.count == 34)  // a quoted MD5, for a single PUT
        #expect(try read(s3, address) == bytes)
        #expect(try curlRead(address).body == Data(bytes))
        let head = try s3.headObject(address)
        #expect(head.byteCount == 100_000 && head.etag == etag && head.contentType == "application/octet-stream")
        #expect(try read(s3, address, range: 1000..<1010) == Array(bytes[1000..<1010]))
        #expect(try read(s3, address, range: 99_990..<100_000) == Array(bytes[99_990...]))
        var ranged: S3ObjectInfo?
        ranged = try s3.getObject(address, range: 5..<6) { _ in }
        #expect(ranged?.byteCount == 100_000)  // the whole size, from Content-Range
        let listed = try s3.listAllObjects(prefix)
        #expect(listed.map(\.key) == [address.key] && listed.first?.byteCount == 100_000 && listed.first?.etag == etag)
        try s3.deleteObject(address)
        #expect(try s3.listAllObjects(prefix).isEmpty)
        #expect(try curlRead(address).status == 404)
        let head404 = try #require(refusal { _ = try s3.headObject(address) })
        #expect(head404.isNotFound && head404.code == "NotFound")
        do {
            _ = try read(s3, address)
            Issue.record("GET read a deleted object")
        } catch let error as S3Error {
            #expect(error.code == "NoSuchKey" && error.httpStatus == 404)
            #expect(error.description == "GetObject \(address) failed: NoSuchKey (HTTP 404): The specified key does not exist.")
        }
    }

    @Test func streamingFromAFileRangeAndIntoChunks() throws {
        let s3 = try client()
        let folder = try TestEnvironment.temporaryDirectory()
        let path = folder.appendingPathComponent("spool").path
        var random = SplitMix64(seed: 7)
        let bytes = random.bytes(3_000_000)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        let address = try prefix.appending("from-file.bin")
        try s3.putObject(address, from: S3FileRange(descriptor: descriptor, offset: 1_000_001, byteCount: 1_500_000))
        #expect(lseek(descriptor, 0, SEEK_CUR) == 0)  // positional reads leave the offset alone
        var chunks = 0, largest = 0
        var read: [UInt8] = []
        try s3.getObject(address) { chunk in
            chunks += 1
            largest = max(largest, chunk.count)
            read += chunk
        }
        #expect(read == Array(bytes[1_000_001..<2_500_001]))
        #expect(chunks > 1 && largest <= 65_536)
        // A consumer's error stops the transfer and comes back as it was thrown.
        struct Enough: Error {}
        #expect(throws: Enough.self) { try s3.getObject(address) { _ in throw Enough() } }
        // A range running past the end of the file is refused before a short body is sent.
        #expect(throws: S3Error.self) { try s3.putObject(address, from: S3FileRange(descriptor: descriptor, offset: 2_999_000, byteCount: 5000)) }
        #expect(try self.read(s3, address).count == 1_500_000)  // the object is unchanged
    }

    /// Three 5 MiB parts and a small last one from a spool file, read back byte-exact; part 1 sent again (the
    /// "header written last" re-upload) replaces it.
    @Test func multipartUploadWithPartOneReplaced() throws {
        let s3 = try client()
        let address = try prefix.appending("multi part.wav")
        let partSize = Int(S3MultipartLimits.minimumPartByteCount)
        var random = SplitMix64(seed: 5)
        var bytes = random.bytes(3 * partSize + 12_345)
        let folder = try TestEnvironment.temporaryDirectory()
        let spool = folder.appendingPathComponent("spool").path
        try Data(bytes).write(to: URL(fileURLWithPath: spool))
        let descriptor = open(spool, O_RDWR)
        defer { close(descriptor) }

        let upload = try s3.createMultipartUpload(address, contentType: "audio/wav")
        #expect(try s3.listMultipartUploads(prefix).contains(upload))
        var parts: [S3UploadedPart] = []
        for index in 0..<4 {
            let offset = Int64(index * partSize)
            let count = min(Int64(partSize), Int64(bytes.count) - offset)
            parts.append(try s3.uploadPart(upload, partNumber: index + 1, from: S3FileRange(descriptor: descriptor, offset: offset, byteCount: count)))
        }
        // Nothing is under the key while the upload is open.
        #expect(try curlRead(address).status == 404)
        // The header, written last: new first bytes in the spool, part 1 sent again.
        let header = Array("RIFF-final-header".utf8)
        bytes.replaceSubrange(0..<header.count, with: header)
        _ = header.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        let newFirst = try s3.uploadPart(upload, partNumber: 1, from: S3FileRange(descriptor: descriptor, offset: 0, byteCount: Int64(partSize)))
        #expect(newFirst.etag != parts[0].etag)
        parts[0] = newFirst
        let etag = try s3.completeMultipartUpload(upload, parts: parts.reversed())  // sent sorted, whatever the order given
        #expect(etag.hasSuffix("-4\""))  // a multipart ETag counts its parts
        #expect(try read(s3, address) == bytes)
        #expect(try curlRead(address).body == Data(bytes))
        #expect(try s3.headObject(address).byteCount == Int64(bytes.count))
        #expect(try read(s3, address, range: Int64(partSize - 3)..<Int64(partSize + 3)) == Array(bytes[(partSize - 3)..<(partSize + 3)]))
        #expect(try !s3.listMultipartUploads(prefix).contains(upload))
    }

    @Test func abortLeavesNoUpload() throws {
        let s3 = try client()
        let address = try prefix.appending("aborted.ogg")
        let upload = try s3.createMultipartUpload(address)
        _ = try s3.uploadPart(upload, partNumber: 1, bytes: Array(repeating: 7, count: 1000))
        #expect(try s3.listMultipartUploads(prefix) == [upload])
        try s3.abortMultipartUpload(upload)
        #expect(try s3.listMultipartUploads(prefix).isEmpty)
        try s3.abortMultipartUpload(upload)  // aborting again is no error
        #expect(try curlRead(address).status == 404)
        #expect(try s3.listAllObjects(prefix).isEmpty)
    }

    /// A wrong secret is refused by the server, which checks the signature: not by the client, which cannot know.
    @Test func wrongSecretIsRefusedAndLeavesNothing() throws {
        let s3 = try client(secret: "not-" + server.secretAccessKey)
        let address = try prefix.appending("refused.wav")
        let put = try #require(refusal { try s3.putObject(address, bytes: [1, 2, 3]) })
        let create = try #require(refusal { _ = try s3.createMultipartUpload(address) })
        for error in [put, create] {
            #expect(error.code == "SignatureDoesNotMatch" && error.httpStatus == 403 && error.attempts == 1)  // no retry on 4xx
            #expect(error.description.contains("\(address) failed: SignatureDoesNotMatch (HTTP 403)"))
            #expect(!error.description.contains(server.secretAccessKey))
        }
        let good = try client()
        #expect(try curlRead(address).status == 404)
        #expect(try good.listMultipartUploads(prefix).isEmpty)
        #expect(try good.listAllObjects(prefix).isEmpty)
    }

    @Test func refusalsCarryTheServersCode() throws {
        let s3 = try client()
        let missing = try S3Address(parsing: "s3://no-such-bucket-28/x.wav")
        let put = try #require(refusal { try s3.putObject(missing, bytes: [1]) })
        #expect(put.code == "NoSuchBucket" && put.httpStatus == 404 && put.bucket == "no-such-bucket-28")
        #expect(put.description.hasPrefix("PutObject s3://no-such-bucket-28/x.wav failed: NoSuchBucket (HTTP 404)"))
        let list = try #require(refusal { _ = try s3.listObjects(S3Address(bucket: missing.bucket, key: "")) })
        #expect(list.code == "NoSuchBucket")
        // An identity that may only read: its write is refused with AccessDenied.
        let reader = try client(secret: server.readOnlySecretAccessKey, accessKeyID: server.readOnlyAccessKeyID)
        let readOnly = try prefix.appending("read-only.wav")
        let denied = try #require(refusal { try reader.putObject(readOnly, bytes: [1]) })
        #expect(denied.code == "AccessDenied" && denied.httpStatus == 403)
        #expect(try reader.listAllObjects(prefix).isEmpty)
        // A session token is signed and sent: this server knows no temporary credentials, so it refuses the key.
        let temporary = try client(token: "token-the-server-never-issued")
        let tokenAddress = try prefix.appending("token.wav")
        let refused = try #require(refusal { try temporary.putObject(tokenAddress, bytes: [1]) })
        #expect(refused.httpStatus == 403)
        #expect(try curlRead(tokenAddress).status == 404)
    }

    @Test(arguments: ["a b.wav", "ünïcödé/🎙 take 1.ogg", "plus+and=equals.webm", "deep/er/and/deeper/x.wav", "percent%20sign & ampersand'(1).wav",
                      "tilde~star*comma,semicolon;colon:at@.wav"])
    func oddKeys(_ name: String) throws {
        let s3 = try client()
        let address = try prefix.appending(name)
        let bytes = Array(name.utf8)
        try s3.putObject(address, bytes: bytes)
        #expect(try read(s3, address) == bytes)
        #expect(try curlRead(address).body == Data(bytes))  // stored under the key the other client names
        #expect(try s3.listAllObjects(prefix).map(\.key) == [address.key])
        // The key's own characters in the listing's prefix (query encoding) too.
        #expect(try s3.listAllObjects(S3Address(bucket: server.bucket, key: address.key)).count == 1)
        let upload = try s3.createMultipartUpload(address)
        #expect(try s3.listMultipartUploads(prefix) == [upload])
        let part = try s3.uploadPart(upload, partNumber: 1, bytes: bytes + bytes)
        try s3.completeMultipartUpload(upload, parts: [part])
        #expect(try read(s3, address) == bytes + bytes)
        try s3.deleteObject(address)
        #expect(try s3.listAllObjects(prefix).isEmpty)
    }

    @Test func listingPagesWithContinuationTokens() throws {
        let s3 = try client()
        let names = (0..<7).map { "k\($0).bin" } + ["sub/a.bin", "sub/b.bin"]
        for name in names { try s3.putObject(prefix.appending(name), bytes: [0]) }
        var keys: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try s3.listObjects(prefix, maximumKeys: 2, continuationToken: token)
            #expect(page.objects.count <= 2)
            keys += page.objects.map(\.key)
            token = page.nextContinuationToken
            pages += 1
        } while token != nil && pages < 20
        #expect(keys == names.map { prefix.key + $0 }.sorted())
        #expect(pages == 5)
        let folders = try s3.listObjects(prefix, delimiter: "/")
        #expect(folders.commonPrefixes == [prefix.key + "sub/"] && folders.objects.count == 7)
    }

    /// One client from many threads at once: each call gets a handle of its own from the pool.
    @Test func oneClientManyThreads() throws {
        let s3 = try client()
        let prefix = self.prefix
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<10 {
                do {
                    let address = try prefix.appending("thread\(thread)/\(index).bin")
                    let bytes = Array(repeating: UInt8(thread * 10 + index), count: 1000 + index)
                    try s3.putObject(address, bytes: bytes)
                    var read: [UInt8] = []
                    try s3.getObject(address) { read += $0 }
                    if read != bytes { failures.withLock { $0.append("\(address) read back wrong") } }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(try s3.listAllObjects(prefix).count == 80)
    }

    /// `If-None-Match: *`: AWS refuses to overwrite with it since 2024; this checks what the test server does.
    @Test func conditionalWrites() throws {
        let s3 = try client()
        let address = try prefix.appending("once.wav")
        try s3.putObject(address, bytes: [1], ifNoneMatch: true)
        let overwrite = try #require(refusal { try s3.putObject(address, bytes: [2], ifNoneMatch: true) })
        #expect(overwrite.code == "PreconditionFailed" && overwrite.httpStatus == 412)
        let upload = try s3.createMultipartUpload(address)
        let part = try s3.uploadPart(upload, partNumber: 1, bytes: [3])
        let complete = try #require(refusal { try s3.completeMultipartUpload(upload, parts: [part], ifNoneMatch: true) })
        #expect(complete.code == "PreconditionFailed")
        try s3.abortMultipartUpload(upload)
        #expect(try read(s3, address) == [1])
    }

    /// No server on the port: refused connections are retried (they may be a server restarting), a bounded number of
    /// times, with backoff, and then fail with libcurl's code.
    @Test func unreachableServerIsRetriedThenFails() throws {
        let events = RetryLog()
        let credentials = S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: server.secretAccessKey)
        let closedPort = try closedLoopbackPort()
        let configuration = S3Configuration(credentials: credentials, region: server.region, endpoint: try S3Endpoint(url: "http://127.0.0.1:\(closedPort)"))
        let s3 = S3Client(configuration: configuration, options: .init(retry: S3RetryPolicy(maximumAttempts: 3, baseDelaySeconds: 0.05),
                                                                        connectTimeoutSeconds: 2, onRetry: { events.append($0) }))
        let started = Date()
        let address = try prefix.appending("x.wav")
        let error = try #require(refusal { try s3.putObject(address, bytes: [1]) })
        #expect(error.code == "CURLE_COULDNT_CONNECT" && error.curlCode == 7 && error.httpStatus == nil && error.attempts == 3)
        #expect(error.description.contains("failed after 3 attempts: CURLE_COULDNT_CONNECT"))
        #expect(Date().timeIntervalSince(started) < 5)
        let log = events.all
        #expect(log.map(\.attempt) == [1, 2])
        #expect(log.allSatisfy { $0.delaySeconds <= 0.05 * Double(1 << ($0.attempt - 1)) })
    }

    /// A port with nothing listening on it.
    func closedLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw TestSupportError("no loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))  // closed again when the socket closes, never listened on
    }
}

/// The S3 error `body` threw; `nil` when it threw none, or another kind.
func refusal(_ body: () throws -> Void) -> S3Error? {
    do {
        try body()
        return nil
    } catch {
        return error as? S3Error
    }
}

/// Retry events, gathered from the client's callback.
final class RetryLog: Sendable {
    private let events = Mutex<[S3RetryEvent]>([])
    func append(_ event: S3RetryEvent) { events.withLock { $0.append(event) } }
    var all: [S3RetryEvent] { events.withLock { $0 } }
}
