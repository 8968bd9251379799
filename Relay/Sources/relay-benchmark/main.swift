// What the relay costs (issue 16's benchmark): N concurrent real-time sessions on loopback, each sending a 50-ms audio
// delta every 50 ms each way (the client its microphone, the upstream its answer), first straight to a fake upstream
// (the anchor), then through deltatape-relay recording each session (WebM at complexity 5 by default). Reports the
// latency of a frame each way (p50, p99) on both paths, what the relay adds, and the relay's CPU and memory per session.
//
// A plain executable rather than an ordo-one benchmark: the quantity is a distribution of latencies inside one long run
// of many connections, not the time of a repeated operation, and the Benchmarks/ package stays free of the server stack.
//
// The load (every client and the fake upstream) runs on one SwiftNIO event loop, frames written and read by channel
// handlers: it shares this machine's cores with the relay, so it must cost little and add little latency of its own.
// (Its first version, on Hummingbird's async WebSocket client and server, took half of a core of two and measured the
// direct path itself at p99 5-8 ms: the relay's p99 was lost in it.) `--pin` puts the load on the first core and the
// relay on the others, as when clients and upstream are other machines.
// `--s3` runs the sessions a third time, recording into object storage (SeaweedFS on loopback, which shares the cores).
//   swift run -c release --package-path Relay relay-benchmark [--sessions 100] [--seconds 20] [--format webm] [--complexity 5] [--pin] [--aligned] [--s3]
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import TestSupport

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return fallback }
    return arguments[at + 1]
}
let sessionCount = Int(option("--sessions", "100")) ?? 100
let seconds = Double(option("--seconds", "20")) ?? 20
let format = option("--format", "webm")
let complexity = option("--complexity", "5")
let pinned = arguments.contains("--pin")
let aligned = arguments.contains("--aligned")
let frameMilliseconds = 50
let framesPerSession = Int(seconds * 1_000) / frameMilliseconds
let started = ContinuousClock.now

/// Nanoseconds since the benchmark started: sender and receiver share this process, hence this clock.
func now() -> Int64 {
    let elapsed = ContinuousClock.now - started
    return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
}

/// glibc's sched_setaffinity, which its Swift overlay does not carry (it is behind _GNU_SOURCE).
@_silgen_name("sched_setaffinity")
func setAffinity(_ pid: pid_t, _ size: Int, _ mask: UnsafeRawPointer) -> Int32

/// Runs the calling thread on these cores only.
func pinCurrentThread(to cores: ClosedRange<Int>) {
    var mask = [UInt64](repeating: 0, count: 16)  // 1 024 cores, glibc's cpu_set_t
    for core in cores where core < 1_024 { mask[core / 64] |= 1 << UInt64(core % 64) }
    if setAffinity(0, mask.count * 8, mask) != 0 { print("relay-benchmark: --pin: sched_setaffinity failed (errno \(errno))") }
}
let coreCount = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
if pinned && coreCount < 2 { print("relay-benchmark: --pin needs two cores or more"); exit(2) }

let load = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = load.next()
if pinned {
    try loop.submit { pinCurrentThread(to: 0...0) }.wait()
    pinCurrentThread(to: 0...0)
}

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

/// Frame `frame` of a side's messages, stamped with the time it is written. Answers of 5 s (100 frames), each a
/// response and item of its own, as a realtime API sends them.
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
    /// Each timed frame's latency, with when it arrived (ns since the start).
    let samples = Mutex<[(latency: Int64, arrival: Int64)]>([])
    func add(_ text: String) {
        guard let sent = sentAt(text) else { return }
        let arrival = now()
        samples.withLock { $0.append((arrival - sent, arrival)) }
    }
    func take() -> Timed {
        samples.withLock { samples in
            defer { samples = [] }
            return Timed(samples)
        }
    }
}

/// The latencies of one path and direction: sorted, and where in time the slow ones fell (one stall of the machine
/// shows as many slow frames within a second; a relay slow throughout, as slow frames in every second).
struct Timed {
    var sorted: [Int64]
    /// Frames over 2 ms, and the most of them in one second of the run (with that second, from the start).
    var slowCount: Int
    var slowestSecond: (second: Int, count: Int)

