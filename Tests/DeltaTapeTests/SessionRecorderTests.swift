import DeltaTape
import Foundation
import Synchronization
import Testing
import TestSupport

/// The live recorder: messages handed over one at a time, as a relay would, give the file a conversion of the same log
/// gives; a slow sink holds the caller back with the buffer under its high watermark; an async writer receives the
/// streaming form; a failing sink surfaces its error and leaves the audio before it.
@Suite struct SessionRecorderTests {
    /// The lines of a generated session log.
    static func messages(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    @Test func recordingMessageByMessageEqualsConvertingTheLog() async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let folder = try TestEnvironment.temporaryDirectory()
        let recorded = folder.appendingPathComponent("recorded.wav").path
        let recorder = SessionRecorder(name: "ga-basic", sink: .file(recorded))
        for message in try Self.messages(log) { try await recorder.record(message) }
        let summary = try await recorder.finish()
        #expect(summary.frameCount * 2 == (try GeneratedSessions.expectedAssistant("ga-basic")).count)
        // Independent reader: sox decodes the recorded file; the expectation is the PCM the generator encoded.
        #expect(try soxDecodeToPCM16(recorded) == GeneratedSessions.expectedAssistant("ga-basic"))
    }

    /// The session log a recording keeps (messages in the `{time, source, event}` envelope, pretty-printed and invalid
    /// messages included) converts again to the same audio, and says which way each message went.
    @Test func theSessionLogKeptConvertsToTheSameAudio() async throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let saved = folder.appendingPathComponent("saved.jsonl").path
        let recorder = SessionRecorder(sink: .file(folder.appendingPathComponent("live.wav").path), sessionLog: .file(saved))
        let lines = try Self.messages(try GeneratedSessions.log("ga-basic"))
        for (index, line) in lines.enumerated() {
            let sent = line.contains("input_audio_buffer") || line.contains("\"session.update\"")
            // Every tenth message arrives pretty-printed over several lines, as some servers send it.
            let message = index % 10 == 3
                ? String(decoding: try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(line.utf8)),
                                                              options: .prettyPrinted), as: UTF8.self)
                : line
            try await recorder.record(message, receivedAt: 1_795_000_000 + Double(index) / 10, direction: sent ? .sent : .received)
        }
        try await recorder.record("not json at all\n\"quoted\"")
        _ = try await recorder.finish()
        let savedLines = try String(contentsOfFile: saved, encoding: .utf8).split(separator: "\n")
        #expect(savedLines.count == lines.count + 1)
        let first = try JSONSerialization.jsonObject(with: Data(savedLines[1].utf8)) as? [String: Any]
        #expect(first?["source"] as? String == "client", "\(savedLines[1].prefix(120))")
        #expect(first?["time"] as? Double == 1_795_000_000.1)
        let problems = Mutex<[Problem]>([])
        _ = try await SessionConverter.convert(input: saved, to: .file(folder.appendingPathComponent("again.wav").path)) { problem in
            problems.withLock { $0.append(problem) }
        }
        #expect(try soxDecodeToPCM16(folder.appendingPathComponent("again.wav").path) == GeneratedSessions.expectedAssistant("ga-basic"))
        // The message that was not JSON was reported when it was recorded; the log keeps it as a JSON string, which
        // reads as an event of no known kind: no audio, no problem.
        #expect(problems.withLock { $0.isEmpty }, "\(problems.withLock { $0 })")
        #expect(savedLines.last?.hasSuffix(#"\"quoted\""}"#) == true, "\(savedLines.last ?? "")")
    }

    /// A sink that takes 20 ms a write: the recorder's thread falls behind, its buffer fills, and the caller is
    /// suspended; the buffer never holds more than the high watermark.
    @Test func aSlowSinkSuspendsTheCallerWithinTheHighWatermark() async throws {
        let log = try GeneratedSessions.sixMinuteLog()
        let watermarks = BufferWatermarks(low: 32 << 10, high: 128 << 10)
        let collected = Collected()
        let recorder = SessionRecorder(sink: .custom { _ in SlowSink(collected: collected, delay: 0.02) }, watermarks: watermarks)
        var largest = 0
        for message in try Self.messages(log) {
            largest = max(largest, message.utf8.count)
            try await recorder.record(message)
        }
        let statistics = recorder.statistics
        let summary = try await recorder.finish()
        #expect(largest < watermarks.high)
        #expect(statistics.suspensions > 0, "the caller was never held back: \(statistics)")
        #expect(statistics.peakBufferedBytes <= watermarks.high, "\(statistics)")
        #expect(statistics.peakBufferedBytes > watermarks.high - largest, "the buffer never filled: \(statistics)")
        #expect(summary.frameCount > 24_000 * 300)
        #expect(collected.byteCount > summary.frameCount * 2)
    }

    /// Recorders sharing a memory budget (a relay's sessions) together hold no more than it: with both recording
    /// threads stuck in their sinks, offers are taken until the budget is spent (each recorder's own watermark far off),
    /// then answered `.overBudget`; once the messages are recorded the budget is whole again.
    @Test func recordersSharingABudgetHoldNoMoreThanIt() async throws {
        let lines = try Self.messages(try GeneratedSessions.sixMinuteLog())
        let budget = RecordingMemoryBudget(bytes: 256 << 10)
        let stuck = DispatchSemaphore(value: 0)
        let entered = (0..<2).map { _ in DispatchSemaphore(value: 0) }
        let recorders = entered.map { entered in
            SessionRecorder(sink: .custom { _ in StuckSink(collected: Collected(), until: stuck, entered: entered) },
                            watermarks: BufferWatermarks(low: 4 << 20, high: 8 << 20), memoryBudget: budget)
        }
        // Each recorder's thread first gets as far as its sink's first write, which holds it (record() is not charged).
        var remaining = lines[...]
        for (recorder, entered) in zip(recorders, entered) {
            var reached = false
            while !reached, let line = remaining.popFirst() {
                try await recorder.record(line)
                try await Task.sleep(for: .milliseconds(1))
                reached = entered.wait(timeout: .now()) == .success
            }
            #expect(reached || entered.wait(timeout: .now() + 30) == .success, "a recording never wrote")
        }
        var acceptedBytes = 0, largest = 0, overBudget = 0
        for (index, line) in remaining.prefix(2_000).enumerated() where overBudget < 20 {
            switch try recorders[index % 2].offer(line.utf8) {
            case .accepted:
                acceptedBytes += line.utf8.count
                largest = max(largest, line.utf8.count)
            case .full: Issue.record("a recorder's own watermark (8 MiB) was reached")
            case .overBudget: overBudget += 1
            }
            #expect(budget.heldBytes <= budget.limit)
        }
        #expect(overBudget == 20)
        // Nothing offered was recorded yet: the budget holds it all, within a message of its limit.
        #expect(budget.heldBytes == acceptedBytes)
        #expect(acceptedBytes <= budget.limit && acceptedBytes > budget.limit - largest, "accepted \(acceptedBytes) bytes")
        stuck.signal()
        stuck.signal()
        for recorder in recorders { _ = try await recorder.finish() }
        #expect(budget.heldBytes == 0, "every message recorded gave its charge back")
    }

    /// `offer` never waits: while the sink is stuck it answers `.full` once the buffer holds the high watermark, and
    /// never holds more; what it accepted is recorded in order (the accepted messages, converted as a log by the
    /// converter, give the same samples).
    /// Also with `neverWaiting` (a relay's event loop), where a message that finds the recording thread holding the
    /// lock is kept by the recorder and handed over, in order, by a later offer.
    @Test(arguments: [false, true])
    func offerNeverWaitsAndRefusesPastTheHighWatermark(neverWaiting: Bool) async throws {
        let lines = try Self.messages(try GeneratedSessions.sixMinuteLog())
        let watermarks = BufferWatermarks(low: 32 << 10, high: 128 << 10)
        let collected = Collected()
        let stuck = DispatchSemaphore(value: 0)
        let folder = try TestEnvironment.temporaryDirectory()
        let recorder = SessionRecorder(sink: .custom { _ in StuckSink(collected: collected, until: stuck) }, watermarks: watermarks)
        var accepted: [String] = []
        var refused = 0
        var remaining = lines[...]
        // The sink is stuck at its first write: offered messages fill the buffer and then are refused.
        while let line = remaining.first, refused < 50 {
            switch try recorder.offer(line.utf8, neverWaiting: neverWaiting) {
            case .accepted: accepted.append(line)
            case .full: refused += 1
            case .overBudget: Issue.record("the recorder has no memory budget, yet it answered overBudget")
            }
            remaining = remaining.dropFirst()
        }
        let statistics = recorder.statistics
        stuck.signal()
        for line in remaining {
            try await recorder.record(line)
            accepted.append(line)
        }
        _ = try await recorder.finish()
        #expect(refused == 50)
        #expect(statistics.suspensions == 0)
        #expect(statistics.peakBufferedBytes <= watermarks.high, "\(statistics)")
        #expect(statistics.peakBufferedBytes > watermarks.high - 16 << 10, "\(statistics)")
        // The converter reads the accepted messages as a log: the samples must be the same.
        let log = folder.appendingPathComponent("accepted.jsonl")
        try Data(accepted.joined(separator: "\n").utf8).write(to: log)
        let converted = folder.appendingPathComponent("accepted.wav").path
        _ = try await SessionConverter.convert(input: log.path, to: .file(converted)) { _ in }
        // The recorder wrote through a sink that cannot seek (a streaming header), the converter a file (with room for
        // an RF64 header): the samples are what follows each one's `data` chunk header.
        let recordedSamples = Self.samplesOfWAV(collected.bytes)
        let convertedSamples = Self.samplesOfWAV(Array(try Data(contentsOf: URL(fileURLWithPath: converted))))
        #expect(recordedSamples.count > 24_000 * 2 * 60)
        let firstDifference = recordedSamples.indices.first { $0 >= convertedSamples.count || recordedSamples[$0] != convertedSamples[$0] }
        #expect(recordedSamples.count == convertedSamples.count && firstDifference == nil,
                "recorded \(recordedSamples.count) bytes, converted \(convertedSamples.count), first difference at \(firstDifference ?? -1)")
    }

    /// The bytes after the first `data` chunk header of a WAV.
    static func samplesOfWAV(_ bytes: [UInt8]) -> [UInt8] {
        let tag = Array("data".utf8)
        guard let at = (12..<max(12, bytes.count - 8)).first(where: { Array(bytes[$0..<$0 + 4]) == tag }) else { return [] }
        return Array(bytes[(at + 8)...])
    }

    /// Each recorder's thread is one of its own: 300 recordings at once (more than the 255 threads Dispatch's pool
    /// runs on Linux, where the 256th would never start) all finish. Planted: with the recorder's thread taken from
    /// Dispatch again, the whole test process froze (Swift's executor on Linux draws on the same pool), which is what
    /// a relay with 255 open recordings would do.
    @Test func threeHundredRecordingsAtOnceAllFinish() async throws {
        let lines = try Self.messages(try GeneratedSessions.log("ga-basic"))
        let expectedBytes = try GeneratedSessions.expectedAssistant("ga-basic").count
        let gate = Collected()
        // Every sink blocks its recorder's thread until all 300 have started writing.
        let recorders = (0..<300).map { _ in
            SessionRecorder(sink: .custom { _ in GatedSink(gate: gate, count: 300) })
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for recorder in recorders {
                group.addTask {
                    // A failed recording still ends with finish(), which lets its thread go.
                    do {
                        for line in lines { try await recorder.record(line) }
                    } catch {}
                    return try await recorder.finish().frameCount * 2
                }
            }
            for try await byteCount in group { #expect(byteCount == expectedBytes) }
        }
    }

    /// An async writer receives the streaming WAV (sizes 0xFFFFFFFF: it cannot seek), which sox reads to the end.
    @Test func anAsyncWriterReceivesTheStreamingForm() async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let collected = Collected()
        let recorder = SessionRecorder(sink: .writer(bufferedBytes: 64 << 10) { bytes in
            try await Task.sleep(for: .microseconds(100))
            collected.append(bytes)
        })
        for message in try Self.messages(log) { try await recorder.record(message) }
        _ = try await recorder.finish()
        let bytes = collected.bytes
        #expect(bytes.count > 44)
        #expect(Array(bytes[4..<8]) == [0xFF, 0xFF, 0xFF, 0xFF], "RIFF size of a stream")
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("stream.wav")
        try Data(bytes).write(to: file)
        #expect(try soxDecodeToPCM16(file.path) == GeneratedSessions.expectedAssistant("ga-basic"))
    }

    /// A sink that fails after 100 000 bytes: the failure reaches the caller as an output error naming the sink, and
    /// finish() throws it too.
    @Test func aFailingSinkSurfacesItsErrorToTheCaller() async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let recorder = SessionRecorder(sink: .custom { _ in FailingSink(limit: 100_000) })
        var failure: ConversionError?
        for message in try Self.messages(log) {
            do throws(ConversionError) {
                try await recorder.record(message)
            } catch {
                failure = error
                break
            }
        }
        var finishFailure: ConversionError?
        do throws(ConversionError) {
            _ = try await recorder.finish()
        } catch {
            finishFailure = error
        }
        guard let finishFailure else { Issue.record("finish() succeeded after the sink failed"); return }
        #expect(finishFailure.description.contains("full-sink"), "\(finishFailure)")
        guard case .output = finishFailure else { Issue.record("not an output error: \(finishFailure)"); return }
        if let failure { #expect(failure == finishFailure) }
    }

    /// A task cancelled while it records: record throws .cancelled, and finish() still finalizes what was recorded.
    @Test func aCancelledTaskStopsRecordingAndFinishStillFinalizes() async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("cancelled.wav").path
        let recorder = SessionRecorder(sink: .file(output))
        let lines = try Self.messages(log)
        let task = Task {
            for message in lines {
                if message.contains("resp_002") { withUnsafeCurrentTask { $0?.cancel() } }
                try await recorder.record(message)
            }
        }
        let outcome = await task.result
        guard case .failure(let error) = outcome, case .cancelled? = error as? ConversionError else {
            Issue.record("record did not throw .cancelled: \(outcome)")
            return
        }
        let summary = try await recorder.finish()
        // Everything before the second response: the first response's two items.
        #expect(summary.frameCount > 0)
        #expect(try soxDecodeToPCM16(output).count == summary.frameCount * 2)
    }
}

