// The relay under test, run as the user runs it: the `deltatape-relay` executable as a subprocess, its port read
// from its first line on stderr, every later stderr line kept for the assertions.
import Foundation
import Synchronization

final class RelayProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let outputDirectory: URL
    private let lines = Shared<[String]>([])
    private let stderrDone = Shared(false)

    /// Starts `deltatape-relay --listen 127.0.0.1:0 --upstream UPSTREAM --output-dir DIR ARGUMENTS...` and waits
    /// for its listening line.
    /// - Parameter outputDirectoryArgument: What `--output-dir` is given instead of `outputDirectory`'s path (an
    ///   `s3://` prefix).
    init(upstream: String, outputDirectory: URL, outputDirectoryArgument: String? = nil, arguments: [String] = [],
         environment: [String: String] = [:]) async throws {
        self.outputDirectory = outputDirectory
        process.executableURL = RelayTestEnvironment.relayExecutable
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.arguments = ["--listen", "127.0.0.1:0", "--upstream", upstream, "--output-dir", outputDirectoryArgument ?? outputDirectory.path]
            + arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let handle = errorPipe.fileHandleForReading
        let lines = self.lines, done = self.stderrDone
        Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    lines.withLock { $0.append(line) }
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { lines.withLock { $0.append(String(decoding: pending, as: UTF8.self)) } }
            done.withLock { $0 = true }
        }.start()
        var found: Int?
        let deadline = Date().addingTimeInterval(60)
        while found == nil, Date() < deadline {
            found = lines.withLock { $0.lazy.compactMap(Self.port(inListeningLine:)).first }
            if found == nil, !process.isRunning, done.withLock({ $0 }) { break }
            if found == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard let found else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw HarnessError("the relay printed no '\(RelayContract.listeningPrefix)127.0.0.1:PORT' line; stderr: \(lines.withLock { $0 })")
        }
        port = found
    }

    /// The port a `listening on 127.0.0.1:PORT` line names; with `--log-format json`, the `listening` event's `port`
    /// (read with Foundation's JSON parser, not the relay's writer).
    private static func port(inListeningLine line: String) -> Int? {
        if line.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["event"] as? String == "listening" else { return nil }
            return object["port"] as? Int
        }
        guard let range = line.range(of: RelayContract.listeningPrefix + "127.0.0.1:") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// The relay's base WebSocket URL.
    var webSocketBase: String { "ws://127.0.0.1:\(port)" }

    /// Everything the relay printed on stderr so far, one element a line.
    var standardErrorLines: [String] { lines.withLock { $0 } }

    /// Waits until a stderr line satisfies `matches`; returns it, or nil after `seconds`.
    func waitForLine(within seconds: Double = 60, _ matches: @escaping (String) -> Bool) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = lines.withLock({ $0.first(where: matches) }) { return line }
            if !process.isRunning, stderrDone.withLock({ $0 }) { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return lines.withLock { $0.first(where: matches) }
    }

    /// Waits for the summary line naming `file` (a path in the output folder).
    func waitForSummary(of file: String, within seconds: Double = 60) async -> String? {
        await waitForLine(within: seconds) { $0.hasPrefix(RelayContract.linePrefix) && $0.contains(file) && !$0.contains("listening on") }
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit; returns its status and whether a signal ended it, or nil after `seconds`.
    func waitForExit(within seconds: Double) async -> (status: Int32, signalled: Bool)? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard !process.isRunning else { return nil }
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// Ends the relay if a test left it running. It does not wait for the exit: `stop()` runs in a `defer` on one of
    /// Swift's cooperative threads, and a blocking wait there (Foundation's `waitUntilExit()` spins a core) starved
    /// every fake upstream and client of the suite whenever two relays stopped at once. Foundation reaps the process.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}

// curl is not among the tools the project installs, so the few HTTP requests the tests make (/healthz, /metrics,
// an upgrade request whose refusal status matters) go over a plain socket.

/// Sends `head` (an HTTP/1.1 request without its final blank line; `Connection: close` is added) to
/// 127.0.0.1:`port` and returns the response's status and body (chunked bodies joined).
func httpRequest(port: Int, _ head: String) async throws -> (status: Int, body: String) {
    try await onThread {
        let descriptor = try sendRequest(port: port, head + "\r\nConnection: close")
        defer { close(descriptor) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            response += buffer[..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP response head: \(text.prefix(200))") }
        let headLines = text[..<headEnd.lowerBound].split(separator: "\r\n")
        let statusWords = headLines.first?.split(separator: " ") ?? []
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else { throw HarnessError("no status line: \(text.prefix(200))") }
        var body = String(text[headEnd.upperBound...])
        if headLines.contains(where: { $0.lowercased().hasPrefix("transfer-encoding:") && $0.lowercased().contains("chunked") }) {
            var joined = "", rest = Substring(body)
            while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
                let start = lineEnd.upperBound
                let utf8 = rest.utf8
                let end = utf8.index(start, offsetBy: size)
                joined += String(rest[start..<end])
                rest = rest[end...].dropFirst(2)
            }
            body = joined
        }
        return (status, body)
    }
}

/// Connects to 127.0.0.1:`port` (reads time out after 20 s) and sends `head` with a Host header and the final blank
/// line; returns the socket.
private func sendRequest(port: Int, _ head: String) throws -> Int32 {
    let descriptor = try connectToLoopback(port: port)
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array((head + "\r\nHost: 127.0.0.1:\(port)\r\n\r\n").utf8)
    var offset = 0
    while offset < request.count {
        let written = request[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written > 0 else {
            close(descriptor)
            throw HarnessError("write failed (errno \(errno))")
        }
        offset += written
    }
    return descriptor
}

/// Reads a response's head from `descriptor` a byte at a time (nothing after it), up to its blank line, or what came
/// before the peer closed or a receive timeout set on the socket passed.
func readResponseHead(_ descriptor: Int32) -> [UInt8] {
    var head: [UInt8] = []
    var byte: UInt8 = 0
    while !head.ends(with: [13, 10, 13, 10]), read(descriptor, &byte, 1) == 1 {
        head.append(byte)
    }
    return head
}

/// Sends an upgrade request `head` to 127.0.0.1:`port`, reads the response's head, and returns the connection's
/// descriptor, open, once it was answered 101 (the caller closes it).
func openUpgradedConnection(port: Int, _ head: String) async throws -> Int32 {
    try await onThread {
        let descriptor = try sendRequest(port: port, head)
        let response = readResponseHead(descriptor)
        guard String(decoding: response, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            close(descriptor)
            throw HarnessError("the upgrade was not accepted: \(String(decoding: response, as: UTF8.self))")
        }
        return descriptor
    }
}

/// Sends an upgrade request `head` to 127.0.0.1:`port` and returns the response's status and headers (names
/// lowercased), closing the connection as soon as the head is read (an accepted upgrade stays open otherwise).
func upgradeResponseHead(port: Int, _ head: String) async throws -> (status: Int, headers: [(name: String, value: String)]) {
    try await onThread {
        let descriptor = try sendRequest(port: port, head)
        defer { close(descriptor) }
        let response = readResponseHead(descriptor)
        let lines = String(decoding: response, as: UTF8.self).split(separator: "\r\n")
        let statusWords = lines.first?.split(separator: " ") ?? []
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else { throw HarnessError("no status line: \(lines.first ?? "")") }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (status, headers)
    }
}

/// An HTTP GET on loopback, answered as (status, body); for `/healthz` and `/metrics`.
func httpGet(port: Int, path: String) async throws -> (status: Int, body: String) {
    try await httpRequest(port: port, "GET \(path) HTTP/1.1")
}

/// The request head of a WebSocket upgrade of `pathAndQuery` (without Host and the final blank line).
func upgradeRequestHead(_ pathAndQuery: String) -> String {
    "GET \(pathAndQuery) HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
}

/// The value of one sample of a metric in Prometheus text format (`name{labels} value` or `name value`), where
/// the sample's labels include every one of `labels`; nil when absent.
func metricValue(_ text: String, _ name: String, labels: [String] = []) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        guard parts.count >= 2 else { continue }
        let series = parts[0]
        let metricName = series.prefix { $0 != "{" }
        guard metricName == name else { continue }
        if labels.allSatisfy({ series.contains($0) }) { return Double(parts[1]) }
    }
    return nil
}

/// A TCP socket connected to `127.0.0.1:port`.
func connectToLoopback(port: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw HarnessError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(descriptor)
        throw HarnessError("connect() to 127.0.0.1:\(port) failed (errno \(errno))")
    }
    return descriptor
}

/// A memory figure of a process in KiB, from /proc/PID/status (VmRSS: now; VmHWM: its peak).
func residentKiB(of pid: Int32, _ key: String) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    return status.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
}