    init(_ samples: [(latency: Int64, arrival: Int64)]) {
        sorted = samples.map(\.latency).sorted()
        let slow = samples.filter { $0.latency > 2_000_000 }
        slowCount = slow.count
        let perSecond = Dictionary(grouping: slow) { Int($0.arrival / 1_000_000_000) }.mapValues(\.count)
        let worst = perSecond.max { $0.value < $1.value }
        slowestSecond = (worst?.key ?? 0, worst?.value ?? 0)
    }
}
let toClient = Latencies()
let toUpstream = Latencies()
let failures = Atomic<Int>(0)

/// One end of a session, on the load's event loop: writes a message every 50 ms on a schedule that does not drift,
/// times the messages it reads. The upstream end closes (1000) 300 ms after its last message; a close frame is answered
/// with its own payload, then the connection is closed.
final class PacedEnd: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    enum Role { case client, upstream }

    let role: Role
    private var next = 0
    private var start = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var sentClose = false

    init(role: Role) { self.role = role }

    func handlerAdded(context: ChannelHandlerContext) {
        start = .now()
        schedule(context)
    }

    private func schedule(_ context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if next < framesPerSession {
            timer = context.eventLoop.scheduleTask(deadline: start + .milliseconds(Int64(next * frameMilliseconds))) {
                let (end, context) = loopBound.value
                end.sendNext(context)
            }
        } else if role == .upstream {
            timer = context.eventLoop.scheduleTask(deadline: start + .milliseconds(Int64(next * frameMilliseconds + 300))) {
                let (end, context) = loopBound.value
                end.close(context, payload: nil)
            }
        }
    }

    private func sendNext(_ context: ChannelHandlerContext) {
        guard !sentClose else { return }
        let text = role == .client
            ? message("input_audio_buffer.append", field: "audio", frame: next)
            : message("response.output_audio.delta", field: "delta", frame: next)
        next += 1
        // A client masks every frame it sends (RFC 6455 §5.1); a server masks none.
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: role == .client ? .random() : nil, data: ByteBuffer(string: text))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        schedule(context)
    }

    private func close(_ context: ChannelHandlerContext, payload: ByteBuffer?) {
        guard !sentClose else { return }
        sentClose = true
        timer?.cancel()
        var data = payload ?? ByteBuffer()
        if payload == nil { data.write(webSocketErrorCode: .normalClosure) }
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: role == .client ? .random() : nil, data: data)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            (role == .client ? toClient : toUpstream).add(String(buffer: frame.unmaskedData))
        case .connectionClose:
            if sentClose {
                context.close(promise: nil)
            } else {
                close(context, payload: frame.unmaskedData)
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failures.add(1, ordering: .relaxed)
        context.close(promise: nil)
    }
}

// The fake upstream: accepts any WebSocket upgrade and answers with paced audio deltas.
let upstream = try ServerBootstrap(group: load)
    .serverChannelOption(.backlog, value: 1_024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 24,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PacedEnd(role: .upstream)) }
            })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        }
    }
    .bind(host: "127.0.0.1", port: 0).wait()
let port = upstream.localAddress?.port ?? 0

/// One session's client: connects, asks for the upgrade, then runs as a paced end; completes when its connection closes.
func runClient(port: Int, after delay: TimeAmount) -> EventLoopFuture<Void> {
    let done = loop.makePromise(of: Void.self)
    loop.scheduleTask(in: delay) {
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24) { channel, _ in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PacedEnd(role: .client)) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenComplete { result in
                guard case .success(let channel) = result else {
                    failures.add(1, ordering: .relaxed)
                    done.succeed()
                    return
                }
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/realtime?model=benchmark",
                                           headers: ["Host": "127.0.0.1:\(port)", "Content-Length": "0"])
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                channel.closeFuture.whenComplete { _ in done.succeed() }
            }
    }
    return done.futureResult
}

/// Runs every session at once against `port`. Sessions start spread over one answer's length, as independent calls
/// do (started together, every session's answer would end, and be encoded, at the same moment), each at its own phase
/// of the 50-ms frame clock: a phase drawn at random (the same draws every run), as calls that know nothing of each
/// other have. `--aligned` starts them all in phase instead, 200 frames due at the same instant every 50 ms: the worst
/// case, which the first versions of this benchmark measured by accident (their starts were whole multiples of 50 ms).
func runSessions(port: Int) throws {
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    let clients = (0..<sessionCount).map { session in
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let phase = aligned ? 0 : Int64(seed >> 33) % Int64(frameMilliseconds * 1_000)
        return runClient(port: port, after: .milliseconds(Int64(session * 5_000 / max(1, sessionCount))) + .microseconds(phase))
    }
    try EventLoopFuture.andAllComplete(clients, on: loop).wait()
}

