// A session log split into what each side of a realtime connection sends: the client's events (microphone audio,
// commits) and the server's (session.created, responses with audio deltas), each paced by the audio it carries.
import Foundation
import Synchronization

/// The two sides of a session log, as the fake upstream and the test client replay them.
struct SessionScript: Sendable {
    /// One message to send.
    struct Step: Sendable {
        var frame: Frame
        /// How long the audio this message carries plays (PCM16 at 24 kHz mono); 0 for messages without audio.
        var audioSeconds: Double
        /// How many of the client's messages came before this one in the log: the upstream waits until it has
        /// received that many before sending it, as a server answers what it has heard.
        var clientMessagesBefore: Int
    }

    var clientSteps: [Step] = []
    var serverSteps: [Step] = []

    /// Event types a client sends (the rest of the log is the server's).
    static let clientTypePrefixes = ["input_audio_buffer.", "conversation.item.create", "conversation.item.truncate",
                                     "session.update", "response.create", "response.cancel"]

    init(clientSteps: [Step], serverSteps: [Step]) {
        self.clientSteps = clientSteps
        self.serverSteps = serverSteps
    }

    /// Splits the JSONL log at `path`.
    init(log path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var clientCount = 0
        for line in text.split(whereSeparator: \.isNewline) where !line.allSatisfy(\.isWhitespace) {
            guard let message = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let type = message["type"] as? String else { throw HarnessError("not an event: \(line.prefix(80))") }
            let fromClient = Self.clientTypePrefixes.contains { type.hasPrefix($0) }
            let payload = fromClient ? message["audio"] : (type.hasSuffix("audio.delta") ? message["delta"] : nil)
            let seconds = (payload as? String).map { Double(Data(base64Encoded: $0)?.count ?? 0) / 48_000 } ?? 0
            let step = Step(frame: .text(String(line)), audioSeconds: seconds, clientMessagesBefore: clientCount)
            if fromClient {
                clientSteps.append(step)
                clientCount += 1
            } else {
                serverSteps.append(step)
            }
        }
    }

    /// Splits the JSONL log at `path`, once per test process (on a thread of its own): tests running in parallel
    /// each parsing the same long log kept both cores busy for seconds, starving every fake upstream and client.
    static func load(_ path: String) async throws -> SessionScript {
        let task = loaded.withLock { tasks in
            if let task = tasks[path] { return task }
            let task = Task { try await onThread { try SessionScript(log: path) } }
            tasks[path] = task
            return task
        }
        return try await task.value
    }

    private static let loaded = Mutex<[String: Task<SessionScript, any Error>]>([:])

    /// The same script ending after the server's `count`th message (and the client messages before it).
    func prefix(serverMessages count: Int) -> SessionScript {
        let server = Array(serverSteps.prefix(count))
        let clientLimit = server.last?.clientMessagesBefore ?? 0
        return SessionScript(clientSteps: Array(clientSteps.prefix(clientLimit)), serverSteps: server)
    }

    /// The script with frames the realtime log does not have added on both sides: binary frames (JSON inside, as
    /// Gemini sends it, and arbitrary bytes), a text frame larger than one WebSocket frame of 16 KiB, non-ASCII text.
    func withUnusualFrames() -> SessionScript {
        var generator = SystemRandomNumberGenerator()
        let arbitrary = (0..<3000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let json = Array(#"{"type":"binary.json","note":"sent as a binary frame"}"#.utf8)
        let large = #"{"type":"large.text","padding":""# + String(repeating: "abcdefgh", count: 12_500) + #""}"#
        let unicode = #"{"type":"unicode.text","text":"é ✓ 😀 \"quoted\" \\ \u00e9"}"#
        var script = self
        let middleClient = clientSteps.count / 2
        let extraClient: [Frame] = [.binary(json), .binary(arbitrary), .text(large), .text(unicode), .binary([])]
        for (offset, frame) in extraClient.enumerated() {
            script.clientSteps.insert(Step(frame: frame, audioSeconds: 0, clientMessagesBefore: 0), at: middleClient + offset)
        }
        // Server steps wait for client counts; the inserted client messages shift the counts of those after them.
        script.serverSteps = serverSteps.map { step in
            var step = step
            if step.clientMessagesBefore > middleClient { step.clientMessagesBefore += extraClient.count }
            return step
        }
        let middleServer = serverSteps.count / 2
        let waitFor = script.serverSteps[middleServer].clientMessagesBefore
        let extraServer: [Frame] = [.binary(arbitrary.reversed()), .text(large), .binary(json), .text(unicode)]
        for (offset, frame) in extraServer.enumerated() {
            script.serverSteps.insert(Step(frame: frame, audioSeconds: 0, clientMessagesBefore: waitFor), at: middleServer + offset)
        }
        return script
    }
}

/// Sends at real-time pace, sped up by a factor: each message carrying audio is due when the audio sent before it
/// has played (divided by `pace`), on one schedule so that sleeping late does not add up; after waiting for the
/// other side, the schedule starts again from now.
struct Pacer {
    let pace: Double
    private var nextDue = ContinuousClock.now
    private(set) var audioSeconds = 0.0

    init(pace: Double) { self.pace = pace }

    /// Waits until `step` is due, then counts its audio.
    mutating func waitForTurn(of step: SessionScript.Step) async throws {
        guard step.audioSeconds > 0 else { return }
        if nextDue > .now { try await Task.sleep(until: nextDue) }
        nextDue = nextDue + .seconds(step.audioSeconds / pace)
        audioSeconds += step.audioSeconds
    }

    /// After a wait for the other side: audio is not sent in a burst to make up for it.
    mutating func resynchronize() {
        nextDue = max(nextDue, .now)
    }
}
