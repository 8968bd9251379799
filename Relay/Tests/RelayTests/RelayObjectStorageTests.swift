// Issue 28: `--output-dir s3://BUCKET/PREFIX/`, against the real S3 server the package's storage tests use
// (SeaweedFS, which checks signatures; TestSupport's S3TestServer starts it, one per test process).
@testable import DeltaTapeRelay
import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

@Suite("Relay: recordings into object storage", .timeLimit(.minutes(3)))
struct RelayObjectStorageTests {
    typealias Metric = RelayContract.Metric
    let server: S3TestServer
    let prefix: S3Address

    // Every call to the server below blocks its thread (S3Client, and the server's start): each runs on a thread of its
    // own, never on the two of Swift's cooperative pool, which the fake upstreams and clients of every test running
    // beside these need (a CI run where they blocked it stalled sessions across the whole relay suite).
    init() async throws {
        server = try await onThread { try S3TestServer.shared() }
        prefix = try S3Address(bucket: server.bucket, key: "relay-\(UUID().uuidString.prefix(8))/")
    }

    /// A client of the server's full-access identity: the test's own reader, not the relay's.
    func client() throws -> S3Client {
        S3Client(configuration: S3Configuration(credentials: S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: server.secretAccessKey),
                                                region: server.region, endpoint: try S3Endpoint(url: server.endpoint)))
    }

    /// The keys under the test's prefix.
    func keys() async throws -> [String] {
        let s3 = try client(), prefix = prefix
        return try await onThread { try s3.listAllObjects(prefix).map(\.key) }
    }

    /// Whether an upload under the test's prefix is open.
    func hasOpenUpload() async throws -> Bool {
        let s3 = try client(), prefix = prefix
        return try await onThread { try !s3.listMultipartUploads(prefix).isEmpty }
    }

    /// The object at `key`, and its content type.
    func object(_ key: String) async throws -> (bytes: Data, contentType: String?) {
        let s3 = try client(), address = try S3Address(bucket: server.bucket, key: key)
        return try await onThread {
            var bytes = Data()
            _ = try s3.getObject(address) { bytes.append(contentsOf: $0) }
            return (bytes, try s3.headObject(address).contentType)
        }
    }

    /// The relay's credentials and endpoint, as AWS tools read them (HOME a folder of nothing: no shared files).
    func environment(secret: String? = nil) throws -> [String: String] {
        ["AWS_ACCESS_KEY_ID": server.accessKeyID, "AWS_SECRET_ACCESS_KEY": secret ?? server.secretAccessKey,
         "AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": server.region, "HOME": try RelayTestEnvironment.temporaryDirectory("home").path]
    }

    /// Runs one ga-basic session through a relay recording into the prefix, spooled in a folder of the test's own;
    /// returns the relay's lines once its summary line came, and the spool folder.
    func recordOneSession(_ arguments: [String], session: String = "ga-basic", secret: String? = nil, names: [String] = [], start: Double? = nil,
                          _ check: @Sendable (RelayProcess, RealtimeClient, SessionScript, URL) async throws -> Void) async throws {
        let script = try await SessionScript.load(RelaySessions.log(session))
        let spool = try RelayTestEnvironment.temporaryDirectory("relay-spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let upstream = FakeUpstream(.init(script: script))
        var settings = try environment(secret: secret)
        if !names.isEmpty { settings["DELTATAPE_RELAY_TEST_NAMES"] = names.joined(separator: ",") }
        if let start { settings["DELTATAPE_RELAY_TEST_START"] = "\(start)" }
        let environment = settings
        try await upstream.run { port in
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: spool, outputDirectoryArgument: prefix.description,
                                               arguments: arguments + ["--spool", spool.path], environment: environment)
            defer { relay.stop() }
            #expect(relay.standardErrorLines.contains { $0.contains("recording into \(prefix.description)") }, "\(relay.standardErrorLines)")
            let client = RealtimeClient(.init(url: relay.webSocketBase + "/v1/realtime?model=gpt-realtime", headers: [], script: script,
                                              pace: RelayTestEnvironment.pace, closesAfterReceiving: script.serverSteps.count))
            try await check(relay, client, script, spool)
        }
    }

    /// A session's recording and its log become objects under the prefix, once complete: the WAV holds exactly the PCM
    /// the generator encoded (Python's wave reads the object), the log's object is the session's messages, and the
    /// spool is empty again.
    @Test func aSessionBecomesObjectsUnderThePrefix() async throws {
        try await recordOneSession(["--format", "wav", "--track", "assistant", "--save-log"]) { relay, client, script, spool in
            expectClean(await client.run(), relay: relay)
            let summary = await relay.waitForLine(within: 60) { $0.contains(".wav: ") && $0.contains(" s of audio") }
            #expect(summary?.contains(prefix.description) == true, "\(relay.standardErrorLines)")
            let keys = try await keys()
            let wav = try #require(keys.first { $0.hasSuffix(".wav") }, "\(keys)")
            #expect(keys.count == 2 && keys.contains(String(wav.dropLast(4)) + ".jsonl"), "\(keys)")
            #expect(RelayContract.isRecordingName(String(wav.dropFirst(prefix.key.count)), connection: 1, extension: "wav"), "\(wav)")
            let (bytes, contentType) = try await object(wav)
            #expect(contentType == "audio/wav")
            let local = spool.appendingPathComponent("downloaded.wav")
            try bytes.write(to: local)
            let relayed = try await readWAVWithPython(local.path)
            let expected = try await RelaySessions.expectedAssistant("ga-basic")
            #expect(relayed.frameCount == expected.count / 2)
            let same = relayed.samples == expected
            #expect(same, "the object's samples differ from the generator's")
            let log = try await object(String(wav.dropLast(4)) + ".jsonl").bytes
            #expect(log.split(separator: 0x0A).count == script.clientSteps.count + script.serverSteps.count)
            try FileManager.default.removeItem(at: local)
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).isEmpty)
        }
    }

    /// An object already under the key the recording is named to (another relay of a fleet took the name in the same
    /// second: planted here for the minute ahead) is never replaced: the upload is made with `If-None-Match: *`, the
    /// server answers 412, and the recording goes up under the same name with a fresh random part.
    @Test func anObjectUnderTheRecordingsKeyIsNeverReplaced() async throws {
        let random = "aaaaaaaaaa"
        let planted = [prefix.key + ConnectionRecording.timestamp(RelaySessionNameTests.start) + "-1-sess_001-\(random).wav"]
        let s3 = try client(), bucket = server.bucket
        try await onThread {
            for key in planted { _ = try s3.putObject(try S3Address(bucket: bucket, key: key), bytes: Array("planted".utf8)) }
        }
        try await recordOneSession(["--format", "wav"], names: [random], start: RelaySessionNameTests.start) { relay, client, _, spool in
            expectClean(await client.run(), relay: relay)
            let summary = try #require(await relay.waitForLine(within: 60) { $0.contains(".wav: ") && $0.contains(" s of audio") },
                                       "\(relay.standardErrorLines)")
            let keys = try await keys()
            let recorded = try #require(keys.first { $0.hasSuffix(".wav") && !planted.contains($0) }, "\(keys)")
            let stamp = ConnectionRecording.timestamp(RelaySessionNameTests.start)
            #expect(recorded.hasPrefix(prefix.key + stamp + "-1-sess_001-"), "\(recorded)")
            #expect(summary.contains(recorded), "the summary names the key the recording went to: \(summary)")
            for key in planted { #expect(try await object(key).bytes == Data("planted".utf8), "\(key)") }
            let local = spool.appendingPathComponent("downloaded.wav")
            try await object(recorded).bytes.write(to: local)
            let same = try await readWAVWithPython(local.path).samples == RelaySessions.expectedAssistant("ga-basic")
            #expect(same, "the object's samples differ from the generator's")
            try FileManager.default.removeItem(at: local)
            #expect(try await !hasOpenUpload())
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).isEmpty)
        }
    }

    /// Two relays of a fleet on one prefix, their sessions begun in the same second, with the same first random part
    /// and one session id: both want one key, the second to complete is answered 412, and both recordings are kept.
    @Test func twoRelaysOnOnePrefixInTheSameSecondKeepBothRecordings() async throws {
        let script = try await SessionScript.load(RelaySessions.log("ga-basic"))
        let spool = try RelayTestEnvironment.temporaryDirectory("relay-spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let recorded = try await twoRelaysRecordAtOnce(script: script, outputDirectory: spool, outputArgument: prefix.description,
                                                       environment: try environment(), arguments: ["--spool", spool.path]) { [self] in
            try await keys().filter { $0.hasSuffix(".wav") }.map { String($0.dropFirst(prefix.key.count)) }.sorted()
        }
        let stem = ConnectionRecording.timestamp(RelaySessionNameTests.start) + "-1-sess_001-"
        #expect(recorded.count == 2 && recorded.allSatisfy { $0.hasPrefix(stem) } && recorded.contains(stem + "aaaaaaaaaa.wav"),
                "both relays wanted \(stem)aaaaaaaaaa.wav: \(recorded)")
        for key in recorded {
            let local = spool.appendingPathComponent("downloaded.wav")
            try await object(prefix.key + key).bytes.write(to: local)
            let same = try await readWAVWithPython(local.path).samples == RelaySessions.expectedAssistant("ga-basic")
            #expect(same, "\(key): its samples differ from the generator's")
            try FileManager.default.removeItem(at: local)
        }
        #expect(try await !hasOpenUpload())
    }

    /// A session without audio leaves no recording: no empty object under the prefix (its sink, made at the start, is
    /// given up, not closed), nothing in the spool; its saved log is an object as any session's is.
    @Test func aSessionWithoutAudioLeavesNoObject() async throws {
        try await recordOneSession(["--format", "wav", "--save-log"], session: "no-audio") { relay, client, _, spool in
            expectClean(await client.run(), relay: relay)
            let line = await relay.waitForLine(within: 60) { $0.contains("nothing recorded") }
            #expect(line != nil, "\(relay.standardErrorLines)")
            // Only the saved log's object: the session's messages are kept whatever their audio.
            let keys = try await keys()
            #expect(keys.count == 1 && keys.allSatisfy { $0.hasSuffix(".jsonl") }, "\(keys)")
            #expect(try await !hasOpenUpload())
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).isEmpty)
        }
    }

    /// An upload the server refuses (a wrong secret) fails the recording, never the session: the client gets every
    /// message, the failure is said with S3's code and counted by reason, no object and no open upload are left, and
    /// the spool keeps what was written.
    @Test func aRefusedUploadFailsTheRecordingNotTheSession() async throws {
        let wrong = "WRONG" + server.secretAccessKey.dropFirst(5)
        try await recordOneSession(["--format", "wav"], secret: wrong) { relay, client, script, spool in
            expectClean(await client.run(), relay: relay)
            #expect(client.received.count == script.serverSteps.count, "forwarding went on")
            let line = await relay.waitForLine(within: 60) { $0.contains("recording failed") }
            #expect(line?.contains("SignatureDoesNotMatch") == true && line?.contains("no object was made") == true, "\(relay.standardErrorLines)")
            #expect(!relay.standardErrorLines.contains { $0.contains(wrong) || $0.contains(server.secretAccessKey) })
            let metrics = try await httpGet(port: relay.port, path: "/metrics").body
            #expect(metricValue(metrics, Metric.recordingsFailed, labels: ["reason=\"upload_failed\""]) == 1, "\(metrics)")
            #expect(try await keys().isEmpty)
            #expect(try await !hasOpenUpload())
            let spooled = try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".spool") }
            #expect(spooled.count == 1, "\(spooled)")
            let size = try spooled.first.map { try FileManager.default.attributesOfItem(atPath: spool.appendingPathComponent($0).path)[.size] as? Int } ?? nil
            #expect((size ?? 0) > 100_000, "the spool keeps the recording: \(String(describing: size)) bytes")
        }
    }
}

