import DeltaTape
import Foundation
import TestSupport
import Testing

/// `convert`'s progress line, seen through a pseudo-terminal (Python's `pty`, standard error alone on the terminal, as
/// `isatty(2)` asks), and `-j`'s bound on conversions at once, seen through named pipes that only the binary's opening
/// them for reading lets a writer open.
@Suite struct ConvertProgressTests {
    /// Runs `sh -c script` with `$0` the `deltatape` binary and `$1`… `arguments`, its standard error a pseudo-terminal,
    /// and returns its status and everything the terminal received (with the terminal's `\n` → `\r\n`).
    static func underTerminal(_ script: String, _ arguments: [String]) throws -> (status: Int32, terminal: String) {
        let driver = """
            import os, pty, subprocess, sys
            master, slave = pty.openpty()
            child = subprocess.Popen(["sh", "-c"] + sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
            os.close(slave)
            received = bytearray()
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                received += chunk
            sys.stdout.buffer.write(received)
            sys.exit(child.wait())
            """
        let result = try run("python3", ["-c", driver, script, TestEnvironment.deltatapeExecutable.path] + arguments)
        return (result.status, String(decoding: result.standardOutput, as: UTF8.self))
    }

    /// The progress lines drawn (each `\r`, the line, then erase-to-end `ESC [ K`) and what is left once they and the
    /// clearings (`\r ESC [ K`) are taken out.
    static func split(_ terminal: String) throws -> (frames: [String], rest: String) {
        let drawn = try Regex(#"\r([^\r\n]*)\x1B\[K"#)
        let frames = terminal.matches(of: drawn).compactMap { $0.output[1].substring.map(String.init) }.filter { !$0.isEmpty }
        return (frames, terminal.replacing(drawn, with: ""))
    }

    /// A 6-minute log under `name` in a new folder: long enough (about a second to Opus at complexity 0 in a debug
    /// build) for several redraws at ten a second.
    static func longLog(named name: String, in folder: URL) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: GeneratedSessions.sixMinuteLog())
        return path
    }

    /// `35.2 MB`: `count` bytes in decimal megabytes to one place, as printf writes them.
    static func megabytes(_ count: Int) -> String {
        String(format: "%.1f MB", Double(count) / 1e6).replacingOccurrences(of: ".", with: "\\.")
    }

    static func sixMinuteLogByteCount() throws -> Int {
        try FileManager.default.attributesOfItem(atPath: GeneratedSessions.sixMinuteLog())[.size] as? Int ?? 0
    }

    @Test func aTerminalShowsPercentSpeedAndTimeLeftThenOnlyTheSummary() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, terminal) = try Self.underTerminal(#""$0" convert "$1" -o "$2" --complexity 0"#,
                                                        [Self.longLog(named: "long.jsonl", in: folder), folder.appendingPathComponent("long.ogg").path])
        #expect(status == 0, "\(terminal)")
        let (frames, rest) = try Self.split(terminal)
        let frame = try Regex(#"^(\d{1,3})% of "# + Self.megabytes(Self.sixMinuteLogByteCount()) + #" · \d+:\d\d of audio · \d+× real time( · ETA \d+:\d\d)?$"#)
        #expect(frames.count >= 2 && frames.allSatisfy { $0.wholeMatch(of: frame) != nil }, "\(frames)")
        #expect(frames.contains { $0.contains(" · ETA ") }, "\(frames)")
        let percents = frames.compactMap { Int($0.prefix { $0.isNumber }) }
        #expect(percents == percents.sorted() && (percents.last ?? 0) > (percents.first ?? 100), "\(percents)")
        // Cleared before the summary, which is then all that stays on the screen.
        #expect(terminal.contains("\u{1B}[K\r\u{1B}[Kwrote "), "\(terminal.suffix(300).debugDescription)")
        // Nor is a progress line drawn after it.
        #expect(terminal.hasSuffix("no warnings\r\n"), "\(terminal.suffix(300).debugDescription)")
        #expect(rest.hasPrefix("wrote \(folder.appendingPathComponent("long.ogg").path): assistant 364.546 s"), "\(rest.debugDescription)")
        #expect(rest.hasSuffix("no warnings\r\n") && rest.utf8.count(where: { $0 == 10 }) == 1, "\(rest.debugDescription)")
    }

    @Test func standardInputHasNoSizeSoNoPercentOrTimeLeft() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, terminal) = try Self.underTerminal(#"cat "$1" | "$0" convert - -o "$2" --complexity 0"#,
                                                        [GeneratedSessions.sixMinuteLog(), folder.appendingPathComponent("piped.ogg").path])
        #expect(status == 0, "\(terminal)")
        let (frames, rest) = try Self.split(terminal)
        let frame = try Regex(#"^[\d.]+ MB read · \d+:\d\d of audio · \d+× real time$"#)
        #expect(!frames.isEmpty && frames.allSatisfy { $0.wholeMatch(of: frame) != nil }, "\(frames)")
        #expect(!terminal.contains("%") && !terminal.contains("ETA"), "\(terminal.debugDescription)")
        #expect(rest.hasPrefix("wrote ") && rest.contains("bytes of stdin") && rest.utf8.count(where: { $0 == 10 }) == 1, "\(rest.debugDescription)")
    }

    @Test func severalInputsShareOneAggregateLine() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let inputs = try ["a.jsonl", "b.jsonl"].map { try Self.longLog(named: $0, in: folder) }
        let (status, terminal) = try Self.underTerminal(#""$0" convert "$1" "$2" -o "$3" --format ogg --complexity 0 -j 2"#,
                                                        inputs + [folder.path + "/out/"])
        #expect(status == 0, "\(terminal)")
        let (frames, rest) = try Self.split(terminal)
        // Both inputs' bytes in one figure.
        let frame = try Regex(#"^[012]/2 done · \d{1,3}% of "# + Self.megabytes(2 * Self.sixMinuteLogByteCount()) + #" · \d+:\d\d of audio · \d+× real time( · ETA \d+:\d\d)?$"#)
        #expect(frames.count >= 2 && frames.allSatisfy { $0.wholeMatch(of: frame) != nil }, "\(frames)")
        // Each input's summary, then the run's tally.
        let lines = rest.split(separator: "\r\n").map(String.init)
        #expect(lines.last == "2 of 2 converted", "\(rest.debugDescription)")
        let written = lines.dropLast()
        #expect(Set(written).count == 2 && written.allSatisfy { $0.hasPrefix("wrote \(folder.path)/out/") && $0.hasSuffix("no warnings") },
                "\(rest.debugDescription)")
    }

    @Test func quietWritesNothingToTheTerminal() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, terminal) = try Self.underTerminal(#""$0" convert "$1" -o "$2" --complexity 0 --quiet"#,
                                                        [GeneratedSessions.sixMinuteLog(), folder.appendingPathComponent("quiet.ogg").path])
        #expect(status == 0)
        #expect(terminal.isEmpty, "\(terminal.debugDescription)")
    }

    @Test func withoutATerminalStandardErrorHoldsOnlyTheSummary() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("plain.ogg").path
        let result = try run(TestEnvironment.deltatapeExecutable.path, ["convert", GeneratedSessions.sixMinuteLog(), "-o", output, "--complexity", "0"])
        #expect(result.status == 0)
        let text = result.standardError
        #expect(text.hasPrefix("wrote \(output): assistant 364.546 s") && text.hasSuffix("no warnings\n"), "\(text.debugDescription)")
        #expect(text.filter { $0 == "\n" || $0 == "\r" || $0 == "\u{1B}" }.count == 1, "\(text.debugDescription)")
    }

    /// Opens `path`, a named pipe, for writing once a reader has it open: waits up to `seconds`, then gives up (`nil`).
    static func openOnceRead(_ path: String, within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let descriptor = open(path, O_WRONLY | O_NONBLOCK)  // fails with ENXIO while nobody reads
            if descriptor >= 0 {
                _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
                return descriptor
            }
            Thread.sleep(forTimeInterval: 0.02)
        } while Date() < deadline
        return nil
    }

    @Test(arguments: [1, 2]) func jobsBoundsTheConversionsAtOnce(_ jobs: Int) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (first, second) = (folder.appendingPathComponent("first.jsonl").path, folder.appendingPathComponent("second.jsonl").path)
        #expect(mkfifo(first, 0o600) == 0 && mkfifo(second, 0o600) == 0)
        let process = Process()
        process.executableURL = TestEnvironment.deltatapeExecutable
        process.arguments = ["convert", first, second, "-o", folder.path + "/out/", "-j", "\(jobs)", "-q"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let log = try Data(contentsOf: URL(fileURLWithPath: GeneratedSessions.log("ga-basic")))
        // While the first input waits for a writer, a second conversion starts only when two may run at once.
        let secondEarly = Self.openOnceRead(second, within: jobs == 1 ? 1.5 : 30)
        #expect((secondEarly != nil) == (jobs > 1), "-j \(jobs)")
        for (path, early) in [(first, nil), (second, secondEarly)] {
            let descriptor = try #require(early ?? Self.openOnceRead(path, within: 30), "\(path) was never opened for reading")
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try handle.write(contentsOf: log)
            try handle.close()
        }
        waitForExit(process)
        #expect(process.terminationStatus == 0)
        for name in ["first", "second"] {
            #expect(try soxDecodeToPCM16(folder.appendingPathComponent("out/\(name).wav").path) == GeneratedSessions.expectedAssistant("ga-basic"))
        }
    }
}

/// Issue 26: the progress record counts the output side. A session's last answers are written after its last byte is
/// read (queued to play after the audio before them); the record goes on showing the audio written meanwhile, and the
/// audio read but not written as work left, instead of stopping at the last input update.
@Suite struct ProgressOutputSideTests {
    @Test func theWrittenAudioIsCountedUntilTheEnd() throws {
        let progress = ConversionProgress()
        var options = ConversionOptions(format: .wav)
        options.progress = progress
        let folder = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let summary = try SessionConverter.convert(input: GeneratedSessions.sixMinuteLog(),
                                                   to: .file(folder.appendingPathComponent("a.wav").path), options: options)
        // The output reports its count every 10 s of audio: at the end the record is within that of the whole, and
        // what it holds as not yet written is at most that too.
        #expect(progress.writtenSeconds > summary.durationSeconds - 10.5, "\(progress.writtenSeconds) of \(summary.durationSeconds)")
        #expect(progress.writtenSeconds <= summary.durationSeconds + 0.001)
        #expect(progress.pendingSeconds <= 10.5, "\(progress.pendingSeconds)")
        #expect(progress.inputByteCount == summary.inputByteCount, "the input's last byte is counted")
    }
}
