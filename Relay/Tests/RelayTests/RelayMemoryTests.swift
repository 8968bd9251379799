// Issue 27, item 6: hostile clients cannot make the relay hold memory without bound. Continuation frames make messages
// of any size out of frames under the frame limit: five connections of two 60 MiB messages each took a relay to
// 1.48 GB with --save-log. Each test drives a relay process and reads its peak resident memory from /proc.
// scripts/test.sh runs these on their own, after the relay's other tests.
import Foundation
import Testing

@Suite("Relay: memory under hostile clients", .serialized)
struct RelayMemoryTests {
    /// Resident memory of a process now and at its peak (VmRSS, VmHWM), in bytes.
    private static func memory(of pid: Int32) -> (resident: Int, peak: Int) {
        (residentKiB(of: pid, "VmRSS:") << 10, residentKiB(of: pid, "VmHWM:") << 10)
    }

    /// An upstream that opens the session and sends one short answer (so that every recording holds audio), then
    /// waits for the client.
    private static let upstream: FakeUpstream.Behaviour = {
        let delta = "{\"type\":\"response.output_audio.delta\",\"response_id\":\"r1\",\"item_id\":\"i1\",\"output_index\":0,"
            + "\"content_index\":0,\"delta\":\"\(Data(count: 9_600).base64EncodedString())\"}"
        let steps = ["{\"type\":\"session.created\",\"session\":{\"id\":\"s1\",\"model\":\"gpt-realtime\"}}", delta].map {
            SessionScript.Step(frame: .text($0), audioSeconds: 0, clientMessagesBefore: 0)
        }
        return .init(script: SessionScript(clientSteps: [], serverSteps: steps))
    }()

    /// Sends, from each client in turn one frame at a time (so that every message is being joined at once), `messages`
    /// messages of `messageBytes` bytes each in frames of `frameBytes`: `input_audio_buffer.append` events whose audio is
    /// silence.
    private static func send(_ clients: [VanishingClient], messages: Int, messageBytes: Int, frameBytes: Int) async throws {
        let head = Array("{\"type\":\"input_audio_buffer.append\",\"audio\":\"".utf8), tail = Array("\"}".utf8)
        // The audio's base64 in whole groups of four, the message filled up to its size with whitespace after the object.
        let audio = (messageBytes - head.count - tail.count) / 4 * 4
        let payload = head + [UInt8](repeating: UInt8(ascii: "A"), count: audio) + tail
            + [UInt8](repeating: UInt8(ascii: " "), count: messageBytes - head.count - tail.count - audio)
        let frames = stride(from: 0, to: messageBytes, by: frameBytes).map { Array(payload[$0..<min($0 + frameBytes, messageBytes)]) }
        try await onThread {
            for _ in 0..<messages {
                for (index, frame) in frames.enumerated() {
                    for client in clients {
                        try client.sendFrame(opcode: index == 0 ? 1 : 0, final: index == frames.count - 1, payload: frame)
                    }
                }
            }
        }
    }