/// Bytes gathered across threads.
final class Collected: Sendable {
    private let storage = Mutex<[UInt8]>([])
    func append(_ bytes: some Sequence<UInt8>) { storage.withLock { $0.append(contentsOf: bytes) } }
    var bytes: [UInt8] { storage.withLock { $0 } }
    var byteCount: Int { storage.withLock { $0.count } }
}

/// A sink that sleeps on every write.
final class SlowSink: ByteSink {
    let name = "slow-sink"
    private(set) var byteCount = 0
    let collected: Collected
    let delay: Double
    init(collected: Collected, delay: Double) {
        self.collected = collected
        self.delay = delay
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        Thread.sleep(forTimeInterval: delay)
        collected.append(bytes)
        byteCount += bytes.count
    }
    func close() throws(OutputError) {}
}

/// A sink whose first write waits until `count` sinks sharing `gate` have made theirs: the recorders' threads are all
/// alive at once.
final class GatedSink: ByteSink {
    let name = "gated-sink"
    private(set) var byteCount = 0
    let gate: Collected
    let count: Int
    private var opened = false
    init(gate: Collected, count: Int) {
        self.gate = gate
        self.count = count
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        byteCount += bytes.count
        guard !opened else { return }
        opened = true
        gate.append([0])
        let deadline = Date().addingTimeInterval(60)
        while gate.byteCount < count, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        guard gate.byteCount >= count else { throw OutputError(path: name, reason: "only \(gate.byteCount) of \(count) recordings started") }
    }
    func close() throws(OutputError) {}
}

