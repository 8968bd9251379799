import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// Faults between the client and the real server, injected by a loopback proxy the test owns: what is retried (5xx,
/// SlowDown, a dropped connection, a 200 whose body is an error), what is not (4xx), and a download resumed where a
/// broken connection left it. Every request still reaches SeaweedFS signed, so a retry that signed wrongly would fail.
@Suite(.timeLimit(.minutes(2))) struct S3FaultTests {
    let server: S3TestServer
    let proxy: S3FaultProxy
    let prefix: S3Address
    let retries = RetryLog()

    init() throws {
        server = try S3TestServer.shared()
        proxy = try S3FaultProxy(upstream: server.endpoint)
        prefix = try S3Address(bucket: server.bucket, key: "f-\(UUID().uuidString.prefix(8))/")
    }

    func client(attempts: Int = 4) throws -> S3Client {
        let credentials = S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: server.secretAccessKey)
        let configuration = S3Configuration(credentials: credentials, region: server.region, endpoint: try S3Endpoint(url: proxy.endpoint))
        let log = retries
        return S3Client(configuration: configuration, options: .init(retry: S3RetryPolicy(maximumAttempts: attempts, baseDelaySeconds: 0.02),
                                                                      connectTimeoutSeconds: 5, lowSpeedTimeoutSeconds: 10,
                                                                      onRetry: { log.append($0) }))
    }

    static let slowDown = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    static let internalError = "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"

    @Test func slowDownAndServerErrorsAreRetried() throws {
        defer { proxy.stop() }
        let s3 = try client()
        let address = try prefix.appending("part.wav")
        var random = SplitMix64(seed: 9)
        let bytes = random.bytes(200_000)
        let upload = try s3.createMultipartUpload(address)
        proxy.inject(.answer(status: 503, body: Self.slowDown), method: "PUT", targetContains: "partNumber=1")
        proxy.inject(.answer(status: 500, body: Self.internalError), method: "PUT", targetContains: "partNumber=1")
        let part = try s3.uploadPart(upload, partNumber: 1, bytes: bytes)
        #expect(retries.all.map(\.error.code) == ["SlowDown", "InternalError"])
        #expect(retries.all.map(\.error.httpStatus) == [503, 500])
        #expect(proxy.requests.filter { $0.method == "PUT" }.count == 3)
        try s3.completeMultipartUpload(upload, parts: [part])
        var read: [UInt8] = []
        try s3.getObject(address) { read += $0 }
        #expect(read == bytes)
    }

    @Test func retriesAreBoundedAndClientErrorsAreNotRetried() throws {
        defer { proxy.stop() }
        let s3 = try client(attempts: 3)
        let address = try prefix.appending("x.wav")
        proxy.inject(.answer(status: 503, body: Self.slowDown), method: "PUT", targetContains: "x.wav", count: 5)
        let exhausted = try #require(refusal { try s3.putObject(address, bytes: [1]) })
        #expect(exhausted.code == "SlowDown" && exhausted.attempts == 3)
        #expect(exhausted.description.contains("failed after 3 attempts: SlowDown (HTTP 503)"))
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        proxy.inject(.answer(status: 403, body: denied), method: "PUT", targetContains: "y.wav", count: 5)
        let refused = try #require(refusal { try s3.putObject(prefix.appending("y.wav"), bytes: [1]) })
        #expect(refused.code == "AccessDenied" && refused.attempts == 1)
        #expect(proxy.requests.filter { $0.target.contains("y.wav") }.count == 1)
    }

    /// S3 may answer CompleteMultipartUpload 200 and then an <Error> body: an error, retried when it may heal.
    @Test func completeAnsweredTwoHundredWithAnError() throws {
        defer { proxy.stop() }
        let s3 = try client()
        let address = try prefix.appending("complete.wav")
        let upload = try s3.createMultipartUpload(address)
        let part = try s3.uploadPart(upload, partNumber: 1, bytes: [1, 2, 3])
        proxy.inject(.answer(status: 200, body: Self.internalError), method: "POST", targetContains: "uploadId=")
        try s3.completeMultipartUpload(upload, parts: [part])
        #expect(retries.all.map(\.error.code) == ["InternalError"] && retries.all.first?.error.httpStatus == 200)
        var read: [UInt8] = []
        try s3.getObject(address) { read += $0 }
        #expect(read == [1, 2, 3])

        // Not retried: the error is thrown, the upload stays open (for the caller to abort), nothing is under the key.
        let once = try client(attempts: 1)
        let other = try prefix.appending("complete-2.wav")
        let second = try once.createMultipartUpload(other)
        let secondPart = try once.uploadPart(second, partNumber: 1, bytes: [4])
        proxy.inject(.answer(status: 200, body: Self.internalError), method: "POST", targetContains: "uploadId=")
        let error = try #require(refusal { try once.completeMultipartUpload(second, parts: [secondPart]) })
        #expect(error.httpStatus == 200 && error.code == "InternalError")
        #expect(try server.curl("GET", "/\(server.bucket)/\(other.key)").status == 404)
        try once.abortMultipartUpload(second)
        #expect(try once.listMultipartUploads(prefix).isEmpty)
    }

    @Test func droppedConnectionIsRetried() throws {
        defer { proxy.stop() }
        let s3 = try client()
        let address = try prefix.appending("dropped.wav")
        proxy.inject(.dropConnection, method: "PUT", targetContains: "dropped.wav")
        try s3.putObject(address, bytes: Array(repeating: 5, count: 10_000))
        #expect(retries.all.count == 1 && retries.all.first?.error.httpStatus == nil)
        #expect(retries.all.first.map { $0.error.code.hasPrefix("CURLE_") } == true)
        #expect(try s3.headObject(address).byteCount == 10_000)
    }

    /// A download whose connection breaks partway goes on from the first byte not delivered, from the same object.
    @Test func brokenDownloadIsResumed() throws {
        defer { proxy.stop() }
        let s3 = try client()
        let address = try prefix.appending("long.wav")
        var random = SplitMix64(seed: 11)
        let bytes = random.bytes(1_000_000)
        try s3.putObject(address, bytes: bytes)
        proxy.inject(.cutAnswer(afterBytes: 300_000), method: "GET", targetContains: "long.wav")
        var read: [UInt8] = []
        try s3.getObject(address) { read += $0 }
        #expect(read == bytes)
        let gets = proxy.requests.filter { $0.method == "GET" }
        #expect(gets.count == 2)
        let resumedFrom = gets.last?.headers["range"].flatMap { Int($0.dropFirst("bytes=".count).dropLast()) } ?? 0
        #expect(resumedFrom > 200_000 && resumedFrom < 300_000)  // what arrived before the cut, less the headers
        #expect(gets.last?.headers["if-match"] != nil)

        // A ranged read resumes within its range.
        proxy.inject(.cutAnswer(afterBytes: 100_000), method: "GET", targetContains: "long.wav")
        read = []
        try s3.getObject(address, range: 400_000..<700_000) { read += $0 }
        #expect(read == Array(bytes[400_000..<700_000]))
        #expect(proxy.requests.last?.headers["range"]?.hasSuffix("-699999") == true)
    }
}
