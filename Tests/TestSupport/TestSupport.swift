// Shared by the test targets: running reference tools (Python, sox, ffmpeg) and the deltatape binary,
// and the session fixtures generated once per test run by TestAudio/make-sessions.py.
public import Foundation

/// The result of running a process.
public struct ProcessResult: Sendable {
    /// The exit status.
    public var status: Int32
    /// Everything written to standard output.
    public var standardOutput: Data
    /// Everything written to standard error, as text.
    public var standardError: String
}

/// Where things are when tests run.
public enum TestEnvironment {
    /// The package's root folder.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `deltatape` binary built beside the test bundle.
    public static var deltatapeExecutable: URL {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for folder in candidates {
            let url = folder.appendingPathComponent("deltatape")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/debug/deltatape")
    }

    /// A new empty temporary folder, inside this test process's own folder, which is removed when the process exits
    /// (set `DELTATAPE_KEEP_TEST_FILES=1` to keep it): test runs left 21 GB of folders in /tmp here before.
    public static func temporaryDirectory() throws -> URL {
        let url = TestFolders.processFolder.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The folder of this test process's temporary files, `deltatape-tests.PID` in the system's temporary folder.
private enum TestFolders {
    static let root = FileManager.default.temporaryDirectory
    static let prefix = "deltatape-tests."

    /// Made on first use; the folders of test processes that are gone (killed before they could clean up) are removed
    /// then, and this one at exit.
    static let processFolder: URL = {
        removeFoldersOfEndedProcesses()
        let folder = root.appendingPathComponent(prefix + String(getpid()))
        try? FileManager.default.removeItem(at: folder)  // left by an earlier process with the same id
        if ProcessInfo.processInfo.environment["DELTATAPE_KEEP_TEST_FILES"] == nil {
            atexit { try? FileManager.default.removeItem(at: TestFolders.processFolder) }
        }
        return folder
    }()

    private static func removeFoldersOfEndedProcesses() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }
}

/// Blocks until `process` has exited. Foundation's `waitUntilExit()` spins its run loop on Linux (a core at 100% for as
/// long as it waits), and two such waits on Swift's cooperative threads starve every task of a test process; this
/// polls `isRunning`, which Foundation's own monitor thread updates, every 2 ms instead.
public func waitForExit(_ process: Process) {
    while process.isRunning { usleep(2_000) }
}

/// Runs `executable` with `arguments`, feeding `input` to its standard input, and waits for it.
public func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = stdout.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = stderr.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if let input {
        // A child that stops reading early (refusing its input) must fail the test, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
    }
    group.wait()
    waitForExit(process)
    return ProcessResult(status: process.terminationStatus, standardOutput: outData, standardError: String(decoding: errData, as: UTF8.self))
}

/// Runs a Python 3 script (the reference implementation for many expectations) and returns its standard output.
public func python(_ script: String, _ arguments: [String] = [], input: Data? = nil) throws -> Data {
    let result = try run("python3", ["-c", script] + arguments, input: input)
    guard result.status == 0 else {
        throw TestSupportError("python3 failed (\(result.status)): \(result.standardError)")
    }
    return result.standardOutput
}

/// Runs a Python 3 script that prints one line of `count` integers and then raw bytes (a reader's header fields, then
/// the samples it read); returns both.
public func pythonNumbersAndBytes(_ script: String, _ arguments: [String], count: Int) throws -> (numbers: [Int], bytes: Data) {
    let output = try python(script, arguments)
    guard let newline = output.firstIndex(of: 0x0A) else { throw TestSupportError("the script printed no header line") }
    let numbers = String(decoding: output[..<newline], as: UTF8.self).split(separator: " ").compactMap { Int($0) }
    guard numbers.count == count else { throw TestSupportError("the script's header line: \(numbers)") }
    return (numbers, Data(output[output.index(after: newline)...]))
}

/// A failure of the test machinery itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The session logs made by `TestAudio/make-sessions.py`, generated once per test process.
public enum GeneratedSessions {
    private static let fixtures = LazyFolder { try makeSessions([]) }
    private static let longSession = LazyFolder { try makeSessions(["--hours", "0.1"]) }

    /// The folder holding `NAME.jsonl`, `NAME.assistant.raw` and `manifest.json`.
    public static func directory() throws -> URL {
        try fixtures.value()
    }

