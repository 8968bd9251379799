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
        let watermarks = SessionRecorder.Watermarks(low: 32 << 10, high: 128 << 10)
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
        var failure: DeltaTapeError?
        for message in try Self.messages(log) {
            do throws(DeltaTapeError) {
                try await recorder.record(message)
            } catch {
                failure = error
                break
            }
        }
        var finishFailure: DeltaTapeError?
        do throws(DeltaTapeError) {
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
        guard case .failure(let error) = outcome, case .cancelled? = error as? DeltaTapeError else {
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
