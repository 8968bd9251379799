import DeltaTapeStorage
import Foundation
import Synchronization
import Testing
import TestSupport

/// The upload sink's names (issue 29: two relays of a fleet writing one name): with `keepingExistingObjects` an object
/// already under the key is never replaced, whether the recording goes up in one PutObject or in parts (the whole
/// spool goes up again under a fresh key); `retarget(to:)` moves an upload only while nothing of it was sent. Read back
/// by curl (SigV4), a client independent of the one under test.
@Suite(.serialized, .timeLimit(.minutes(3))) struct S3UploadNameTests {
    let server: S3TestServer
    let prefix: String
    let spool: URL

    init() throws {
        server = try S3TestServer.shared()
        prefix = "names-\(UUID().uuidString.prefix(8))/"
        spool = try TestEnvironment.temporaryDirectory()
    }

    func client() throws -> S3Client {
        S3Client(configuration: S3Configuration(credentials: S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: server.secretAccessKey),
                                                region: server.region, endpoint: try S3Endpoint(url: server.endpoint)))
    }

    func address(_ name: String) throws -> S3Address { try S3Address(bucket: server.bucket, key: prefix + name) }

    /// The object's bytes, as curl reads them.
    func object(_ name: String) throws -> Data? {
        let answer = try server.curl("GET", "/\(server.bucket)/\(prefix)\(name)")
        return answer.status == 200 ? answer.body : nil
    }

    /// Bytes no two tests share: a counter pattern, `count` long.
    func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }

    @Test(arguments: [100_000, 12 << 20])
    func anObjectUnderTheKeyIsNeverReplacedAndTheUploadGoesToAFreshKey(byteCount: Int) throws {
        let s3 = try client()
        _ = try s3.putObject(try address("taken.wav"), bytes: Array("planted".utf8))
        let fresh = Mutex(0)
        let sink = try S3UploadSink(address: try address("taken.wav"), client: s3, spoolDirectory: spool.path, partByteCount: 5 << 20,
                                    keepingExistingObjects: true, freshAddress: { [prefix, bucket = server.bucket] in
                                        let number = fresh.withLock { $0 += 1; return $0 }
                                        // The first fresh key is taken too: the sink must go on to the next.
                                        return try! S3Address(bucket: bucket, key: prefix + (number == 1 ? "taken.wav" : "fresh-\(number).wav"))
                                    })
        let data = bytes(byteCount, seed: UInt8(byteCount % 251))
        try data.withUnsafeBytes { try sink.write($0) }
        try sink.close()
        #expect(try object("taken.wav") == Data("planted".utf8), "the planted object is kept")
        #expect(fresh.withLock { $0 } == 2)
        let stored = try #require(try object("fresh-2.wav"), "no object under the fresh key")
        let same = stored == Data(data)
        #expect(same, "the fresh object is not the bytes written (\(stored.count) of \(data.count))")
        #expect(sink.name == "s3://\(server.bucket)/\(prefix)fresh-2.wav")
        #expect(try s3.listMultipartUploads(try address("")).isEmpty, "an upload was left open")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).isEmpty, "the spool is not empty")
    }

    @Test func withoutAFreshKeyATakenKeyFailsTheUploadAndIsKept() throws {
        let s3 = try client()
        _ = try s3.putObject(try address("mine.wav"), bytes: Array("planted".utf8))
        let sink = try S3UploadSink(address: try address("mine.wav"), client: s3, spoolDirectory: spool.path, keepingExistingObjects: true)
        try bytes(1000, seed: 7).withUnsafeBytes { try sink.write($0) }
        let failure = #expect(throws: (any Error).self) { try sink.close() }
        #expect("\(failure.map { String(describing: $0) } ?? "")".contains("PreconditionFailed"), "\(String(describing: failure))")
        #expect(try object("mine.wav") == Data("planted".utf8))
    }

    @Test func anUploadMovesOnlyWhileNothingOfItWasSent() throws {
        let s3 = try client()
        let sink = try S3UploadSink(address: try address("first.wav"), client: s3, spoolDirectory: spool.path, partByteCount: 5 << 20)
        #expect(sink.retarget(to: try address("second.wav")))
        let data = bytes(6 << 20, seed: 3)
        try data.withUnsafeBytes { try sink.write($0) }
        // A part is on its way now: the key stays.
        #expect(!sink.retarget(to: try address("third.wav")))
        try sink.close()
        #expect(try object("first.wav") == nil && object("third.wav") == nil)
        let same = try object("second.wav") == Data(data)
        #expect(same, "the object is not under the key it was moved to")
    }
}
