import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// `deltatape convert … -o s3://…` against a real S3 server that checks signatures (SeaweedFS): each object, read back
/// by `curl --aws-sigv4` (a client independent of ours), is what converting to a local file gives; a failure exits 74
/// with the key and S3's code, and leaves neither an object nor an open upload.
@Suite(.timeLimit(.minutes(4))) struct S3OutputTests {
    let server: S3TestServer
    let prefix: String
    let folder: URL

    init() throws {
        server = try S3TestServer.shared()
        prefix = "out-\(UUID().uuidString.prefix(8))/"
        folder = try TestEnvironment.temporaryDirectory()
    }

    /// Runs the CLI with the server's endpoint and `secret` (the server's own unless given) in its environment.
    func deltatape(_ arguments: [String], secret: String? = nil) throws -> ProcessResult {
        try S3CommandLine(server: server, cache: folder).run(arguments, secret: secret)
    }

    /// The object at `key` as curl reads it.
    func object(_ key: String) throws -> (status: Int, body: Data) {
        try S3CommandLine(server: server, cache: folder).object(key)
    }

    /// A six-minute session to stereo WAV (34 MB: several parts, the header's part uploaded again at the end) and the
    /// short one to each format: WAV bit-identical to the local file's, Ogg and WebM decoding (ffmpeg) to the same PCM.
    @Test(arguments: [("long", "wav"), ("short", "wav"), ("short", "ogg"), ("long", "webm")])
    func anObjectIsWhatTheFileWouldBe(session: String, format: String) throws {
        let log = session == "long" ? try GeneratedSessions.sixMinuteLog() : try GeneratedSessions.log("ga-basic")
        let local = folder.appendingPathComponent("local.\(format)").path
        let key = prefix + "\(session).\(format)"
        let converted = try deltatape(["convert", log, "--track", "both", "-o", "s3://\(server.bucket)/\(key)", "--quiet"])
        #expect(converted.status == 0, "\(converted.standardError)")
        #expect(try deltatape(["convert", log, "--track", "both", "-o", local, "--quiet"]).status == 0)
        let (status, body) = try object(key)
        #expect(status == 200)
        let expected = try Data(contentsOf: URL(fileURLWithPath: local))
        if format == "wav" {
            // Compared first: Swift Testing describes the difference of two unequal 34 MB values for minutes.
            let same = body == expected
            #expect(same, "\(body.count) bytes in S3, \(expected.count) in the file")
        } else {
            let downloaded = folder.appendingPathComponent("downloaded.\(format)")
            try body.write(to: downloaded)
            let (fromS3, fromFile) = (try ffmpegDecodeToPCM16(downloaded.path), try ffmpegDecodeToPCM16(local))
            let same = fromS3 == fromFile
            #expect(same, "\(fromS3.count) bytes of PCM from S3, \(fromFile.count) from the file")
        }
        // Nothing left behind: no open upload, an empty spool.
        let commandLine = S3CommandLine(server: server, cache: folder)
        #expect(try !commandLine.hasOpenUpload(under: prefix))
        #expect(commandLine.spoolFiles().isEmpty)
    }

    /// A wrong secret is refused by the server: exit 74, a sentence naming the key and SignatureDoesNotMatch (never the
    /// secret), no object under the key and no upload left open; the bytes written stay in the spool.
    @Test(arguments: ["long", "short"])
    func aWrongSecretLeavesNoObjectAndNoUpload(session: String) throws {
        let log = session == "long" ? try GeneratedSessions.sixMinuteLog() : try GeneratedSessions.log("ga-basic")
        let key = prefix + "refused-\(session).wav"
        let secret = "wrong-" + server.secretAccessKey
        let converted = try deltatape(["convert", log, "-o", "s3://\(server.bucket)/\(key)", "--quiet"], secret: secret)
        #expect(converted.status == 74)
        #expect(converted.standardError.contains("s3://\(server.bucket)/\(key)"), "\(converted.standardError)")
        #expect(converted.standardError.contains("SignatureDoesNotMatch"), "\(converted.standardError)")
        #expect(!converted.standardError.contains(secret) && !converted.standardError.contains(server.secretAccessKey))
        #expect(try object(key).status == 404)
        #expect(try !S3CommandLine(server: server, cache: folder).hasOpenUpload(under: prefix))
    }

    /// A bucket that does not exist: exit 74 with NoSuchBucket.
    @Test func aMissingBucketIsSaid() throws {
        let converted = try deltatape(["convert", try GeneratedSessions.log("ga-basic"), "-o", "s3://no-such-bucket-dt/x.wav", "--quiet"])
        #expect(converted.status == 74)
        #expect(converted.standardError.contains("NoSuchBucket"), "\(converted.standardError)")
    }

    /// `--skip-existing` into a prefix (issue 29) asks the server (HeadObject): an input whose object is there is
    /// skipped and its object left as it was, one whose object is gone is converted, and the tally counts both; with
    /// `--layout separate`, one track's object alone is not enough.
    @Test func skipExistingAsksTheServerForEachObject() throws {
        let logs = [try GeneratedSessions.log("ga-basic"), try GeneratedSessions.log("gemini")]
        let target = "s3://\(server.bucket)/\(prefix)"
        let first = try deltatape(["convert"] + logs + ["-o", target, "--quiet"])
        try #require(first.status == 0, "\(first.standardError)")
        #expect(try server.curl("DELETE", "/\(server.bucket)/\(prefix)gemini.wav").status == 204)
        let kept = try object(prefix + "ga-basic.wav").body
        let rerun = try deltatape(["convert"] + logs + ["-o", target, "--skip-existing"])
        #expect(rerun.status == 0, "\(rerun.standardError)")
        #expect(rerun.standardError.contains("skipped \(logs[0]): \(target)ga-basic.wav is there already (--skip-existing)"), "\(rerun.standardError)")
        #expect(rerun.standardError.hasSuffix("\n1 of 2 converted, 1 skipped\n"), "\(rerun.standardError)")
        #expect(try object(prefix + "gemini.wav").status == 200)
        let same = try object(prefix + "ga-basic.wav").body == kept
        #expect(same, "the skipped object changed")

        #expect(try server.curl("PUT", "/\(server.bucket)/\(prefix)sep/ga-basic.user.wav", ["--data-binary", "not converted"]).status == 200)
        let separate = try deltatape(["convert", logs[0], "-o", target + "sep/", "--track", "both", "--layout", "separate", "--skip-existing"])
        #expect(separate.status == 0 && !separate.standardError.contains("skipped"), "\(separate.standardError)")
        for track in ["user", "assistant"] {
            let (status, body) = try object(prefix + "sep/ga-basic.\(track).wav")
            #expect(status == 200 && body.prefix(4) == Data("RIFF".utf8), "\(track): \(status), \(body.count) bytes")
        }
    }
}
