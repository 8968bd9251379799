import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// `deltatape convert … -o s3://…` through a loopback proxy that injects faults into the upload (S3FaultProxy): a
/// connection dropped partway through a part, a 500 and a 503 SlowDown answered to one part, each retried into an
/// object bit-identical to the local file's; a CompleteMultipartUpload answered 200 with an error body, an error:
/// exit 74 with the key and S3's code, the upload aborted, no object, the spool kept, and `repair` makes the object
/// from it.
@Suite(.serialized, .timeLimit(.minutes(6))) struct S3UploadFaultTests {
    let server: S3TestServer
    let proxy: S3FaultProxy
    let prefix: String
    let folder: URL
    /// The binary, sending its requests through the proxy.
    let commandLine: S3CommandLine

    init() throws {
        server = try S3TestServer.shared()
        proxy = try S3FaultProxy(upstream: server.endpoint)
        prefix = "fault-\(UUID().uuidString.prefix(8))/"
        folder = try TestEnvironment.temporaryDirectory()
        commandLine = S3CommandLine(server: server, cache: folder, endpoint: proxy.endpoint)
    }

    static let slowDown = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    static let internalError = "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"

    /// The six-minute log (34 MB of stereo WAV: five parts) converted to `key` through the proxy, and to a local file.
    func convert(to key: String) throws -> (result: ProcessResult, local: Data) {
        let log = try GeneratedSessions.sixMinuteLog()
        let result = try commandLine.run(["convert", log, "--track", "both", "-o", "s3://\(server.bucket)/\(key)", "--quiet"])
        let local = folder.appendingPathComponent("local.wav").path
        #expect(try run(TestEnvironment.deltatapeExecutable.path, ["convert", log, "--track", "both", "-o", local, "--quiet"]).status == 0)
        return (result, try Data(contentsOf: URL(fileURLWithPath: local)))
    }

    /// The object is the local file, no upload is left open and the spool is empty.
    func expectFinished(_ key: String, local: Data) throws {
        let (status, body) = try commandLine.object(key)
        #expect(status == 200)
        let same = body == local
        #expect(same, "\(body.count) bytes in S3, \(local.count) in the file")
        #expect(try !commandLine.hasOpenUpload(under: prefix))
        #expect(commandLine.spoolFiles().isEmpty, "\(commandLine.spoolFiles())")
    }

    /// How many times part 2 of `key` was sent.
    func partTwoRequests(_ key: String) -> Int {
        proxy.requests.filter { $0.method == "PUT" && $0.target.contains(key) && $0.target.contains("partNumber=2&") }.count
    }

    @Test func aConnectionDroppedMidPartIsRetried() throws {
        defer { proxy.stop() }
        let key = prefix + "dropped.wav"
        proxy.inject(.dropMidBody(afterBytes: 1 << 20), method: "PUT", targetContains: "partNumber=2&")
        let (result, local) = try convert(to: key)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(partTwoRequests(key) == 2)
        try expectFinished(key, local: local)
    }

    @Test(arguments: [500, 503])
    func aServerErrorAnsweredToOnePartIsRetried(status: Int) throws {
        defer { proxy.stop() }
        let key = prefix + "answered-\(status).wav"
        proxy.inject(.answer(status: status, body: status == 503 ? Self.slowDown : Self.internalError), method: "PUT",
                     targetContains: "partNumber=2&")
        let (result, local) = try convert(to: key)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(partTwoRequests(key) == 2)
        try expectFinished(key, local: local)
    }

    /// A 200 whose body is an <Error>, to every CompleteMultipartUpload: an error, retried, then given up.
    @Test func aCompleteAnsweredTwoHundredWithAnErrorFails() throws {
        defer { proxy.stop() }
        let key = prefix + "complete.wav"
        let address = "s3://\(server.bucket)/\(key)"
        proxy.inject(.answer(status: 200, body: Self.internalError), method: "POST", targetContains: "uploadId=", count: 100)
        let (result, local) = try convert(to: key)
        #expect(result.status == 74)
        #expect(result.standardError.contains(address) && result.standardError.contains("CompleteMultipartUpload")
            && result.standardError.contains("InternalError (HTTP 200)"), "\(result.standardError)")
        #expect(try commandLine.object(key).status == 404)
        #expect(try !commandLine.hasOpenUpload(under: prefix))
        #expect(proxy.requests.contains { $0.method == "DELETE" && $0.target.contains("uploadId=") }, "the upload was not aborted")
        // The spool kept: the whole recording, and the manifest naming the (aborted) upload.
        let entries = S3SpoolEntry.entries(in: commandLine.spoolFolder).entries
        try #require(entries.count == 1, "\(commandLine.spoolFiles())")
        let spooled = try Data(contentsOf: URL(fileURLWithPath: entries[0].spoolPath))
        let whole = spooled == local
        #expect(whole, "\(spooled.count) bytes in the spool, \(local.count) in the file")
        #expect(result.standardError.contains(entries[0].spoolPath))

        // S3 no longer holds the upload: repair of the spool folder (straight to the server) makes it again from the spool.
        var direct = commandLine
        direct.endpoint = server.endpoint
        let repaired = try direct.run(["repair", commandLine.spoolFolder])
        #expect(repaired.status == 0, "\(repaired.standardError)")
        #expect(String(decoding: repaired.standardOutput, as: UTF8.self).contains("made again from the spool"),
                "\(String(decoding: repaired.standardOutput, as: UTF8.self))")
        try expectFinished(key, local: local)
    }
}