extension RelayObjectStorageTests {
    /// A relay killed mid-session leaves no object under the key, and the recording's spool entry (spool file and
    /// manifest); `deltatape repair`'s S3UploadRepair finishes it into an object whose header is true (Python's wave
    /// insists on it) and which ffmpeg decodes to the same frames.
    @Test func aKilledRelaysUploadIsFinishedByRepair() async throws {
        let s3 = try client()
        let script = try await SessionScript.load(RelaySessions.microphoneLog())
        let spool = try RelayTestEnvironment.temporaryDirectory("relay-spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let upstream = FakeUpstream(.init(script: script))
        let environment = try environment()
        try await upstream.run { port in
            let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: spool, outputDirectoryArgument: prefix.description,
                                               arguments: ["--format", "wav", "--track", "both", "--spool", spool.path], environment: environment)
            defer { relay.stop() }
            let client = RealtimeClient(.init(url: relay.webSocketBase + "/v1/realtime?model=gpt-realtime", headers: [], script: script,
                                              pace: RelayTestEnvironment.pace, closesAfterReceiving: script.serverSteps.count))
            let running = Task { await client.run() }
            // Until audio is in the spool (the recorder writes 4-second blocks).
            func spooled() throws -> URL? {
                try FileManager.default.contentsOfDirectory(at: spool, includingPropertiesForKeys: [.fileSizeKey])
                    .first { $0.pathExtension == "spool" && ((try? $0.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) > 100_000 }
            }
            #expect(try await eventually(within: 120) { try spooled() != nil })
            relay.signal(SIGKILL)
            #expect(await relay.waitForExit(within: 30)?.signalled == true)
            _ = await running.value
            #expect(try await keys().isEmpty, "a killed relay's recording is no object yet")
            let entry = try S3SpoolEntry(path: try #require(try spooled()).path)
            #expect(entry.manifest.address.key.hasPrefix(prefix.key), "\(entry.manifest.address)")
            let report = try await onThread { try S3UploadRepair.finish(entry, client: s3) }
            #expect(report.address == entry.manifest.address)
            #expect(!FileManager.default.fileExists(atPath: entry.spoolPath) && !FileManager.default.fileExists(atPath: entry.manifestPath))
            let bytes = try await object(entry.manifest.address.key).bytes
            let local = spool.appendingPathComponent("repaired.wav")
            try bytes.write(to: local)
            let read = try await readWAVWithPython(local.path)
            #expect(read.channelCount == 2 && read.sampleRate == 24_000 && read.frameCount > 24_000, "\(read.frameCount) frames")
            let decoded = try await decodeWithFFmpeg(local.path, requireClean: true)
            #expect(decoded.count == read.frameCount * 4)
        }
    }
}
