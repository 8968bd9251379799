// What the relay costs (issue 16's benchmark): N concurrent real-time sessions on loopback, each sending a 50-ms audio
// delta every 50 ms each way (the client its microphone, the upstream its answer), first straight to a fake upstream
// (the anchor), then through deltatape-relay recording each session (WebM at complexity 5 by default). Reports the
// latency of a frame each way (p50, p99) on both paths, what the relay adds, and the relay's CPU and memory per session.
//
// A plain executable rather than an ordo-one benchmark: the quantity is a distribution of latencies inside one long run
// of many connections, not the time of a repeated operation, and the Benchmarks/ package stays free of the server stack.
//   swift run -c release --package-path Relay relay-benchmark [--sessions 100] [--seconds 20] [--format webm] [--complexity 5]
import Foundation
import Hummingbird
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return fallback }
    return arguments[at + 1]
}
let sessionCount = Int(option("--sessions", "100")) ?? 100
let seconds = Double(option("--seconds", "20")) ?? 20
let format = option("--format", "webm")
let complexity = option("--complexity", "5")
let frameMilliseconds = 50
let started = ContinuousClock.now

var quiet = Logger(label: "relay-benchmark")
quiet.logLevel = .critical

/// Nanoseconds since the benchmark started: sender and receiver share this process, hence this clock.
func now() -> Int64 {
    let elapsed = ContinuousClock.now - started
    return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
}

/// Answers of 5 s (100 frames), each a response and item of its own, as a realtime API sends them.
/// 50 ms of 24 kHz speech-like audio (two gliding tones and noise), base64: encoding it costs what speech costs.
let payload: String = {
    var samples = [Int16](repeating: 0, count: 24 * frameMilliseconds)
    var seed: UInt32 = 12_345
    for index in samples.indices {
        seed = seed &* 1_664_525 &+ 1_013_904_223
        let t = Double(index) / 24_000
        let value = 6_000 * sin(2 * .pi * (220 + 400 * t) * t) + 3_000 * sin(2 * .pi * 1_250 * t) + Double(Int32(seed >> 20) - 2_048)
        samples[index] = Int16(max(-32_768, min(32_767, value)))
    }
    return samples.withUnsafeBytes { Data($0).base64EncodedString() }
}()

func message(_ type: String, field: String, frame: Int) -> String {
    "{\"type\":\"\(type)\",\"event_id\":\"t\(now())-\(frame)\",\"response_id\":\"r\(frame / 100)\",\"item_id\":\"i\(frame / 100)\",\"output_index\":0,\"content_index\":0,\"\(field)\":\"\(payload)\"}"
}

/// The send time a message carries, unless it is one of a session's first second of frames: a connection's first
/// frames wait for its setup (the upstream's for the client's upgrade to complete), which is not forwarding.
func sentAt(_ text: String) -> Int64? {
    guard let range = text.range(of: "\"event_id\":\"t") else { return nil }
    let fields = text[range.upperBound...].prefix { $0 != "\"" }.split(separator: "-")
    guard fields.count == 2, let sent = Int64(fields[0]), let frame = Int(fields[1]), frame >= 1_000 / frameMilliseconds else { return nil }
    return sent
}

final class Latencies: Sendable {
    let samples = Mutex<[Int64]>([])
    func add(_ text: String) {
        guard let sent = sentAt(text) else { return }
        let latency = now() - sent
        samples.withLock { $0.append(latency) }
    }
    func take() -> [Int64] {
        samples.withLock { samples in
            defer { samples = [] }
            return samples.sorted()
        }
    }
}
let toClient = Latencies()
let toUpstream = Latencies()

/// Sends a message every 50 ms for `seconds`, on a schedule that does not drift.
func pace(_ send: (String) async throws -> Void, _ make: (Int) -> String) async throws {
    let frames = Int(seconds * 1_000) / frameMilliseconds
    let start = ContinuousClock.now
    for frame in 0..<frames {
        try await Task.sleep(until: start + .milliseconds(frame * frameMilliseconds), clock: .continuous)
        try await send(make(frame))
    }
}

// The fake upstream: answers each connection with paced audio deltas, timing the client's frames as they arrive.
let upstreamPort = OneTime()
let router = Router(context: BasicWebSocketRequestContext.self)
router.ws("**") { inbound, outbound, _ in
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await message in inbound.messages(maxSize: 1 << 24) {
                if case .text(let text) = message { toUpstream.add(text) }
            }
        }
        try await pace({ try await outbound.write(.text($0)) }) { message("response.output_audio.delta", field: "delta", frame: $0) }
        try await Task.sleep(for: .milliseconds(300))
        group.cancelAll()
    }
}
let application = Application(
    router: Router(context: BasicWebSocketRequestContext.self),
    server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .init(maxFrameSize: 1 << 24, autoPing: .disabled))),
    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
    onServerRunning: { upstreamPort.set($0.localAddress?.port ?? 0) },
    logger: quiet)
Task { try await application.run() }

