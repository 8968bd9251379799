@_spi(Blocks) import DeltaTape
import Foundation
import TestSupport
import Testing

/// A conversion of a live input to a file keeps its input's journal beside the output, and `deltatape repair` rebuilds
/// a killed conversion's output from it (issue 27, item 3): everything the process had read is converted, the answer
/// still held included, with the cuts that had arrived.
@Suite struct InputJournalTests {
    /// Feeds a prefix of ga-basic's log to `deltatape convert -` in pieces 5 to 20 ms apart (never a pause, in which the
    /// converter would write what it holds on its own) and kills it right after the last piece. The journal must be
    /// what was fed (a prefix of it: the last piece may still sit in the pipe), and the repaired output what a
    /// conversion of that prefix from a stored file gives (another path: no journal, no kill), in every format.
    @Test(arguments: [("wav", ["--track", "both", "--rate", "16000"]), ("ogg", ["--complexity", "0"]), ("webm", ["--complexity", "0"])])
    func aKilledConversionIsRebuiltFromItsJournal(_ format: String, _ arguments: [String]) throws {
        var generator = SeededGenerator(name: "\(#function) \(format)")
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))
        var gainedAudio = false
        for round in 0..<3 {
            let folder = try TestEnvironment.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: folder) }
            let output = folder.appendingPathComponent("killed.\(format)").path
            let process = Process()
            process.executableURL = TestEnvironment.deltatapeExecutable
            process.arguments = ["convert", "-", "-o", output, "--format", format] + arguments
            let input = Pipe()
            process.standardInput = input
            process.standardError = FileHandle.nullDevice
            signal(SIGPIPE, SIG_IGN)
            try process.run()
            let fed = Int.random(in: log.count * 3 / 10...log.count * 9 / 10, using: &generator)
            var offset = 0
            while offset < fed {
                let piece = min(fed - offset, Int.random(in: 2_000...30_000, using: &generator))
                try? input.fileHandleForWriting.write(contentsOf: log[offset..<(offset + piece)])
                offset += piece
                Thread.sleep(forTimeInterval: Double(Int.random(in: 5...20, using: &generator)) / 1000)
            }
            kill(process.processIdentifier, SIGKILL)
            waitForExit(process)
            try? input.fileHandleForWriting.close()
            let context = "round \(round) of \(format): \(fed) bytes fed, \(generator)"

            let journalPath = output + ".journal"
            let journal = try Data(contentsOf: URL(fileURLWithPath: journalPath))
            let newline = try #require(journal.firstIndex(of: 0x0A), "the journal has no header line, \(context)")
            #expect(journal[..<newline].starts(with: Data("deltatape-journal 1\t".utf8)), "\(context)")
            let payload = journal[(newline + 1)...]
            #expect(!payload.isEmpty && payload.count <= fed && payload == log.prefix(payload.count),
                    "the journal holds \(payload.count) bytes, not a prefix of the \(fed) fed, \(context)")
            // Not timed: a write to the pipe returns once the pipe took it, and the pipe holds 64 KiB (Linux's default),
            // so whatever the process had not read at the kill is at most that.
            #expect(payload.count >= fed - 65_536, "the journal holds \(payload.count) of the \(fed) bytes fed, \(context)")
            let onDisk = (try? Data(contentsOf: URL(fileURLWithPath: output)))?.count ?? 0

            // The expectation: the same bytes, stored, converted to a file of their own.
            let stored = folder.appendingPathComponent("received.jsonl").path
            try Data(payload).write(to: URL(fileURLWithPath: stored))
            let expected = folder.appendingPathComponent("expected.\(format)").path
            let converted = try run(TestEnvironment.deltatapeExecutable.path, ["convert", stored, "-o", expected, "--format", format] + arguments)
            try #require(converted.status == 0, "\(converted.standardError) \(context)")

            let repair = try run(TestEnvironment.deltatapeExecutable.path, ["repair", output])
            #expect(repair.status == 0 && String(decoding: repair.standardOutput, as: UTF8.self).contains("rebuilt from"),
                    "\(String(decoding: repair.standardOutput, as: UTF8.self)) \(repair.standardError) \(context)")
            #expect(!FileManager.default.fileExists(atPath: journalPath), "the journal is left after the rebuild, \(context)")
            if format == "wav" {
                // The same writer to a file: the same bytes; Python's wave reads the rebuilt file whole.
                #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: expected)), "\(context)")
                let read = try python(WAVRepairTests.readWAV, [output])
                #expect(read.count > 8, "\(context)")
            } else {
                // Random stream serials differ: the decoded audio must not.
                let rebuilt = try run("ffmpeg", ["-v", "error", "-i", output, "-f", "s16le", "-"])
                #expect(rebuilt.status == 0 && rebuilt.standardError.isEmpty, "\(rebuilt.standardError) \(context)")
                #expect(rebuilt.standardOutput == (try ffmpegDecodeToPCM16(expected)), "\(context)")
            }
            let size = (try? Data(contentsOf: URL(fileURLWithPath: output)))?.count ?? 0
            gainedAudio = gainedAudio || size > onDisk
        }
        // The answer held in memory at the kill is what the journal brings back: some round must show it.
        #expect(gainedAudio, "no rebuild held more than the killed file")
    }

    /// A recorder fed messages (a relay's, an archiver's) to a file journals each one as it takes it: a copy of the
    /// journal taken mid-session, as a kill would leave it, rebuilds to what a conversion of the messages so far gives
    /// (a stored log of the same lines, read without envelopes: another path), the answer still held included. The
    /// journal is gone after ``SessionRecorder/finish()``, and none is kept when the caller says so.
    @Test func aRecorderJournalsEveryMessageItTakes() async throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let output = folder.appendingPathComponent("live.wav").path
        var options = ConversionOptions()
        options.track = .both
        let recorder = SessionRecorder(options: options, sink: .file(output))
        let lines = try SessionRecorderTests.messages(try GeneratedSessions.log("ga-basic"))
        let taken = lines.count * 6 / 10
        for line in lines.prefix(taken) { try await recorder.record(line) }
        // Until the recording thread has journaled them all (polled, at most 20 s: no timed assertion).
        let journalPath = output + ".journal"
        var journal = Data()
        for _ in 0..<2_000 {
            journal = (try? Data(contentsOf: URL(fileURLWithPath: journalPath))) ?? Data()
            if journal.filter({ $0 == 0x0A }).count == taken + 1 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(journal.filter { $0 == 0x0A }.count == taken + 1, "the journal holds \(journal.filter { $0 == 0x0A }.count - 1) of \(taken) messages")
        // A repair while the recording runs leaves its journal be: the recorder holds the journal's lock.
        do {
            _ = try SessionConverter.rebuild(fromJournalOf: output)
            Issue.record("a live recording's journal was rebuilt")
        } catch {
            #expect("\(error)".contains("still writing"), "\(error)")
        }
        #expect(FileManager.default.fileExists(atPath: journalPath))
        // The journal as a kill would leave it, beside a file of its own.
        let killed = try TestEnvironment.temporaryDirectory().appendingPathComponent("killed.wav").path
        try journal.write(to: URL(fileURLWithPath: killed + ".journal"))
        let summary = try #require(try SessionConverter.rebuild(fromJournalOf: killed))
        #expect(summary.channelCount == 2)
        let stored = folder.appendingPathComponent("so-far.jsonl").path
        try Data(lines.prefix(taken).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: stored))
        let expected = folder.appendingPathComponent("expected.wav").path
        _ = try await SessionConverter.convert(input: stored, to: .file(expected), options: options)
        #expect(try Data(contentsOf: URL(fileURLWithPath: killed)) == Data(contentsOf: URL(fileURLWithPath: expected)))
        #expect(!FileManager.default.fileExists(atPath: killed + ".journal"))

        for line in lines.dropFirst(taken) { try await recorder.record(line) }
        _ = try await recorder.finish()
        #expect(!FileManager.default.fileExists(atPath: journalPath), "the journal outlived the recording")
        let unjournaled = folder.appendingPathComponent("unjournaled.wav").path
        let plain = SessionRecorder(sink: .file(unjournaled), keepsJournal: false)
        for line in lines.prefix(20) { try await plain.record(line) }
        #expect(!FileManager.default.fileExists(atPath: unjournaled + ".journal"))
        _ = try? await plain.finish()
    }

    /// The header carries every option a rebuild needs, values with tabs, newlines, `%` and UTF-8 included.
    @Test func theHeaderCarriesTheOptions() throws {
        var options = ConversionOptions()
        options.format = .webm
        options.track = .both
        options.layout = .mono
        options.keepsTruncated = true
        options.sampleFormat = .f32
        options.sampleRate = 16_000
        options.resampler = .libsamplerate
        options.quality = .medium
        options.opus = OpusSettings(bitrate: 32_000, complexity: 3, application: .voip, frameMilliseconds: 60)
        options.inputKind = .har
        options.eventField = "pay\tload\n%é"
        options.maximumMessageByteCount = 1 << 20
        options.streamIdentifier = 4_000_000_000
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("call.webm").path
        let journal = try InputJournal.create(forOutput: output, options: options)
        journal.keep()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: output + ".journal"))
        #expect(bytes.last == 0x0A && bytes.filter { $0 == 0x0A }.count == 1, "the header is not one line")
        let decoded = try #require(InputJournal.decode(String(decoding: bytes.dropLast(), as: UTF8.self)))
        #expect(decoded.format == .webm && decoded.track == .both && decoded.layout == .mono && decoded.keepsTruncated)
        #expect(decoded.sampleFormat == .f32 && decoded.sampleRate == 16_000 && decoded.resampler == .libsamplerate && decoded.quality == .medium)
        #expect(decoded.opus == options.opus && decoded.inputKind == .har && decoded.eventField == "pay\tload\n%é")
        #expect(decoded.maximumMessageByteCount == 1 << 20 && decoded.streamIdentifier == 4_000_000_000)
        // Defaults stay defaults.
        let plain = try #require(InputJournal.decode("deltatape-journal 1\tformat=wav\ttrack=assistant\tlayout=stereo\tsample-format=s16\t"
            + "resampler=soxr\tquality=high\tapplication=audio\tframe-ms=20.0\tmax-message-bytes=67108864"))
        #expect(plain.sampleRate == nil && plain.eventField == nil && plain.inputKind == nil && !plain.keepsTruncated)
        // Not a journal, or values this version does not know: refused, not guessed.
        for line in ["", "{\"type\":\"session.created\"}", "deltatape-journal 2\tformat=wav", "deltatape-journal 1\tformat=mp3",
                     "deltatape-journal 1\tformat=wav\ttrack=assistant\tlayout=stereo\tsample-format=s16\tresampler=soxr\tquality=high\t"
                        + "application=audio\tframe-ms=20.0\tmax-message-bytes=67108864\tevent-field=%G1"] {
            #expect(InputJournal.decode(line) == nil, "\(line)")
        }
    }

    /// A journal's name taken by a link is never written through; an earlier killed conversion's journal is replaced.
    @Test func aLinkAtTheJournalsNameIsNotFollowed() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let victim = folder.appendingPathComponent("victim.txt").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        let output = folder.appendingPathComponent("call.wav").path
        try FileManager.default.createSymbolicLink(atPath: output + ".journal", withDestinationPath: victim)
        #expect(throws: OutputError.self) { try InputJournal.create(forOutput: output, options: ConversionOptions()).keep() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == Data("keep me".utf8))
        try FileManager.default.removeItem(atPath: output + ".journal")
        try Data("old journal".utf8).write(to: URL(fileURLWithPath: output + ".journal"))
        try InputJournal.create(forOutput: output, options: ConversionOptions()).keep()
        #expect(try Data(contentsOf: URL(fileURLWithPath: output + ".journal")).starts(with: Data("deltatape-journal 1\t".utf8)))
    }
}
