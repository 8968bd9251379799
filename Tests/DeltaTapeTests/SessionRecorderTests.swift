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