/// A sink whose first write waits for `until` to be signalled.
final class StuckSink: ByteSink {
    let name = "stuck-sink"
    private(set) var byteCount = 0
    let collected: Collected
    let until: DispatchSemaphore
    /// Signalled when the first write comes, before it waits.
    let entered: DispatchSemaphore?
    init(collected: Collected, until: DispatchSemaphore, entered: DispatchSemaphore? = nil) {
        self.collected = collected
        self.until = until
        self.entered = entered
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        if byteCount == 0 {
            entered?.signal()
            until.wait()
        }
        collected.append(bytes)
        byteCount += bytes.count
    }
    func close() throws(OutputError) {}
}

/// A sink that fails once it has taken `limit` bytes.
final class FailingSink: ByteSink {
    let name = "full-sink"
    private(set) var byteCount = 0
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard byteCount + bytes.count <= limit else { throw OutputError(path: name, reason: "no space left after \(byteCount) bytes") }
        byteCount += bytes.count
    }
    func close() throws(OutputError) {}
}

/// The priority of a background recording's threads, read from /proc by thread name: serialized, since these are the
/// only tests that make background recordings, and run beside each other each saw the other's threads (a fresh-clone
/// CI run failed both).
@Suite(.serialized) struct BackgroundRecordingPriorityTests {
    /// A recording in the background runs its threads (the recorder's and the encoder's) at nice 10 under SCHED_IDLE,
    /// read back from /proc, each named for what it does (a thread otherwise carries its starter's name: `top -H` showed
    /// a relay's recorders as its event loops); the caller's thread keeps its own priority.
    @Test func aBackgroundRecordingRunsItsThreadsAtALowerPriority() async throws {
        /// The names of this process's threads at nice 10 under SCHED_IDLE.
        func nicedThreads() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
                let stat = (try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8)) ?? ""
                // Fields after the command's closing parenthesis (proc(5) numbers them from 1 with pid): state is
                // the first (field 3), nice the 17th (field 19), the scheduling policy the 39th (field 41; 5 is SCHED_IDLE).
                let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
                guard fields.count > 38 && fields[16] == "10" && fields[38] == "5" else { return nil }
                return stat.firstIndex(of: "(").flatMap { open in stat.lastIndex(of: ")").map { String(stat[stat.index(after: open)..<$0]) } }
            }
        }
        let before = try nicedThreads()
        var options = ConversionOptions()
        options.format = .webm
        options.runsInBackground = true
        let stuck = DispatchSemaphore(value: 0)
        let recorder = SessionRecorder(options: options, sink: .custom { _ in StuckSink(collected: Collected(), until: stuck) })
        // offer, not record: the stuck sink holds the recording back, and record would wait for it.
        for line in try SessionRecorderTests.messages(try GeneratedSessions.sixMinuteLog()) { _ = try recorder.offer(line.utf8) }
        // The encoder's thread starts at the first audio the timeline writes; the recorder's at once.
        // Other tests' recordings come and go beside this one: each name is counted against what was there before.
        var niced: [String] = []
        func seesBoth() -> Bool {
            ["deltatape-rec", "deltatape-enc"].allSatisfy { name in niced.filter { $0 == name }.count > before.filter { $0 == name }.count }
        }
        for _ in 0..<1_000 where !seesBoth() {  // at most 10 s: a SCHED_IDLE thread starts late on a busy host
            niced = try nicedThreads()
            if !seesBoth() { try await Task.sleep(for: .milliseconds(10)) }
        }
        stuck.signal()
        _ = try await recorder.finish()
        #expect(niced.filter { $0 == "deltatape-rec" }.count > before.filter { $0 == "deltatape-rec" }.count, "\(niced)")
        #expect(niced.filter { $0 == "deltatape-enc" }.count > before.filter { $0 == "deltatape-enc" }.count, "\(niced)")
    }

    /// The scheduling policy (proc(5) field 41: 0 ordinary, 5 `SCHED_IDLE`) of each of this process's threads named
    /// `name`.
    static func policies(ofThreadsNamed name: String) throws -> [Int] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
            let stat = (try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8)) ?? ""
            guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: open)..<close] == name else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 38 ? Int(fields[38]) : nil
        }
    }

    /// A background recording's threads leave `SCHED_IDLE` as soon as it is asked to finish: beside busy ordinary
    /// threads (a build's) a `SCHED_IDLE` thread has CFS weight 3 against their 1024, and a relay on a loaded host did
    /// not finish its recordings within a minute of SIGTERM. The recording is held by a stuck sink, so its thread is
    /// seen under `SCHED_IDLE`, then, once `finish()` was called and before the sink lets go, under the ordinary policy.
    /// Planted (no raise in finish): the thread stayed at policy 5.
    @Test func finishingABackgroundRecordingRaisesItsThread() async throws {
        var options = ConversionOptions()
        options.runsInBackground = true
        let stuck = DispatchSemaphore(value: 0)
        let before = try Self.policies(ofThreadsNamed: "deltatape-rec")
        let recorder = SessionRecorder(options: options, sink: .custom { _ in StuckSink(collected: Collected(), until: stuck) })
        for line in try SessionRecorderTests.messages(try GeneratedSessions.log("ga-basic")) { _ = try recorder.offer(line.utf8) }
        // Other tests' recordings run beside this one: counted against what was there before (polled, at most 10 s).
        var idle = 0
        for _ in 0..<1_000 {
            idle = try Self.policies(ofThreadsNamed: "deltatape-rec").filter { $0 == 5 }.count
            if idle > before.filter({ $0 == 5 }).count { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(idle > before.filter { $0 == 5 }.count, "no recording thread under SCHED_IDLE")
        let finishing = Task { try await recorder.finish() }
        var raised = false
        for _ in 0..<1_000 where !raised {
            // The stuck sink holds this recording's thread: it is the one whose policy changes.
            raised = try Self.policies(ofThreadsNamed: "deltatape-rec").filter { $0 == 5 }.count < idle
            if !raised { try await Task.sleep(for: .milliseconds(10)) }
        }
        stuck.signal()
        _ = try await finishing.value
        #expect(raised, "the recording thread stayed under SCHED_IDLE while finishing")
    }
}