final class OneTime: Sendable {
    private let value = Mutex<Int?>(nil)
    func set(_ new: Int) { value.withLock { $0 = new } }
    func wait() async -> Int {
        while true {
            if let value = value.withLock({ $0 }) { return value }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Runs every session at once against `port`.
func runSessions(port: Int) async {
    await withTaskGroup(of: Void.self) { group in
        for session in 0..<sessionCount {
            group.addTask {
                // Sessions start spread over one answer's length, as independent calls do: started together, every
                // session's answer would end, and be encoded, at the same moment.
                try? await Task.sleep(for: .milliseconds(session * 5_000 / max(1, sessionCount)))
                _ = try? await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/v1/realtime?model=benchmark",
                    configuration: .init(maxFrameSize: 1 << 24), logger: quiet
                ) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { sessions in
                        sessions.addTask {
                            try await pace({ try await outbound.write(.text($0)) }) { message("input_audio_buffer.append", field: "audio", frame: $0) }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { toClient.add(text) }
                        }
                        sessions.cancelAll()
                    }
                }
            }
        }
    }
}

func percentile(_ sorted: [Int64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1_000_000
}

struct Measured {
    var toClient: [Int64]
    var toUpstream: [Int64]
}

func measure(port: Int) async -> Measured {
    await runSessions(port: port)
    return Measured(toClient: toClient.take(), toUpstream: toUpstream.take())
}

/// CPU seconds (user + system) and peak resident memory of a process, from /proc.
func usage(of pid: Int32) -> (cpu: Double, peakKiB: Int, residentKiB: Int) {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    let ticks = fields.count > 12 ? (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) : 0
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    func kib(_ key: String) -> Int {
        status.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    }
    return (ticks / Double(sysconf(Int32(_SC_CLK_TCK))), kib("VmHWM:"), kib("VmRSS:"))
}

let port = await upstreamPort.wait()
print("relay-benchmark: \(sessionCount) sessions of \(seconds) s, a \(frameMilliseconds)-ms delta every \(frameMilliseconds) ms each way "
    + "(latencies of frames after each session's first second)")
let direct = await measure(port: port)

// The relay, as users run it: its own process, recording every session.
let relayPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("deltatape-relay").path
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("relay-benchmark-\(getpid())").path
let relay = Process()
relay.executableURL = URL(fileURLWithPath: relayPath)
relay.arguments = ["--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:\(port)", "--output-dir", folder, "--format", format]
    + (format == "wav" ? [] : ["--complexity", complexity])
let errors = Pipe()
relay.standardError = errors
try relay.run()
var relayPort = 0
var buffered = Data()
while relayPort == 0 {
    let chunk = errors.fileHandleForReading.availableData
    if chunk.isEmpty { fatalError("relay-benchmark: deltatape-relay ended before listening (built? \(relayPath))") }
    buffered.append(chunk)
    let text = String(decoding: buffered, as: UTF8.self)
    if let range = text.range(of: "listening on 127.0.0.1:") {
        relayPort = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
let before = usage(of: relay.processIdentifier)
let relayed = await measure(port: relayPort)
try await Task.sleep(for: .seconds(1))
let after = usage(of: relay.processIdentifier)
relay.interrupt()
// A relay that ignores SIGINT (as release builds once did) must fail the run, not hang it.
let patience = ContinuousClock.now + .seconds(30)
while relay.isRunning, ContinuousClock.now < patience { try await Task.sleep(for: .milliseconds(100)) }
if relay.isRunning {
    kill(relay.processIdentifier, SIGKILL)
    print("relay-benchmark: deltatape-relay was still running 30 s after SIGINT; killed")
    exit(1)
}
let lines = String(decoding: buffered + errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
let recorded = lines.filter { $0.contains(" s of audio") }.count
try? FileManager.default.removeItem(atPath: folder)

func row(_ name: String, _ direct: [Int64], _ relayed: [Int64]) -> String {
    let d50 = percentile(direct, 0.5), d99 = percentile(direct, 0.99), r50 = percentile(relayed, 0.5), r99 = percentile(relayed, 0.99)
    return "\(name): direct p50 \(String(format: "%.2f", d50)) ms p99 \(String(format: "%.2f", d99)) ms (\(direct.count) frames); "
        + "relayed p50 \(String(format: "%.2f", r50)) ms p99 \(String(format: "%.2f", r99)) ms (\(relayed.count) frames); "
        + "added p50 \(String(format: "%.2f", r50 - d50)) ms, p99 \(String(format: "%.2f", r99 - d99)) ms"
}
print(row("upstream → client", direct.toClient, relayed.toClient))
print(row("client → upstream", direct.toUpstream, relayed.toUpstream))
let cpu = after.cpu - before.cpu
print("relay process: \(String(format: "%.2f", cpu)) CPU s over \(seconds) s of \(sessionCount) sessions = "
    + "\(String(format: "%.2f", 100 * cpu / seconds / Double(sessionCount)))% of a core per session; peak RSS \(after.peakKiB / 1_024) MiB "
    + "(\(before.residentKiB / 1_024) MiB idle): \(String(format: "%.2f", Double(after.peakKiB - before.residentKiB) / 1_024 / Double(sessionCount))) MiB per session; "
    + "\(recorded) of \(sessionCount) recordings finished (\(format)\(format == "wav" ? "" : ", complexity \(complexity)"))")
