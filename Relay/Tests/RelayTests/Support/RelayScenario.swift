// One loopback scenario: a fake upstream, the relay in front of it recording into a fresh folder, and whatever the
// test does through them; the relay is killed and the folder removed afterwards.
import Foundation

/// The relay and the upstream behind it, for the duration of one test.
struct RelayScenario: Sendable {
    let relay: RelayProcess
    let upstream: FakeUpstream
    let outputDirectory: URL

    /// A client of the relay running `script` on `path` (with its query).
    func client(_ script: SessionScript, path: String = "/v1/realtime?model=gpt-realtime",
                headers: [(name: String, value: String)] = [], closesAfterReceiving: Int? = nil,
                pace: Double = RelayTestEnvironment.pace) -> RealtimeClient {
        RealtimeClient(.init(url: relay.webSocketBase + path, headers: headers, script: script, pace: pace,
                             closesAfterReceiving: closesAfterReceiving))
    }

    /// The files in the output folder whose names follow `<YYYYMMDDTHHMMSSZ>-<connection>.<ext>`.
    func recordings(connection: Int = 1, extension ext: String) throws -> [URL] {
        try files(in: outputDirectory)
            .filter { RelayContract.isRecordingName($0, connection: connection, extension: ext) }
            .map { outputDirectory.appendingPathComponent($0) }
    }

    /// The one recording of `connection` with extension `ext`, once the relay printed its summary line: the file that
    /// line names (a recording is renamed with its session's id as it is finalized), standing in the output folder.
    func finishedRecording(connection: Int = 1, extension ext: String, within seconds: Double = 60) async throws -> (file: URL, summary: String) {
        var found: (file: URL, summary: String)?
        _ = await eventually(within: seconds) {
            found = finishedRecordingNamed(connection: connection, extension: ext)
            return found != nil
        }
        guard let found else {
            throw HarnessError("no summary line names a recording *-\(connection)-*.\(ext) in the output folder; it holds "
                               + "\((try? files(in: outputDirectory)) ?? []); relay stderr: \(relay.standardErrorLines)")
        }
        return found
    }

    /// The recording of `connection` a summary line names, if one does and the file stands.
    private func finishedRecordingNamed(connection: Int, extension ext: String) -> (file: URL, summary: String)? {
        for line in relay.standardErrorLines where line.hasPrefix(RelayContract.linePrefix) && !line.contains("listening on") {
            for word in line.split(separator: " ") {
                let name = URL(fileURLWithPath: String(word.hasSuffix(":") ? word.dropLast() : word)).lastPathComponent
                let file = outputDirectory.appendingPathComponent(name)
                if RelayContract.isRecordingName(name, connection: connection, extension: ext), FileManager.default.fileExists(atPath: file.path) {
                    return (file, line)
                }
            }
        }
        return nil
    }

    /// The saved log (`--save-log`) beside `recording`: the same name with `.jsonl`. The summary line names the
    /// recording only, so the log is looked for once the recording's summary was printed.
    func savedLog(of recording: URL) throws -> URL {
        let log = recording.deletingPathExtension().appendingPathExtension("jsonl")
        guard FileManager.default.fileExists(atPath: log.path) else {
            throw HarnessError("no saved log \(log.lastPathComponent); the output folder holds \(try files(in: outputDirectory))")
        }
        return log
    }
}

/// Runs `body` with a fake upstream behaving as `behaviour` and a relay started with `arguments` (and `environment`, given
/// the output folder) in front of it.
func withRelay<Value: Sendable>(
    upstream behaviour: FakeUpstream.Behaviour,
    arguments: [String] = [],
    environment: @Sendable (URL) -> [String: String] = { _ in [:] },
    prepareOutput: @Sendable (URL) throws -> Void = { _ in },
    _ body: @Sendable (RelayScenario) async throws -> Value
) async throws -> Value {
    let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
    defer { try? FileManager.default.removeItem(at: folder) }
    try prepareOutput(folder)
    let upstream = FakeUpstream(behaviour)
    return try await upstream.run { port in
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder, arguments: arguments,
                                       environment: environment(folder))
        defer { relay.stop() }
        return try await body(RelayScenario(relay: relay, upstream: upstream, outputDirectory: folder))
    }
}

// A recording whose sink stalls for good. The relay makes its files new under names with a random part, so nothing a
// test plants can stand where a recording is written (RelayLinkTests hold that); instead the relay's test hook,
// DELTATAPE_RELAY_TEST_RECORDING_SINK, sends the recordings' audio to a FIFO that nobody reads. Opening it for writing
// blocks the recorder's thread: a genuinely stuck sink, not a slow one.

/// A FIFO in the output folder that the relay's recordings write their audio to.
struct StalledRecordingFIFOs: Sendable {
    let names = ["stalled-recording.wav"]

    /// The relay's environment that points its recordings at the FIFO in `folder`.
    func environment(in folder: URL) -> [String: String] {
        ["DELTATAPE_RELAY_TEST_RECORDING_SINK": folder.appendingPathComponent(names[0]).path]
    }

    func create(in folder: URL) {
        for name in names { _ = mkfifo(folder.appendingPathComponent(name).path, 0o644) }
    }

    /// Reads every FIFO to its end on threads of its own, so the stuck recorder can finish and the relay exit;
    /// returns what the recorder wrote, by name, once its writer closed (or after `seconds`).
    @discardableResult
    func drain(in folder: URL, within seconds: Double = 60) async -> [String: Data] {
        let drained = Shared<[String: Data]>([:])
        let finished = Shared(0)
        var opened = 0
        for name in names {
            let descriptor = open(folder.appendingPathComponent(name).path, O_RDONLY | O_NONBLOCK)
            guard descriptor >= 0 else { continue }
            opened += 1
            Thread {
                _ = fcntl(descriptor, F_SETFL, 0)
                var buffer = [UInt8](repeating: 0, count: 65536)
                var data = Data()
                while true {
                    let count = read(descriptor, &buffer, buffer.count)
                    if count <= 0 { break }
                    data.append(contentsOf: buffer[..<count])
                }
                close(descriptor)
                if !data.isEmpty { drained.withLock { $0[name] = data } }
                finished.withLock { $0 += 1 }
            }.start()
        }
        let total = opened
        _ = await eventually(within: seconds) { finished.withLock { $0 } == total }
        return drained.withLock { $0 }
    }
}
