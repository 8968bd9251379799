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
    init(upstream: String, outputDirectory: URL, arguments: [String] = []) async throws {
        self.outputDirectory = outputDirectory
        process.executableURL = RelayTestEnvironment.relayExecutable
        process.arguments = ["--listen", "127.0.0.1:0", "--upstream", upstream, "--output-dir", outputDirectory.path] + arguments
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

    private static func port(inListeningLine line: String) -> Int? {
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

    /// Ends the relay if a test left it running.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// An HTTP GET on loopback, answered as (status, body); for `/healthz` and `/metrics`.
func httpGet(port: Int, path: String) async throws -> (status: Int, body: String) {
    let result = try await runProcess("curl", ["-s", "-m", "20", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
    guard result.status == 0 else { throw HarnessError("curl failed (\(result.status)) for \(path): \(result.standardError)") }
    let text = String(decoding: result.standardOutput, as: UTF8.self)
    guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
        throw HarnessError("curl printed no status for \(path)")
    }
    return (status, String(text[..<newline]))
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
