// What the relay's acceptance tests share: frames, the generated session logs, reference tools (Python, ffmpeg,
// sox) as independent readers, and the names the relay's contract gives its files, lines and metrics.
import Foundation
import Synchronization
import TestSupport

/// One WebSocket message as sent or received: the unit the relay must forward unchanged and in order.
enum Frame: Equatable, Sendable, CustomStringConvertible {
    case text(String)
    case binary([UInt8])

    var byteCount: Int {
        switch self {
        case .text(let string): string.utf8.count
        case .binary(let bytes): bytes.count
        }
    }

    var description: String {
        switch self {
        case .text(let string): "text(\(string.utf8.count) bytes: \(string.prefix(80)))"
        case .binary(let bytes): "binary(\(bytes.count) bytes)"
        }
    }
}

/// The relay's contract, in one place: change a name here when the relay's names settle.
enum RelayContract {
    static let listeningPrefix = "deltatape relay: listening on "
    static let linePrefix = "deltatape relay: "
    /// `DIR/<YYYYMMDDTHHMMSSZ>-<n>-<10 random base32 characters>.<ext>`.
    static func isRecordingName(_ name: String, connection: Int, extension ext: String) -> Bool {
        // `<UTC start>-<connection>-[<session id>-]<random>.<ext>` (the id once the session's first messages gave one).
        name.wholeMatch(of: try! Regex("[0-9]{8}T[0-9]{6}Z-\(connection)-([A-Za-z0-9_-]{1,48}-)?[a-z2-7]{10}\\.\(ext)")) != nil
    }

    enum Metric {
        static let connectionsActive = "deltatape_relay_connections_active"
        static let framesTotal = "deltatape_relay_frames_total"
        static let bytesTotal = "deltatape_relay_bytes_total"
        static let recordingsFinished = "deltatape_relay_recordings_finished_total"
        static let recordingsAbandoned = "deltatape_relay_recordings_abandoned_total"
        static let recordingLag = "deltatape_relay_recording_lag_bytes"
        static let requestsRefused = "deltatape_relay_requests_refused_total"
        static let recordingsFailed = "deltatape_relay_recordings_failed_total"
        static let clientToUpstream = "direction=\"client_to_upstream\""
        static let upstreamToClient = "direction=\"upstream_to_client\""
    }
}

