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

    /// The one recording of `connection` with extension `ext`, once the relay printed its summary line.
    func finishedRecording(connection: Int = 1, extension ext: String, within seconds: Double = 60) async throws -> (file: URL, summary: String) {
        var found: URL?
        _ = try await eventually(within: seconds) {
            found = try recordings(connection: connection, extension: ext).first
            return found != nil
        }
        guard let file = found else {
            throw HarnessError("no recording *-\(connection).\(ext) in the output folder; it holds \(try files(in: outputDirectory)); "
                               + "relay stderr: \(relay.standardErrorLines)")
        }
        guard let summary = await relay.waitForSummary(of: file.lastPathComponent, within: seconds) else {
            throw HarnessError("no summary line names \(file.lastPathComponent); relay stderr: \(relay.standardErrorLines)")
        }
        return (file, summary)
    }
}

/// Runs `body` with a fake upstream behaving as `behaviour` and a relay started with `arguments` in front of it.
func withRelay<Value: Sendable>(
    upstream behaviour: FakeUpstream.Behaviour,
    arguments: [String] = [],
    prepareOutput: @Sendable (URL) throws -> Void = { _ in },
    _ body: @Sendable (RelayScenario) async throws -> Value
) async throws -> Value {
    let folder = try RelayTestEnvironment.temporaryDirectory("relay-output")
    defer { try? FileManager.default.removeItem(at: folder) }
    try prepareOutput(folder)
    let upstream = FakeUpstream(behaviour)
    return try await upstream.run { port in
        let relay = try await RelayProcess(upstream: "ws://127.0.0.1:\(port)", outputDirectory: folder, arguments: arguments)
        defer { relay.stop() }
        return try await body(RelayScenario(relay: relay, upstream: upstream, outputDirectory: folder))
    }
}
