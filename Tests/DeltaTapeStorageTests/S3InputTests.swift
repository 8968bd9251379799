@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// `s3://` inputs against the real S3 server (SeaweedFS, which checks signatures): an object read through
/// `S3ObjectSource` byte for byte as the file it was uploaded from, and the `deltatape` binary converting and
/// inspecting an object exactly as it does the local file (the local file's conversion is the expectation).
@Suite(.timeLimit(.minutes(3))) struct S3InputTests {
    let server: S3TestServer
    let prefix: S3Address

    init() throws {
        server = try S3TestServer.shared()
        prefix = try S3Address(bucket: server.bucket, key: "in-\(UUID().uuidString.prefix(8))/")
    }

    func client(secret: String? = nil) throws -> S3Client {
        let credentials = S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: secret ?? server.secretAccessKey)
        return S3Client(configuration: S3Configuration(credentials: credentials, region: server.region, endpoint: try S3Endpoint(url: server.endpoint)))
    }

    /// Runs the `deltatape` binary against the server (its credentials in the environment, no AWS shared files).
    func deltatape(_ arguments: [String], secret: String? = nil, through wrapper: [String] = []) throws -> ProcessResult {
        try S3CommandLine(server: server, cache: try TestEnvironment.temporaryDirectory()).run(arguments, secret: secret, through: wrapper)
    }

    /// Reads `source` to its end in reads of `readSize` bytes.
    func readAll(_ source: S3ObjectSource, readSize: Int) throws -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: readSize)
        while true {
            let count = try buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(InputError) in try source.read(into: bytes) }
            }.get()
            if count == 0 { break }
            all += buffer[..<count]
        }
        return all
    }

    @Test func aLogOfManyChunksReadsByteExact() throws {
        let s3 = try client()
        let path = try GeneratedSessions.sixMinuteLog()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let address = try prefix.appending("long.jsonl")
        try s3.putObject(address, bytes: bytes)
        // 1 MiB chunks: the 35 MB log is 34 ranged GETs, the last one short; reads of odd sizes cross chunk ends.
        let chunk = 1 << 20
        #expect(bytes.count > 8 * chunk && bytes.count % chunk != 0)
        let source = try S3ObjectSource(address: address, client: s3, chunkByteCount: chunk)
        let read = try readAll(source, readSize: 100_003)
        #expect(read.count == bytes.count)
        // Compared outside #expect, which would print 35 MB of arrays on a failure (for minutes); the first
        // difference is what a failure needs.
        let same = read == bytes
        #expect(same, "first difference at byte \(String(describing: (0..<min(read.count, bytes.count)).first { read[$0] != bytes[$0] }))")
        // An object of exactly one chunk, and an empty one.
        let exact = try prefix.appending("exact.bin")
        try s3.putObject(exact, bytes: Array(bytes[..<chunk]))
        #expect(try readAll(S3ObjectSource(address: exact, client: s3, chunkByteCount: chunk), readSize: 7_000) == Array(bytes[..<chunk]))
        let empty = try prefix.appending("empty.bin")
        try s3.putObject(empty, bytes: [])
        #expect(try readAll(S3ObjectSource(address: empty, client: s3, chunkByteCount: chunk), readSize: 4096).isEmpty)
    }

    @Test func convertingAnObjectWritesWhatTheLocalFileDoes() throws {
        let s3 = try client()
        let path = try GeneratedSessions.log("ga-basic")
        let address = try prefix.appending("logs/ga-basic.jsonl")
        try s3.putObject(address, bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        let folder = try TestEnvironment.temporaryDirectory()
        let local = folder.appendingPathComponent("local.wav").path, remote = folder.appendingPathComponent("remote.wav").path
        let fromFile = try deltatape(["convert", path, "-o", local, "--track", "both"])
        #expect(fromFile.status == 0, "\(fromFile.standardError)")
        let fromS3 = try deltatape(["convert", address.description, "-o", remote, "--track", "both"])
        #expect(fromS3.status == 0, "\(fromS3.standardError)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: local))
        #expect(expected.count > 10_000)
        #expect(try Data(contentsOf: URL(fileURLWithPath: remote)) == expected)
        // inspect reports the object as it reports the file (the input's name aside).
        let inspectFile = try deltatape(["inspect", path, "--json"])
        let inspectS3 = try deltatape(["inspect", address.description, "--json"])
        #expect(inspectFile.status == 0 && inspectS3.status == 0, "\(inspectS3.standardError)")
        let fileReport = String(decoding: inspectFile.standardOutput, as: UTF8.self).replacingOccurrences(of: path, with: "INPUT")
        let s3Report = String(decoding: inspectS3.standardOutput, as: UTF8.self).replacingOccurrences(of: address.description, with: "INPUT")
        #expect(fileReport.contains("\"assistant\"") && s3Report == fileReport)
    }

    /// The 35 MB log, five 8 MiB GETs (the default chunk), converted from S3 as from the file, and peak memory against
    /// the file's conversion: the two buffers of read-ahead, not the object.
    @Test func aLogOfSeveralDefaultChunksConvertsAsTheFileDoes() throws {
        let s3 = try client()
        let path = try GeneratedSessions.sixMinuteLog()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.count > 4 * S3ObjectSource.defaultChunkByteCount)
        let address = try prefix.appending("logs/long.jsonl")
        try s3.putObject(address, bytes: [UInt8](bytes))
        let folder = try TestEnvironment.temporaryDirectory()
        let local = folder.appendingPathComponent("local.wav").path, remote = folder.appendingPathComponent("remote.wav").path
        // /usr/bin/time -f %M: the peak resident set in KiB, on standard error's last line.
        func peakKiB(_ result: ProcessResult) -> Int? {
            result.standardError.split(separator: "\n").last.flatMap { Int($0) }
        }
        let time = ["/usr/bin/time", "-f", "%M"]
        let fromFile = try deltatape(["convert", path, "-o", local, "--track", "both", "-q"], through: time)
        let fromS3 = try deltatape(["convert", address.description, "-o", remote, "--track", "both", "-q"], through: time)
        #expect(fromFile.status == 0 && fromS3.status == 0, "\(fromS3.standardError)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: local))
        #expect(expected.count > 1_000_000)
        let same = (try Data(contentsOf: URL(fileURLWithPath: remote))) == expected
        #expect(same)
        let filePeak = try #require(peakKiB(fromFile)), s3Peak = try #require(peakKiB(fromS3))
        print("peak RSS converting the \(bytes.count)-byte log: file \(filePeak) KiB, s3:// \(s3Peak) KiB")
        // Two 8 MiB buffers and libcurl's own (measured: +20 MiB), under the object's 33.6 MiB: nothing holds the object.
        #expect(s3Peak - filePeak < 28 << 10, "file \(filePeak) KiB, s3:// \(s3Peak) KiB")
    }

    @Test func aMissingKeyIsSaidWithItsName() throws {
        let address = try prefix.appending("logs/none.jsonl")
        let out = try TestEnvironment.temporaryDirectory().appendingPathComponent("x.wav").path
        let result = try deltatape(["convert", address.description, "-o", out])
        #expect(result.status == 66)
        #expect(result.standardError.contains(address.description) && result.standardError.contains("NoSuchKey"), "\(result.standardError)")
        let written = (try? Data(contentsOf: URL(fileURLWithPath: out)))?.count ?? 0
        #expect(written <= 44)  // nothing, or a WAV header with no audio
        let inspected = try deltatape(["inspect", address.description])
        #expect(inspected.status == 66 && inspected.standardError.contains("NoSuchKey"))
    }

    @Test func aWrongSecretIsRefusedByTheServer() throws {
        let s3 = try client()
        let address = try prefix.appending("logs/secret.jsonl")
        try s3.putObject(address, bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: try GeneratedSessions.log("ga-basic")))))
        let wrong = "WRONG" + server.secretAccessKey.dropFirst(5)
        let out = try TestEnvironment.temporaryDirectory().appendingPathComponent("x.wav").path
        let result = try deltatape(["convert", address.description, "-o", out], secret: wrong)
        #expect(result.status == 66)
        #expect(result.standardError.contains(address.description) && result.standardError.contains("SignatureDoesNotMatch"), "\(result.standardError)")
        #expect(!result.standardError.contains(wrong) && !result.standardError.contains(server.secretAccessKey))
        // The same object with the right secret reads: the refusal was the signature's.
        #expect(try deltatape(["convert", address.description, "-o", out]).status == 0)
    }

    /// A prefix as input is every object under it, sub-prefixes included and folder markers left out, converted as
    /// the same files are (their local conversions are the expectation), into a folder and into a prefix, two at once.
    @Test func aPrefixInConvertsEveryObjectAsItsFileDoes() throws {
        let s3 = try client()
        let logs = ["ga-basic": "logs/ga-basic.jsonl", "beta-basic": "logs/2026/12/beta-basic.jsonl", "twilio": "logs/twilio.jsonl"]
        for (log, key) in logs {
            try s3.putObject(try prefix.appending(key), bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: try GeneratedSessions.log(log)))))
        }
        // A folder marker as consoles make them (our client puts no key ending in '/').
        let marker = try server.curl("PUT", "/\(server.bucket)/\(prefix.key)logs/empty-folder/", ["--data-binary", ""])
        #expect(marker.status == 200, "\(String(decoding: marker.body, as: UTF8.self))")
        #expect(try s3.listAllObjects(try prefix.appending("logs/")).contains { $0.key.hasSuffix("/empty-folder/") }, "the marker is listed")
        let folder = try TestEnvironment.temporaryDirectory()
        var expected: [String: Data] = [:]
        for log in logs.keys {
            let local = folder.appendingPathComponent("local-\(log).wav").path
            let converted = try deltatape(["convert", try GeneratedSessions.log(log), "-o", local, "--track", "both", "-q"])
            #expect(converted.status == 0, "\(converted.standardError)")
            expected[log] = try Data(contentsOf: URL(fileURLWithPath: local))
        }
        let into = folder.appendingPathComponent("from-prefix/")
        let toFolder = try deltatape(["convert", try prefix.appending("logs/").description, "-o", into.path + "/", "--track", "both", "-j", "2"])
        #expect(toFolder.status == 0, "\(toFolder.standardError)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: into.path)) == Set(logs.keys.map { "\($0).wav" }))
        let out = try prefix.appending("out/")
        let toPrefix = try deltatape(["convert", try prefix.appending("logs/").description, "-o", out.description, "--track", "both", "-j", "2"])
        #expect(toPrefix.status == 0, "\(toPrefix.standardError)")
        #expect(Set(try s3.listAllObjects(out).map(\.key)) == Set(logs.keys.map { out.key + "\($0).wav" }))
        // inspect reports the prefix's objects in key order, a JSON array like several inputs', each as its file's report.
        let inspected = try deltatape(["inspect", try prefix.appending("logs/").description, "--json"])
        #expect(inspected.status == 0, "\(inspected.standardError)")
        let reports = try #require(try JSONSerialization.jsonObject(with: inspected.standardOutput) as? [[String: Any]])
        #expect(reports.count == logs.count)
        let keysInOrder = logs.values.sorted()
        for (report, key) in zip(reports, keysInOrder) {
            let log = try #require(logs.first { $0.value == key }?.key)
            let alone = try deltatape(["inspect", try GeneratedSessions.log(log), "--json"])
            let expected = try #require(try JSONSerialization.jsonObject(with: alone.standardOutput) as? [String: Any])
            #expect((report["input"] as? String) == (try prefix.appending(key).description))
            var mine = report, theirs = expected
            mine["input"] = nil
            theirs["input"] = nil
            #expect(NSDictionary(dictionary: mine) == NSDictionary(dictionary: theirs), "\(key)")
        }
        for log in logs.keys {
            let wanted = try #require(expected[log])
            #expect(wanted.count > 10_000)
            let file = try Data(contentsOf: into.appendingPathComponent("\(log).wav"))
            var object = Data()
            _ = try s3.getObject(try out.appending("\(log).wav")) { object.append(contentsOf: $0) }
            let fileSame = file == wanted, objectSame = object == wanted
            #expect(fileSame && objectSame, "\(log): the folder's \(file.count) bytes, the object's \(object.count), the file's \(wanted.count)")
        }
    }

    /// A prefix with no object, and a prefix into one file: said, with the prefix named, before anything is written.
    @Test func aPrefixThatCannotBeConvertedIsSaid() throws {
        let empty = try prefix.appending("nothing-here/")
        let folder = try TestEnvironment.temporaryDirectory().appendingPathComponent("out/")
        let none = try deltatape(["convert", empty.description, "-o", folder.path + "/"])
        #expect(none.status == 66 && none.standardError.contains(empty.description) && none.standardError.contains("holds no object"),
                "\(none.standardError)")
        let oneFile = try deltatape(["convert", empty.description, "-o", "x.wav"])
        #expect(oneFile.status == 64 && oneFile.standardError.contains("are written into a folder"), "\(oneFile.standardError)")
        let wrong = "WRONG" + server.secretAccessKey.dropFirst(5)
        let refused = try deltatape(["convert", prefix.description, "-o", folder.path + "/"], secret: wrong)
        #expect(refused.status == 66 && refused.standardError.contains("SignatureDoesNotMatch"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }
}