/// Where things are when the relay's tests run.
enum RelayTestEnvironment {
    /// The `Relay/` package folder.
    static let relayPackageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The DeltaTape package folder (the repository's root).
    static var repositoryRoot: URL { relayPackageRoot.deletingLastPathComponent() }

    /// How many times faster than real time the fake upstream and the client send audio (`RELAY_TEST_PACE`).
    static var pace: Double {
        ProcessInfo.processInfo.environment["RELAY_TEST_PACE"].flatMap(Double.init) ?? 10
    }

    /// The `deltatape-relay` binary built beside the test bundle (`DELTATAPE_RELAY` overrides).
    static var relayExecutable: URL {
        if let path = ProcessInfo.processInfo.environment["DELTATAPE_RELAY"] { return URL(fileURLWithPath: path) }
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for folder in candidates {
            let url = folder.appendingPathComponent("deltatape-relay")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return relayPackageRoot.appendingPathComponent(".build/debug/deltatape-relay")
    }

    /// A new empty temporary folder, inside this test process's own folder, which is removed when the process exits
    /// (set `DELTATAPE_KEEP_TEST_FILES=1` to keep it): each run used to leave its generated sessions (24 MB) behind.
    static func temporaryDirectory(_ label: String = "relay") throws -> URL {
        let url = RelayTestFolders.processFolder.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The folder of this test process's temporary files, `deltatape-relay-tests.PID` in the system's temporary folder (as
/// the package's TestSupport does; that target is not visible from this package).
private enum RelayTestFolders {
    static let root = FileManager.default.temporaryDirectory
    static let prefix = "deltatape-relay-tests."

    /// Made on first use; the folders of test processes that are gone are removed then, and this one at exit.
    static let processFolder: URL = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
        let folder = root.appendingPathComponent(prefix + String(getpid()))
        try? FileManager.default.removeItem(at: folder)
        if ProcessInfo.processInfo.environment["DELTATAPE_KEEP_TEST_FILES"] == nil {
            atexit { try? FileManager.default.removeItem(at: RelayTestFolders.processFolder) }
        }
        return folder
    }()
}

/// A failure of the test machinery itself (not of the relay).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// Everything that blocks (child processes, generating sessions) runs on a thread of its own: blocking the two
// threads of Swift's cooperative pool on this 2-core machine would stall the fake upstream and the client of every
// test running alongside, and the tests would measure their own stalls instead of the relay.

/// Runs `body` on a new thread and waits for it without holding a thread of the cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A Python script run as one end of a connection (an upstream, or both ends): it prints the port it listens on first,
/// may read a line from its standard input, and prints what it saw, a line at a time, until it ends.
final class PythonEnd: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    /// The port from its first line.
    private(set) var port = 0

    /// Starts `script` with `arguments` (its `sys.argv[1...]`) and waits for its port.
    init(_ script: String, arguments: [String] = []) async throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = self.output
        let first = try await onThread { String(decoding: output.fileHandleForReading.availableData, as: UTF8.self) }
        guard let port = Int(first.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            stop()
            throw HarnessError("the Python end printed no port: '\(first)'")
        }
        self.port = port
    }

    /// Sends it one line.
    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Waits for it to end; returns the lines it printed after its port.
    func remainingLines() async throws -> [String] {
        let output = self.output
        let rest = try await onThread { String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        return rest.split(separator: "\n").map(String.init)
    }

    /// Ends it if it still runs.
    func stop() {
        if process.isRunning { process.terminate() }
    }
}

/// Runs `executable` (a path, or a name looked up on PATH) with `arguments` and waits for it, on a thread of its own.
func runProcess(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
    try await onThread { try TestSupport.run(executable, arguments) }
}

/// Runs a Python 3 script and returns its standard output; a failure throws with its standard error.
func python(_ script: String, _ arguments: [String] = []) async throws -> Data {
    let result = try await runProcess("python3", ["-c", script] + arguments)
    guard result.status == 0 else { throw HarnessError("python3 failed (\(result.status)): \(result.standardError)") }
    return result.standardOutput
}

// MARK: - Generated sessions

/// Session logs from `TestAudio/make-sessions.py`, generated once per test process into a temporary folder.
enum RelaySessions {
    private static let fixtures = OnceFolder { try generate([]) }
    private static let microphone = OnceFolder { try generate(["--hours", "0.02", "--microphone"]) }

    private static func generate(_ arguments: [String]) throws -> URL {
        let folder = try RelayTestEnvironment.temporaryDirectory("sessions")
        let script = RelayTestEnvironment.repositoryRoot.appendingPathComponent("TestAudio/make-sessions.py").path
        let result = try TestSupport.run("python3", [script, folder.path] + arguments)
        guard result.status == 0 else { throw HarnessError("make-sessions.py failed: \(result.standardError)") }
        return folder
    }

    /// `NAME.jsonl` of the standard fixtures (`ga-basic`, `beta-basic`, ...).
    static func log(_ name: String) async throws -> String {
        try await fixtures.value().appendingPathComponent("\(name).jsonl").path
    }

    /// The assistant PCM (16-bit little-endian, mono) the generator encoded into session `name`.
    static func expectedAssistant(_ name: String) async throws -> [UInt8] {
        try await Array(Data(contentsOf: fixtures.value().appendingPathComponent("\(name).assistant.raw")))
    }

    /// The user PCM (16-bit little-endian, mono) the generator encoded into session `name`.
    static func expectedUser(_ name: String) async throws -> [UInt8] {
        try await Array(Data(contentsOf: fixtures.value().appendingPathComponent("\(name).user.raw")))
    }

    /// A 72-second GA session whose client streams its microphone all along (`--hours 0.02 --microphone`).
    static func microphoneLog() async throws -> String {
        try await microphone.value().appendingPathComponent("long.jsonl").path
    }
}

/// A folder made on first use (on a thread of its own), once even when tests run in parallel.
final class OnceFolder: Sendable {
    private let making = Mutex<Task<URL, any Error>?>(nil)
    private let make: @Sendable () throws -> URL
    init(make: @escaping @Sendable () throws -> URL) { self.make = make }
    func value() async throws -> URL {
        let task = making.withLock { task in
            if let task { return task }
            let make = self.make
            let started = Task { try await onThread(make) }
            task = started
            return started
        }
        return try await task.value
    }
}

// MARK: - Reading audio with independent tools

/// A WAV file as Python's `wave` module reads it: its format and its sample bytes.
struct WAVContents: Equatable {
    var channelCount: Int
    var sampleWidth: Int
    var sampleRate: Int
    var frameCount: Int
    var samples: [UInt8]
}

/// Reads a WAV file with Python's `wave` (an independent reader that also insists on the exact header sizes).
func readWAVWithPython(_ path: String) async throws -> WAVContents {
    let script = """
    import sys, wave
    w = wave.open(sys.argv[1], 'rb')
    frames = w.readframes(w.getnframes())
    sys.stdout.buffer.write(('%d %d %d %d\\n' % (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())).encode())
    sys.stdout.buffer.write(frames)
    """
    let output = try await python(script, [path])
    guard let newline = output.firstIndex(of: 0x0A) else { throw HarnessError("no header line from Python for \(path)") }
    let numbers = String(decoding: output[..<newline], as: UTF8.self).split(separator: " ").compactMap { Int($0) }
    guard numbers.count == 4 else { throw HarnessError("unexpected header line from Python for \(path)") }
    return WAVContents(channelCount: numbers[0], sampleWidth: numbers[1], sampleRate: numbers[2], frameCount: numbers[3],
                       samples: Array(output[output.index(after: newline)...]))
}

/// Decodes any audio file with ffmpeg to 16-bit little-endian PCM at the stream's own rate and channels.
/// `requireClean` fails on any message ffmpeg prints at the error level.
func decodeWithFFmpeg(_ path: String, requireClean: Bool = true) async throws -> [UInt8] {
    let result = try await runProcess("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-f", "s16le", "-"])
    guard result.status == 0 else { throw HarnessError("ffmpeg failed (\(result.status)) on \(path): \(result.standardError)") }
    if requireClean, !result.standardError.isEmpty {
        throw HarnessError("ffmpeg reported problems on \(path): \(result.standardError)")
    }
    return Array(result.standardOutput)
}

/// The sample rate and channel count ffprobe reports for the first audio stream.
func probeWithFFprobe(_ path: String) async throws -> (sampleRate: Int, channelCount: Int) {
    let result = try await runProcess("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels",
                                            "-of", "default=noprint_wrappers=1", path])
    guard result.status == 0 else { throw HarnessError("ffprobe failed on \(path): \(result.standardError)") }
    var rate = 0, channels = 0
    for line in String(decoding: result.standardOutput, as: UTF8.self).split(separator: "\n") {
        let parts = line.split(separator: "=")
        guard parts.count == 2 else { continue }
        if parts[0] == "sample_rate" { rate = Int(parts[1]) ?? 0 }
        if parts[0] == "channels" { channels = Int(parts[1]) ?? 0 }
    }
    return (rate, channels)
}

/// Every file in `folder` (not recursive), sorted by name.
func files(in folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
}

/// Whether `haystack` contains the bytes of `needle`.
func contains(_ haystack: Data, _ needle: String) -> Bool {
    haystack.range(of: Data(needle.utf8)) != nil
}

/// The JSON object a text frame holds (nil for anything else), for comparing messages whatever their spelling.
func jsonObject(_ frame: Frame) -> NSDictionary? {
    let data: Data
    switch frame {
    case .text(let string): data = Data(string.utf8)
    case .binary(let bytes): data = Data(bytes)
    }
    return (try? JSONSerialization.jsonObject(with: data)) as? NSDictionary
}

/// Waits, polling, until `condition` holds or `seconds` pass; returns whether it held. For waiting on a subprocess
/// or a file, never for judging speed.
func eventually(within seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// A value shared between threads, behind a lock (a class, so closures can hold it).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}
