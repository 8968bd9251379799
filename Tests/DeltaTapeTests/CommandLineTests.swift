import Foundation
import TestSupport
import Testing

/// The `deltatape` binary as a user runs it: exit statuses, messages, standard input and output.
@Suite struct CommandLineTests {
    private func deltatape(_ arguments: [String], input: Data? = nil) throws -> ProcessResult {
        try run(TestEnvironment.deltatapeExecutable.path, arguments, input: input)
    }

    @Test func convertsAndSummarizes() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("out.wav")
        let result = try deltatape(["convert", GeneratedSessions.log("ga-basic"), "-o", output.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("wrote \(output.path)"))
        #expect(result.standardError.contains("24000 Hz"))
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant("ga-basic"))
    }

    @Test func readsStandardInputAndWritesStandardOutput() throws {
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("odd-splits")))
        let result = try deltatape(["convert", "-", "-o", "-", "--format", "wav"], input: log)
        #expect(result.status == 0, "\(result.standardError)")
        let stream = try TestEnvironment.temporaryDirectory().appendingPathComponent("stream.wav")
        try result.standardOutput.write(to: stream)
        // A stream's header carries unknown sizes (0xFFFFFFFF); ffmpeg reads to the end.
        #expect(result.standardOutput.prefix(4) == Data("RIFF".utf8))
        #expect(result.standardOutput[4..<8] == Data([0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(try ffmpegDecodeToPCM16(stream.path) == GeneratedSessions.expectedAssistant("odd-splits"))
    }

    @Test func inputKindOverridesDetection() throws {
        // A log whose first lines are damaged is no recognizable kind; told it is JSONL, the rest converts.
        let folder = try TestEnvironment.temporaryDirectory()
        let log = folder.appendingPathComponent("damaged-start.log")
        let garbage = Data(String(repeating: "<<< garbage line >>>\n", count: 20).utf8)
        try (garbage + Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))).write(to: log)
        let output = folder.appendingPathComponent("out.wav")
        let detected = try deltatape(["convert", log.path, "-o", output.path])
        #expect(detected.status == 65)
        #expect(detected.standardError.contains("not a recognized input"))
        let told = try deltatape(["convert", log.path, "-o", output.path, "--input-kind", "jsonl", "-q"])
        #expect(told.status == 0, "\(told.standardError)")
        #expect(try soxDecodeToPCM16(output.path) == GeneratedSessions.expectedAssistant("ga-basic"))
        let wrong = try deltatape(["convert", log.path, "-o", output.path, "--input-kind", "xml"])
        #expect(wrong.status == 64 && wrong.standardError.contains("'jsonl', 'json-array', 'har' or 'audio'"))
    }

    @Test func warningsNameFileAndLine() throws {
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("out.wav")
        let log = try GeneratedSessions.log("malformed")
        let result = try deltatape(["convert", log, "-o", output.path])
        #expect(result.status == 0)
        for line in try GeneratedSessions.manifest("malformed").problemLines {
            #expect(result.standardError.contains("\(log):\(line): warning:"), "line \(line)")
        }
    }

    /// A reader that goes away mid-stream (`… -o - | head -c 1000`): exit 74 with a message naming the output and
    /// the audio and bytes written, never a silent death by SIGPIPE.
    @Test(arguments: ["wav", "ogg", "webm"]) func aClosedPipeIsAnOutputFailure(_ format: String) throws {
        let process = Process()
        process.executableURL = TestEnvironment.deltatapeExecutable
        process.arguments = ["convert", try GeneratedSessions.log("ga-basic"), "-o", "-", "--format", format]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let head = try output.fileHandleForReading.read(upToCount: 1000) ?? Data()
        try output.fileHandleForReading.close()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        waitForExit(process)
        #expect(head.count == 1000)
        #expect(process.terminationReason == .exit && process.terminationStatus == 74, "\(process.terminationReason) \(process.terminationStatus)")
        // How much audio: what reached the pipe, which OutputFailureTests checks against readers.
        #expect(message.hasPrefix("deltatape: error: writing stdout failed after ") && message.contains(" s of audio (")
            && message.hasSuffix(" bytes): Broken pipe; the output holds the audio up to there\n"), "\(message)")
    }

    @Test func exitStatuses() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let junk = folder.appendingPathComponent("junk.bin")
        try Data([0x00, 0x01, 0x02, 0x03, 0xFF]).write(to: junk)
        let log = try GeneratedSessions.log("malformed")

        let strict = try deltatape(["convert", log, "-o", folder.appendingPathComponent("a.wav").path, "--strict"])
        #expect(strict.status == 65)
        #expect(strict.standardError.contains(":4:"))

        let unknown = try deltatape(["convert", junk.path, "-o", folder.appendingPathComponent("b.wav").path])
        #expect(unknown.status == 65)
        #expect(unknown.standardError.contains("expected a session log"))

        let unwritable = try deltatape(["convert", log, "-o", "/nonexistent-folder/c.wav"])
        #expect(unwritable.status == 74)
        #expect(unwritable.standardError.contains("/nonexistent-folder/c.wav"))

        let noFormat = try deltatape(["convert", log, "-o", "-"])
        #expect(noFormat.status == 64)
        #expect(noFormat.standardError.contains("--format"))

        let badExtension = try deltatape(["convert", log, "-o", folder.appendingPathComponent("d.xyz").path])
        #expect(badExtension.status == 64)

        let unknownOption = try deltatape(["convert", log, "--frobnicate"])
        #expect(unknownOption.status == 64)
    }

    @Test func inspectReportsCountsFormatsDurationAndProblems() throws {
        let log = try GeneratedSessions.log("malformed")
        let result = try deltatape(["inspect", log, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Any])
        #expect(report["vocabulary"] as? String == "openai-ga")
        #expect(report["formats"] as? [String] == ["PCM16 24000 Hz mono"])
        let problemLines = (report["problems"] as? [[String: Any]])?.compactMap { $0["line"] as? Int }
        #expect(problemLines == (try GeneratedSessions.manifest("malformed").problemLines))

        // Independent expectation: count the types and audio with Python's json module.
        let script = """
            import json, sys, base64, collections
            counts = collections.Counter(); audio = 0
            for raw in open(sys.argv[1], 'rb'):
                try: message = json.loads(raw)
                except Exception:
                    # An audio line cut off mid-payload is read up to the cut, in whole groups of eight characters.
                    text = raw.decode('utf-8', 'replace')
                    if '"response.output_audio.delta"' in text and '"delta": "' in text:
                        counts['response.output_audio.delta'] += 1
                        written = text[text.index('"delta": "') + len('"delta": "'):].strip()
                        audio += len(base64.b64decode(written[:len(written) // 8 * 8]))
                    continue
                if not isinstance(message, dict): continue
                counts[message.get('type', '(no type)')] += 1
                if message.get('type') == 'response.output_audio.delta':
                    text = message['delta']
                    try: audio += len(base64.b64decode(text, validate=True))
                    except Exception: audio += (len(text) - text.count('=')) * 3 // 4
            print(json.dumps({'counts': counts, 'seconds': round(audio / 2 / 24000, 3)}))  # --json rounds to the millisecond
            """
        let reference = try #require(try JSONSerialization.jsonObject(with: python(script, [log])) as? [String: Any])
        #expect(report["eventCounts"] as? [String: Int] == reference["counts"] as? [String: Int])
        let assistant = try #require(report["assistant"] as? [String: Any])
        let seconds = try #require(assistant["durationSeconds"] as? Double)
        #expect(abs(seconds - (reference["seconds"] as? Double ?? -1)) < 1e-9)
    }

    @Test func inspectTextNamesTheVocabularyTrap() throws {
        let result = try deltatape(["inspect", GeneratedSessions.log("beta-basic")])
        let text = String(decoding: result.standardOutput, as: UTF8.self)
        #expect(result.status == 0)
        #expect(text.contains("OpenAI Realtime beta"))
        #expect(text.contains("response.audio.delta"))
    }
}