func percentile(_ sorted: [Int64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1_000_000
}

struct Measured {
    var toClient: Timed
    var toUpstream: Timed
}

func measure(port: Int) throws -> Measured {
    try runSessions(port: port)
    return Measured(toClient: toClient.take(), toUpstream: toUpstream.take())
}

/// CPU seconds (user + system) of a /proc stat line.
func cpuSeconds(ofStat stat: String) -> Double {
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    let ticks = fields.count > 12 ? (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) : 0
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds (user + system) of a process, of its event-loop threads (SwiftNIO names them NIO-SGLTN-…: they forward
/// frames; recordings run on threads of their own, named deltatape-…), and its peak and current resident memory, from /proc.
func usage(of pid: Int32) -> (cpu: Double, eventLoopCPU: Double, peakKiB: Int, residentKiB: Int) {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    let eventLoops = tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/stat", encoding: .utf8) }
        .filter { $0.contains("(NIO-SGLTN-") }.map(cpuSeconds(ofStat:)).reduce(0, +)
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    func kib(_ key: String) -> Int {
        status.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    }
    return (cpuSeconds(ofStat: stat), eventLoops, kib("VmHWM:"), kib("VmRSS:"))
}

print("relay-benchmark: \(sessionCount) sessions of \(seconds) s, a \(frameMilliseconds)-ms delta every \(frameMilliseconds) ms each way, "
    + (aligned ? "all sessions in phase" : "each session at a phase of its own") + " (latencies of frames after each session's first second)")
let direct = try measure(port: port)

/// One run of the sessions through the relay, as users run it: its own process, recording every session.
struct RelayRun {
    var measured: Measured
    var before: (cpu: Double, eventLoopCPU: Double, peakKiB: Int, residentKiB: Int)
    var after: (cpu: Double, eventLoopCPU: Double, peakKiB: Int, residentKiB: Int)
    /// Recordings the relay said finished.
    var recorded: Int
}

/// Runs the sessions through a relay recording into `output` (a folder, or `s3://…` with `environment`'s credentials).
func measureRelay(output: String, extraArguments: [String] = [], environment: [String: String] = [:]) throws -> RelayRun {
    let relayPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("deltatape-relay").path
    let relay = Process()
    relay.executableURL = URL(fileURLWithPath: relayPath)
    relay.arguments = ["--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:\(port)", "--output-dir", output, "--format", format]
        + (format == "wav" ? [] : ["--complexity", complexity]) + extraArguments
    if !environment.isEmpty { relay.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let errors = Pipe()
    relay.standardError = errors
    // The relay inherits the affinity of the thread that starts it.
    if pinned { pinCurrentThread(to: 1...(coreCount - 1)) }
    try relay.run()
    if pinned { pinCurrentThread(to: 0...0) }
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
    let relayed = try measure(port: relayPort)
    Thread.sleep(forTimeInterval: 1)
    let after = usage(of: relay.processIdentifier)
    relay.interrupt()
    // A relay that ignores SIGINT (as release builds once did) must fail the run, not hang it.
    let patience = ContinuousClock.now + .seconds(30)
    while relay.isRunning, ContinuousClock.now < patience { Thread.sleep(forTimeInterval: 0.1) }
    if relay.isRunning {
        kill(relay.processIdentifier, SIGKILL)
        print("relay-benchmark: deltatape-relay was still running 30 s after SIGINT; killed")
        exit(1)
    }
    let lines = String(decoding: buffered + errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
    for line in lines where line.contains("failed") { print("relay-benchmark: the relay said: \(line.prefix(300))") }
    return RelayRun(measured: relayed, before: before, after: after, recorded: lines.filter { $0.contains(" s of audio") }.count)
}

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("relay-benchmark-\(getpid())").path
let local = try measureRelay(output: folder)
try? FileManager.default.removeItem(atPath: folder)
// With --s3, the same sessions again into object storage (SeaweedFS on loopback, started here), reported beside the
// local files' run: what uploading adds.
var intoS3: RelayRun?
if arguments.contains("--s3") {
    let server = try S3TestServer.shared()
    let spool = folder + "-spool"
    intoS3 = try measureRelay(output: "s3://\(server.bucket)/relay-benchmark-\(getpid())/", extraArguments: ["--spool", spool],
                              environment: ["AWS_ACCESS_KEY_ID": server.accessKeyID, "AWS_SECRET_ACCESS_KEY": server.secretAccessKey,
                                            "AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": server.region])
    try? FileManager.default.removeItem(atPath: spool)
    server.stop()
}

func row(_ name: String, _ direct: Timed, _ relayed: Timed) -> String {
    let d50 = percentile(direct.sorted, 0.5), d99 = percentile(direct.sorted, 0.99)
    let r50 = percentile(relayed.sorted, 0.5), r99 = percentile(relayed.sorted, 0.99)
    func slow(_ timed: Timed) -> String {
        "\(timed.slowCount) over 2 ms" + (timed.slowCount > 0 ? ", \(timed.slowestSecond.count) of them in second \(timed.slowestSecond.second)" : "")
    }
    return "\(name): direct p50 \(String(format: "%.2f", d50)) ms p99 \(String(format: "%.2f", d99)) ms (\(direct.sorted.count) frames, \(slow(direct))); "
        + "relayed p50 \(String(format: "%.2f", r50)) ms p99 \(String(format: "%.2f", r99)) ms (\(relayed.sorted.count) frames, \(slow(relayed))); "
        + "added p50 \(String(format: "%.2f", r50 - d50)) ms, p99 \(String(format: "%.2f", r99 - d99)) ms"
}
/// The rows of one relay run against the direct path.
func report(_ run: RelayRun, into output: String) {
    print("recording into \(output):")
    print(row("  upstream → client", direct.toClient, run.measured.toClient))
    print(row("  client → upstream", direct.toUpstream, run.measured.toUpstream))
    let cpu = run.after.cpu - run.before.cpu
    let forwardingCPU = run.after.eventLoopCPU - run.before.eventLoopCPU
    let frameCount = Double(2 * sessionCount * framesPerSession)
    print("  relay process: \(String(format: "%.2f", cpu)) CPU s over \(seconds) s of \(sessionCount) sessions, "
        + "\(String(format: "%.2f", forwardingCPU)) s of it on the event loops (\(String(format: "%.0f", forwardingCPU / frameCount * 1e6)) µs per frame forwarded) = "
        + "\(String(format: "%.2f", 100 * cpu / seconds / Double(sessionCount)))% of a core per session; peak RSS \(run.after.peakKiB / 1_024) MiB "
        + "(\(run.before.residentKiB / 1_024) MiB idle): \(String(format: "%.2f", Double(run.after.peakKiB - run.before.residentKiB) / 1_024 / Double(sessionCount))) MiB per session; "
        + "\(run.recorded) of \(sessionCount) recordings finished (\(format)\(format == "wav" ? "" : ", complexity \(complexity)"))")
}
report(local, into: "local files")
if let intoS3 { report(intoS3, into: "s3:// (SeaweedFS on loopback)") }
// Every timed frame must have arrived, each way, on both paths (the release smoke in CI relies on this).
let expected = sessionCount * max(0, framesPerSession - 1_000 / frameMilliseconds)
let counts = ([direct.toClient, direct.toUpstream] + [local, intoS3].compactMap { $0 }.flatMap { [$0.measured.toClient, $0.measured.toUpstream] })
    .map(\.sorted.count)
let failed = failures.load(ordering: .relaxed)
if failed > 0 || counts.contains(where: { $0 != expected }) {
    print("relay-benchmark: \(failed) connections failed; frames timed \(counts) (direct to client, to upstream; then relayed, "
        + "for each run), expected \(expected) each")
}
// Also the load's own cost, which shares the cores: what the numbers above stand on.
let loadCPU = usage(of: getpid()).cpu
print("load generator: \(String(format: "%.2f", loadCPU)) CPU s in all (every run, \(sessionCount) sessions each)"
    + (pinned ? "; pinned to core 0, the relay to cores 1-\(coreCount - 1)" : ""))
try? upstream.close().wait()
if failed > 0 || counts.contains(where: { $0 != expected }) { exit(1) }
