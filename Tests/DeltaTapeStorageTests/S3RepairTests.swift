import DeltaTapeStorage
import Foundation
import Synchronization
import Testing
import TestSupport

/// A `kill -9` in the middle of an upload to S3, then `deltatape repair s3://…`: no object under the key until the
/// repair, the spool entry (spool file and manifest) left for it, `inspect` saying the upload is open and naming the
/// repair; then an object every reader opens, byte for byte what `deltatape repair` makes of the spool file as a local
/// file, whose audio is the start of the same log's conversion to a local file (bit-exact for WAV).
@Suite(.serialized, .timeLimit(.minutes(8))) struct S3RepairTests {
    let server: S3TestServer
    let prefix: String
    let folder: URL
    let commandLine: S3CommandLine

    init() throws {
        server = try S3TestServer.shared()
        prefix = "repair-\(UUID().uuidString.prefix(8))/"
        folder = try TestEnvironment.temporaryDirectory()
        commandLine = S3CommandLine(server: server, cache: folder)
    }

    /// Codec settings that make an Opus recording several parts long (a six-minute log at 512 kb/s: 23 MB).
    static func options(_ format: String) -> [String] {
        format == "wav" ? [] : ["--bitrate", "512k", "--complexity", "0"]
    }

    /// WAV twice: as the kill left it (the spool's header current, S3's first part older: the manifest says the part
    /// changed after it was sent) and with its sizes zeroed as if killed between the audio and its header.
    @Test(arguments: [("wav", false), ("wav", true), ("ogg", false), ("webm", false)])
    func aKilledUploadIsFinishedByRepair(format: String, zeroingTheSizes: Bool) throws {
        let log = try GeneratedSessions.sixMinuteLog()
        let key = prefix + "killed\(zeroingTheSizes ? "-zeroed" : "").\(format)"
        let address = "s3://\(server.bucket)/\(key)"
        try convertAndKill(log, to: address, options: Self.options(format)) {
            // While the conversion runs, its upload is under way, not interrupted: repair leaves it alone, inspect says so.
            let early = try commandLine.run(["repair", address])
            #expect(early.status == 75 && early.standardError.contains("still writing it"), "\(early.standardError)")
            let inspected = try commandLine.run(["inspect", address])
            #expect(inspected.standardError.contains("a running deltatape is writing it now"), "\(inspected.standardError)")
        }

        // Killed: no object, the upload open, the spool entry there.
        #expect(try commandLine.object(key).status == 404)
        #expect(try commandLine.hasOpenUpload(under: prefix))
        let entries = S3SpoolEntry.entries(in: commandLine.spoolFolder).entries
        try #require(entries.count == 1, "\(commandLine.spoolFiles())")
        let entry = entries[0]
        #expect(entry.manifest.address.key == key && entry.manifest.uploadID != nil && !entry.manifest.parts.isEmpty)
        if format == "wav" { #expect(entry.manifest.changedParts.contains(1), "the header's part, rewritten after it was sent") }
        #expect(FileManager.default.fileExists(atPath: entry.spoolPath))

        // inspect says the upload is open and names the repair, not a bare NoSuchKey.
        let inspected = try commandLine.run(["inspect", address])
        #expect(inspected.status == 66)
        #expect(inspected.standardError.contains("still open") && inspected.standardError.contains("deltatape repair \(address)"),
                "\(inspected.standardError)")

        if zeroingTheSizes {
            // As a kill between the audio and its header leaves it (libsndfile's sizes): the repair must make them true.
            try zeroWAVSizes(entry.spoolPath)
        }
        // What the object must be: the spool file repaired as a local file.
        let expectedPath = folder.appendingPathComponent("expected.\(format)").path
        try FileManager.default.copyItem(atPath: entry.spoolPath, toPath: expectedPath)
        let localRepair = try run(TestEnvironment.deltatapeExecutable.path, ["repair", expectedPath])
        #expect(localRepair.status == 0, "\(localRepair.standardError)")

        // A dry run says what it would do and changes nothing.
        let dryRun = try commandLine.run(["repair", "--dry-run", address])
        #expect(dryRun.status == 0, "\(dryRun.standardError)")
        #expect(String(decoding: dryRun.standardOutput, as: UTF8.self).contains("would be finished"))
        #expect(try commandLine.object(key).status == 404 && FileManager.default.fileExists(atPath: entry.manifestPath))

        // Named by its key, or (the zeroed WAV) by the spool entry's file.
        let repaired = try commandLine.run(["repair", zeroingTheSizes ? entry.spoolPath : address])
        #expect(repaired.status == 0, "\(repaired.standardError)")
        #expect(String(decoding: repaired.standardOutput, as: UTF8.self).contains("\(address): finished from"),
                "\(String(decoding: repaired.standardOutput, as: UTF8.self))")
        #expect(commandLine.spoolFiles().isEmpty, "\(commandLine.spoolFiles())")
        #expect(try !commandLine.hasOpenUpload(under: prefix))

        let (status, body) = try commandLine.object(key)
        #expect(status == 200)
        let expected = try Data(contentsOf: URL(fileURLWithPath: expectedPath))
        let same = body == expected
        #expect(same, "\(body.count) bytes in S3, \(expected.count) in the spool file repaired locally")
        #expect(body.count > 8 << 20, "more than the first part: \(body.count) bytes")
        let downloaded = folder.appendingPathComponent("downloaded.\(format)").path
        try body.write(to: URL(fileURLWithPath: downloaded))

        // The whole log converted to a local file: the object's audio is its start.
        let local = folder.appendingPathComponent("local.\(format)").path
        #expect(try run(TestEnvironment.deltatapeExecutable.path, ["convert", log, "--track", "both", "-o", local, "--quiet"]
            + Self.options(format)).status == 0)
        switch format {
        case "wav":
            let frames = try python("import wave, sys; w = wave.open(sys.argv[1]); print(w.getnframes(), w.getnchannels())", [downloaded])
            let numbers = String(decoding: frames, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
            let fromSox = try soxDecodeToPCM16(downloaded)
            let fromFFmpeg = try ffmpegDecodeToPCM16(downloaded)
            let whole = try soxDecodeToPCM16(local)
            #expect(numbers.count == 2 && numbers[0] * numbers[1] * 2 == fromSox.count, "wave: \(numbers), sox: \(fromSox.count) bytes")
            let readersAgree = fromSox == fromFFmpeg
            #expect(readersAgree, "sox \(fromSox.count) bytes, ffmpeg \(fromFFmpeg.count)")
            // Every byte of audio the spool held: the object's data runs to the end of the file.
            #expect(fromSox.count >= body.count - 200 && fromSox.count < whole.count, "\(fromSox.count) of \(body.count)")
            let isStart = fromSox.count < whole.count && whole.prefix(fromSox.count) == fromSox
            #expect(isStart, "the object's audio is not the start of the local file's")
        case "ogg":
            let info = try run("opusinfo", [downloaded])
            #expect(info.status == 0, "\(info.standardError)\(String(decoding: info.standardOutput, as: UTF8.self))")
            let samples = try ffmpegDecodeToPCM16(downloaded).count, wholeSamples = try ffmpegDecodeToPCM16(local).count
            #expect(samples == (try ffmpegDecodeToPCM16(expectedPath).count))
            #expect(samples > 0 && samples < wholeSamples, "\(samples) bytes of PCM, \(wholeSamples) for the whole log")
        default:
            let info = try run("mkvinfo", [downloaded])
            #expect(info.status == 0, "\(String(decoding: info.standardOutput, as: UTF8.self))")
            let duration = try run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", downloaded])
            let seconds = Double(String(decoding: duration.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            let samples = try ffmpegDecodeToPCM16(downloaded).count, wholeSamples = try ffmpegDecodeToPCM16(local).count
            #expect(samples == (try ffmpegDecodeToPCM16(expectedPath).count))
            #expect(samples > 0 && samples < wholeSamples, "\(samples) bytes of PCM, \(wholeSamples) for the whole log")
            // Duration written by the repair, and true: the decoded stereo 48 kHz samples' length.
            let decodedSeconds = Double(samples) / (48_000 * 2 * 2)
            #expect(seconds.map { abs($0 - decodedSeconds) < 0.1 } == true, "ffprobe \(String(describing: seconds)) s, decoded \(decodedSeconds) s")
        }
    }

    /// A repair that fails after it repaired the spool file (here S3 refuses the first part it sends again) keeps the
    /// entry, and the manifest says which parts the repair changed: the next repair sends them, though the spool file
    /// now needs no fix. WebM: its repair writes the SeekHead and Duration into the first part, which the writer never
    /// overwrote.
    @Test func aRepairInterruptedAfterTheSpoolFixIsFinishedByTheNext() throws {
        let key = prefix + "interrupted.webm"
        let address = "s3://\(server.bucket)/\(key)"
        try convertAndKill(try GeneratedSessions.sixMinuteLog(), to: address, options: Self.options("webm")) {}
        let entry = try #require(S3SpoolEntry.entries(in: commandLine.spoolFolder).entries.first)
        #expect(!entry.manifest.changedParts.contains(1))
        let expectedPath = folder.appendingPathComponent("expected.webm").path
        try FileManager.default.copyItem(atPath: entry.spoolPath, toPath: expectedPath)
        #expect(try run(TestEnvironment.deltatapeExecutable.path, ["repair", expectedPath]).status == 0)

        let proxy = try S3FaultProxy(upstream: server.endpoint)
        defer { proxy.stop() }
        proxy.inject(.answer(status: 403, body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"),
                     method: "PUT", targetContains: "partNumber=1&")
        let refused = try S3CommandLine(server: server, cache: folder, endpoint: proxy.endpoint).run(["repair", address])
        #expect(refused.status == 74)
        #expect(refused.standardError.contains(address) && refused.standardError.contains("AccessDenied")
            && refused.standardError.contains(entry.spoolPath) && refused.standardError.contains("kept"), "\(refused.standardError)")
        #expect(try S3SpoolManifest.load(path: entry.manifestPath).changedParts.contains(1))
        #expect(try commandLine.object(key).status == 404)

        let repaired = try commandLine.run(["repair", address])
        #expect(repaired.status == 0, "\(repaired.standardError)")
        let (status, body) = try commandLine.object(key)
        let expected = try Data(contentsOf: URL(fileURLWithPath: expectedPath))
        let same = status == 200 && body == expected
        #expect(same, "\(status): \(body.count) bytes in S3")
        #expect(commandLine.spoolFiles().isEmpty)
    }

    /// A kill before CreateMultipartUpload answered leaves a manifest without an upload id: the spool goes up whole, in
    /// one PutObject (the short session) or a new multipart upload (the six-minute one, five parts), and the object is
    /// the file the spool holds.
    @Test(arguments: ["short", "long"])
    func aSpoolEntryWithoutAnUploadGoesUpWhole(session: String) throws {
        let log = session == "long" ? try GeneratedSessions.sixMinuteLog() : try GeneratedSessions.log("ga-basic")
        let key = prefix + "unbegun-\(session).wav"
        try FileManager.default.createDirectory(atPath: commandLine.spoolFolder, withIntermediateDirectories: true)
        let spool = commandLine.spoolFolder + "/unbegun\(session).spool"
        #expect(try run(TestEnvironment.deltatapeExecutable.path, ["convert", log, "--track", "both", "-o", spool, "--format", "wav",
                                                                    "--quiet"]).status == 0)
        let manifest = S3SpoolManifest(address: try S3Address(bucket: server.bucket, key: key), contentType: "audio/wav",
                                       layout: S3PartLayout(basePartByteCount: 8 << 20))
        try manifest.write(to: S3SpoolManifest.path(forSpool: spool))
        let expected = try Data(contentsOf: URL(fileURLWithPath: spool))

        let repaired = try commandLine.run(["repair", "s3://\(server.bucket)/\(key)"])
        #expect(repaired.status == 0, "\(repaired.standardError)")
        let parts = session == "long" ? 5 : 1
        #expect(String(decoding: repaired.standardOutput, as: UTF8.self).contains("\(parts) part(s), 0 kept as S3 held them"),
                "\(String(decoding: repaired.standardOutput, as: UTF8.self))")
        let (status, body) = try commandLine.object(key)
        let same = status == 200 && body == expected
        #expect(same, "\(status): \(body.count) bytes in S3, \(expected.count) in the spool")
        #expect(commandLine.spoolFiles().isEmpty)
        #expect(try !commandLine.hasOpenUpload(under: prefix))
    }

    /// A repair for a key no spool entry holds says so, naming the key and the folder: exit 66.
    @Test func aKeyWithoutASpoolEntryIsSaid() throws {
        let address = "s3://\(server.bucket)/\(prefix)nothing.wav"
        let repaired = try commandLine.run(["repair", address])
        #expect(repaired.status == 66)
        #expect(repaired.standardError.contains(address) && repaired.standardError.contains(commandLine.spoolFolder), "\(repaired.standardError)")
    }

    /// Starts `deltatape convert - -o address` reading the log from a pipe, feeds it 90% of the log and leaves the pipe
    /// open (a live session paused), waits until S3 has acknowledged a part and the spool file has stopped growing,
    /// runs `whileRunning`, then kills it with SIGKILL.
    func convertAndKill(_ log: String, to address: String, options: [String], whileRunning: () throws -> Void) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: log))
        let cut = (bytes[..<(bytes.count * 9 / 10)].lastIndex(of: 0x0A) ?? 0) + 1
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = commandLine.command() + ["convert", "-", "--track", "both", "-o", address, "--quiet"] + options
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        let writer = input.fileHandleForWriting.fileDescriptor
        let written = Mutex(false)
        let feeder = Thread {
            bytes[..<cut].withUnsafeBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let count = write(writer, buffer.baseAddress! + done, buffer.count - done)
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { break }
                    done += count
                }
            }
            written.withLock { $0 = true }
        }
        feeder.start()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            waitForExit(process)
            try? input.fileHandleForWriting.close()
        }
        // Until the whole 90% is read, a part is acknowledged, and the spool file has not grown for a second.
        var lastSize = -1
        var steadySince = Date()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            guard process.isRunning else { throw TestSupportError("the conversion ended before it was killed (status \(process.terminationStatus))") }
            guard let entry = S3SpoolEntry.entries(in: commandLine.spoolFolder).entries.first else { continue }
            let size = (try? FileManager.default.attributesOfItem(atPath: entry.spoolPath)[.size] as? Int) ?? 0
            if size != lastSize || !written.withLock({ $0 }) || entry.manifest.parts.isEmpty {
                lastSize = size
                steadySince = Date()
            } else if Date().timeIntervalSince(steadySince) > 1 {
                try whileRunning()
                kill(process.processIdentifier, SIGKILL)
                waitForExit(process)
                guard process.terminationReason == .uncaughtSignal else { throw TestSupportError("the conversion was not killed") }
                return
            }
        }
        let manifests = commandLine.spoolFiles().filter { $0.hasSuffix(".manifest") }.map {
            (try? String(contentsOfFile: commandLine.spoolFolder + "/" + $0, encoding: .utf8)) ?? "?"
        }
        throw TestSupportError("no part was acknowledged in 120 s (spool: \(commandLine.spoolFiles()), \(lastSize) bytes; \(manifests))")
    }

    /// Sets a WAV's RIFF and data sizes to zero in place.
    func zeroWAVSizes(_ path: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let head = try handle.read(upToCount: 256) ?? Data()
        guard let data = head.range(of: Data("data".utf8)) else { throw TestSupportError("no data chunk in the first 256 bytes") }
        for offset in [4, data.upperBound] {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(count: 4))
        }
    }
}