    /// Opens `clients` sessions and sends their messages (``send(_:messages:messageBytes:frameBytes:)``) until the
    /// upstream has them all; returns the clients and the relay's memory before the first message.
    private static func flood(_ scenario: RelayScenario, clients: Int, messages: Int, messageBytes: Int,
                              frameBytes: Int) async throws -> (clients: [VanishingClient], before: (resident: Int, peak: Int)) {
        let connected = try (0..<clients).map { _ in try VanishingClient(port: scenario.relay.port, pathAndQuery: "/v1/realtime?model=m") }
        #expect(await eventually(within: 30) { scenario.upstream.connections.count == clients })
        let before = memory(of: scenario.relay.process.processIdentifier)
        try await send(connected, messages: messages, messageBytes: messageBytes, frameBytes: frameBytes)
        #expect(await eventually(within: 120) { scenario.upstream.connections.allSatisfy { $0.received.count == messages } },
                "every message reached the upstream")
        return (connected, before)
    }

    /// Messages past `--max-message-bytes` are forwarded whole but never joined for the recording: 24 MiB messages in
    /// 2 MiB continuation frames from five connections at once leave the relay's peak memory within a few frames
    /// per connection of where it was, and each session's summary says what was not recorded.
    @Test func messagesPastTheLimitAreForwardedNotHeld() async throws {
        let clients = 5, messages = 1, messageBytes = 24 << 20, frameBytes = 2 << 20
        try await withRelay(upstream: Self.upstream, arguments: ["--save-log", "--track", "both"]) { scenario in
            let pid = scenario.relay.process.processIdentifier
            let (connected, before) = try await Self.flood(scenario, clients: clients, messages: messages, messageBytes: messageBytes,
                                                           frameBytes: frameBytes)
            for connection in scenario.upstream.connections {
                for frame in connection.received {
                    guard case .text(let text) = frame else { Issue.record("a message reached the upstream as binary"); continue }
                    #expect(text.utf8.count == messageBytes)
                }
            }
            let during = Self.memory(of: pid)
            let metrics = try await httpGet(port: scenario.relay.port, path: "/metrics").body
            #expect(metricValue(metrics, "deltatape_relay_messages_unrecorded_total", labels: ["reason=\"too_large\""]) == Double(clients * messages))
            for client in connected { client.vanish() }
            for connection in 1...clients {
                let (_, summary) = try await scenario.finishedRecording(connection: connection, extension: "wav")
                #expect(summary.contains("1 message forwarded but not recorded (1 larger than --max-message-bytes)"), "\(summary)")
            }
            #expect(scenario.relay.standardErrorLines.contains { $0.contains("forwarded but not recorded: it is larger than --max-message-bytes") })
            // In flight at once per connection, NIO's own: the read buffer a frame is cut from (grown by doubling), the
            // unmasked and masked copies written to the upstream, the next frame's read buffer while the last is still
            // written: measured 84 to 87 MiB for five connections of 2 MiB frames, about eight frames each (and 523 to
            // 560 MiB when these messages were joined for the recording, under a 64 MiB limit).
            let bound = clients * 10 * frameBytes + (32 << 20)
            #expect(during.peak - before.resident <= bound,
                    "peak \(during.peak >> 20) MiB, \((during.peak - before.resident) >> 20) MiB over the \(before.resident >> 20) MiB before; bound \(bound >> 20) MiB")
        }
    }

    /// All the recordings together hold no more than about `--recording-memory` of messages, joined or waiting: six
    /// connections each sending two 10 MiB messages (under the 16 MiB limit) in 1 MiB frames, all at once, leave the
    /// relay's peak within a few times the budget; the messages that found no room are forwarded but not recorded,
    /// and every recording still opens.
    @Test func recordingsTogetherStayWithinTheMemoryBudget() async throws {
        let clients = 6, messages = 2, messageBytes = 10 << 20, frameBytes = 1 << 20, budget = 32 << 20
        try await withRelay(upstream: Self.upstream, arguments: ["--save-log", "--track", "both", "--recording-memory", String(budget)]) { scenario in
            let pid = scenario.relay.process.processIdentifier
            let (connected, before) = try await Self.flood(scenario, clients: clients, messages: messages, messageBytes: messageBytes,
                                                           frameBytes: frameBytes)
            let metrics = try await httpGet(port: scenario.relay.port, path: "/metrics").body
            let unrecorded = metricValue(metrics, "deltatape_relay_messages_unrecorded_total", labels: ["reason=\"memory_budget\""]) ?? 0
            for client in connected { client.vanish() }
            var recordedSeconds = 0.0
            for connection in 1...clients {
                let (file, _) = try await scenario.finishedRecording(connection: connection, extension: "wav", within: 120)
                let wav = try await readWAVWithPython(file.path)
                recordedSeconds += Double(wav.frameCount) / Double(wav.sampleRate)
            }
            let during = Self.memory(of: pid)
            // Each message recorded is 10 MiB of base64 silence: (10 MiB - 47) × 3/4 bytes of PCM16 at 24 kHz, about
            // 164 s, on the user's track; the upstream's one answer is 0.2 s.
            let messageSeconds = Double((messageBytes - 47) / 4 * 3) / 48_000
            let recordedMessages = Int((recordedSeconds / messageSeconds).rounded())
            #expect(recordedMessages + Int(unrecorded) == clients * messages, "\(recordedMessages) recorded, \(unrecorded) not")
            print("budget test: \(recordedMessages) recorded, \(Int(unrecorded)) over the budget; peak \((during.peak - before.resident) >> 20) MiB over \(before.resident >> 20) MiB")
            let bound = 3 * budget + clients * 6 * frameBytes + (32 << 20)
            #expect(during.peak - before.resident <= bound,
                    "peak \(during.peak >> 20) MiB, \((during.peak - before.resident) >> 20) MiB over the \(before.resident >> 20) MiB before; bound \(bound >> 20) MiB")
        }
    }
}