/// Streaming, not buffering: converting a session four times as long takes the same peak memory. The sessions' client
/// streams its microphone all along (silence while the assistant speaks), so that each answer fits on the user's clock
/// and the timeline holds an answer only while it plays (a log whose answers outrun its clock holds up to 120 s).
@Suite struct MemoryTests {
    @Test(arguments: [["--track", "assistant"], ["--track", "both"]])
    func peakMemoryDoesNotGrowWithSessionLength(_ tracks: [String]) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/make-sessions.py").path
        var logs: [String] = []
        for hours in ["0.1", "0.4"] {
            let made = folder.appendingPathComponent(hours)
            #expect(try run("python3", [script, made.path, "--hours", hours, "--microphone"]).status == 0)
            logs.append(made.appendingPathComponent("long.jsonl").path)
        }
        var peaks: [Int] = []
        for log in logs {
            // Python's resource module reads the child's peak resident set (in KiB on Linux).
            let measure = """
                import resource, subprocess, sys
                subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)
                print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
                """
            let output = try python(measure, [TestEnvironment.deltatapeExecutable.path, "convert", log,
                                              "-o", folder.appendingPathComponent("out.wav").path] + tracks)
            peaks.append(Int(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
        }
        #expect(peaks.allSatisfy { $0 > 0 })
        #expect(Double(peaks[1]) < Double(peaks[0]) * 1.1, "peak resident KiB for 6 and 24 minutes: \(peaks)")
    }
}