    /// A 6-minute GA session log (`make-sessions.py --hours 0.1`), made once per test process.
    public static func sixMinuteLog() throws -> String {
        try longSession.value().appendingPathComponent("long.jsonl").path
    }

    private static func makeSessions(_ arguments: [String]) throws -> URL {
        let made = try TestEnvironment.temporaryDirectory()
        let script = TestEnvironment.packageRoot.appendingPathComponent("TestAudio/make-sessions.py").path
        let result = try run("python3", [script, made.path] + arguments)
        guard result.status == 0 else { throw TestSupportError("make-sessions.py failed: \(result.standardError)") }
        return made
    }

    /// The path of session `name`'s log (`NAME.jsonl`; `NAME.json` for the JSON array session, `NAME.har` for HARs).
    public static func log(_ name: String) throws -> String {
        for suffix in ["json", "har"] {
            let other = try directory().appendingPathComponent("\(name).\(suffix)")
            if FileManager.default.fileExists(atPath: other.path) { return other.path }
        }
        return try directory().appendingPathComponent("\(name).jsonl").path
    }

    /// The assistant PCM (16-bit little-endian) the script encoded into session `name`.
    public static func expectedAssistant(_ name: String) throws -> Data {
        try Data(contentsOf: directory().appendingPathComponent("\(name).assistant.raw"))
    }

    /// The user PCM (16-bit little-endian) the script encoded into session `name`.
    public static func expectedUser(_ name: String) throws -> Data {
        try Data(contentsOf: directory().appendingPathComponent("\(name).user.raw"))
    }

    /// A number the manifest gives for session `name` (for example `rate`).
    public static func manifestNumber(_ name: String, _ key: String) throws -> Int {
        let data = try Data(contentsOf: directory().appendingPathComponent("manifest.json"))
        guard let all = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]], let value = all[name]?[key] as? Int
        else { throw TestSupportError("manifest.json has no \(key) for \(name)") }
        return value
    }

    /// What the manifest says about session `name`.
    public static func manifest(_ name: String) throws -> (vocabulary: String, problemLines: [Int]) {
        let data = try Data(contentsOf: directory().appendingPathComponent("manifest.json"))
        guard let all = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]], let entry = all[name],
              let vocabulary = entry["vocabulary"] as? String, let lines = entry["problem_lines"] as? [Int]
        else { throw TestSupportError("manifest.json has no entry for \(name)") }
        return (vocabulary, lines)
    }
}

/// A folder made on first use, once even when tests run in parallel.
private final class LazyFolder: @unchecked Sendable {
    private let lock = NSLock()
    private var folder: URL?
    private let make: @Sendable () throws -> URL

    init(make: @escaping @Sendable () throws -> URL) {
        self.make = make
    }

    func value() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let folder { return folder }
        let made = try make()
        folder = made
        return made
    }
}

/// Reads audio with sox (an independent decoder) as raw 16-bit little-endian PCM.
public func soxDecodeToPCM16(_ path: String) throws -> Data {
    let result = try run("sox", [path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"])
    guard result.status == 0 else { throw TestSupportError("sox failed on \(path): \(result.standardError)") }
    return result.standardOutput
}

/// Reads audio with ffmpeg (an independent decoder) as raw 16-bit little-endian PCM; errors fail.
public func ffmpegDecodeToPCM16(_ path: String) throws -> Data {
    let result = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "s16le", "-"])
    guard result.status == 0, result.standardError.isEmpty else {
        throw TestSupportError("ffmpeg reported problems on \(path): \(result.standardError)")
    }
    return result.standardOutput
}

/// Starts `deltatape convert` on a generated 6-minute session towards `output`, waits until some of it is on
/// disk, and kills it with SIGKILL: what a crash leaves behind. Returns whether the process died of the signal.
public func convertAndKillMidway(output: String) throws -> Bool {
    let process = Process()
    process.executableURL = TestEnvironment.deltatapeExecutable
    // --complexity is an Opus setting, which a WAV output refuses.
    process.arguments = ["convert", try GeneratedSessions.sixMinuteLog(), "-o", output] + (output.hasSuffix(".wav") ? [] : ["--complexity", "0"])
    process.standardError = FileHandle.nullDevice
    try process.run()
    for _ in 0..<200 where ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0) < 20_000 {
        Thread.sleep(forTimeInterval: 0.02)
    }
    kill(process.processIdentifier, SIGKILL)
    waitForExit(process)
    return process.terminationReason == .uncaughtSignal
}
