import DeltaTape
import Foundation
import Synchronization
import Testing
import TestSupport

/// A recorder made to read a session log's bytes: whatever pieces they come in (a byte, a line and a half, a whole
/// file), the file holds the PCM the generator encoded, problems name the lines the generator damaged, and a caller on a
/// thread of its own is held back with the buffer within the high watermark.
@Suite struct SessionRecorderLogTests {
    /// The samples of the 6-minute log's assistant audio as a plain Python script decodes them (json, base64 and wave:
    /// the benchmarks' anchor), an expectation independent of DeltaTape's reading.
    static func sixMinutePCMByPython() throws -> [UInt8] {
        let script = TestEnvironment.packageRoot.appendingPathComponent("Benchmarks/Anchors/plain_convert.py").path
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("python.wav").path
        let result = try run("python3", [script, try GeneratedSessions.sixMinuteLog(), output])
        guard result.status == 0 else { throw TestSupportError("plain_convert.py failed: \(result.standardError)") }
        return SessionRecorderTests.samplesOfWAV(Array(try Data(contentsOf: URL(fileURLWithPath: output))))
    }

    /// The bytes of session `name`'s log.
    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: try GeneratedSessions.log(name))))
    }

    /// Every kind of log, in random pieces from a byte to tens of kilobytes, through `append`.
    @Test(arguments: ["ga-basic", "json-array", "har-openai", "crlf-bom"])
    func aLogInPiecesRecordsTheGeneratorsPCM(_ session: String) async throws {
        let bytes = try Self.bytes(session)
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("\(session).wav").path
        let recorder = SessionLogRecorder(name: session, sink: .file(output), arrival: .stored)
        var generator = SeededGenerator()
        var offset = 0
        var pieceCount = 0
        while offset < bytes.count {
            let size = [1, 7, 700, 5_000, 70_000].randomElement(using: &generator) ?? 1
            let end = min(bytes.count, offset + Int.random(in: 1...size, using: &generator))
            try await recorder.append(bytes[offset..<end])
            offset = end
            pieceCount += 1
        }
        let summary = try await recorder.finish()
        #expect(pieceCount > 10)
        #expect(summary.inputByteCount == bytes.count)
        #expect(summary.problemCount == 0)
        // Independent reader: sox decodes the file; the expectation is the PCM the generator encoded.
        #expect(try soxDecodeToPCM16(output) == GeneratedSessions.expectedAssistant(session))
    }

    /// A 6-minute log handed over in one piece, many chunks' worth, gives the samples a plain Python script decodes.
    @Test func aWholeLogInOnePieceGivesThePythonScriptsSamples() async throws {
        let log = try GeneratedSessions.sixMinuteLog()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: log)))
        let collected = Collected()
        let recorder = SessionLogRecorder(sink: .custom { _ in SlowSink(collected: collected, delay: 0) }, arrival: .stored)
        try await recorder.append(bytes)
        let summary = try await recorder.finish()
        #expect(bytes.count > 4 * ByteChunk.defaultCapacity)
        #expect(summary.inputByteCount == bytes.count)
        #expect(SessionRecorderTests.samplesOfWAV(collected.bytes) == (try Self.sixMinutePCMByPython()))
    }

    /// Problems name the lines the generator damaged, as the converter's do.
    @Test func problemsNameTheirLines() async throws {
        let problems = Mutex<[Problem]>([])
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("malformed.wav").path
        let recorder = SessionLogRecorder(name: "malformed", sink: .file(output), arrival: .stored) { problem in
            problems.withLock { $0.append(problem) }
        }
        let bytes = try Self.bytes("malformed")
        for start in stride(from: 0, to: bytes.count, by: 333) {
            try await recorder.append(bytes[start..<min(bytes.count, start + 333)])
        }
        _ = try await recorder.finish()
        let lines = Set(problems.withLock { $0.map(\.line) })
        #expect(lines == Set(try GeneratedSessions.manifest("malformed").problemLines), "\(problems.withLock { $0 })")
    }

    /// A thread of the caller's feeds a 6-minute log through `appendBlocking` to a sink that takes 20 ms a write:
    /// the caller is held back, the buffer never holds more than the high watermark, and the file holds what a plain Python script decodes.
    @Test func aThreadIsHeldBackWithinTheHighWatermark() async throws {
        let log = try GeneratedSessions.sixMinuteLog()
        let watermarks = BufferWatermarks(low: 1 << 20, high: 3 << 20)
        let collected = Collected()
        let recorder = SessionLogRecorder(sink: .custom { _ in SlowSink(collected: collected, delay: 0.02) }, arrival: .stored,
                                          watermarks: watermarks)
        let descriptor = open(log, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<(ConversionSummary, BufferStatistics), ConversionError>, Never>) in
            Thread.detachNewThread {
                continuation.resume(returning: Result { () throws(ConversionError) in
                    while try recorder.appendBlocking(filling: { buffer in read(descriptor, buffer.baseAddress, buffer.count) }) > 0 {}
                    let statistics = recorder.statistics
                    return (try recorder.finishBlocking(), statistics)
                })
            }
        }
        let (summary, statistics) = try outcome.get()
        #expect(statistics.suspensions > 0, "the caller was never held back: \(statistics)")
        #expect(statistics.peakBufferedBytes <= watermarks.high, "\(statistics)")
        #expect(statistics.peakBufferedBytes > watermarks.high - ByteChunk.defaultCapacity, "the buffer never filled: \(statistics)")
        #expect(summary.inputByteCount == (try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int))
        #expect(SessionRecorderTests.samplesOfWAV(collected.bytes) == (try Self.sixMinutePCMByPython()))
    }

    /// A failure of the caller's reading ends the recording after the bytes before it: finishing throws it as an
    /// unreadable input, and the file holds the audio of the lines before.
    @Test func aReadFailureEndsTheRecording() throws {
        let bytes = try Self.bytes("ga-basic")
        let output = try TestEnvironment.temporaryDirectory().appendingPathComponent("read-failure.wav").path
        let recorder = SessionLogRecorder(sink: .file(output), arrival: .stored)
        // The first half of the log (in as many chunks as it takes), then a failure.
        let half = bytes.count / 2
        var sent = 0
        while sent < half {
            sent += try recorder.appendBlocking { buffer in
                let piece = bytes[sent..<min(half, sent + buffer.count)]
                buffer.copyBytes(from: piece)
                return piece.count
            }
        }
        #expect(throws: ConversionError.unreadableInput(InputError(name: "disk", reason: "read failed: I/O error", code: 5))) {
            _ = try recorder.appendBlocking { _ throws(InputError) in throw InputError(name: "disk", reason: "read failed: I/O error", code: 5) }
        }
        #expect(throws: ConversionError.unreadableInput(InputError(name: "disk", reason: "read failed: I/O error", code: 5))) {
            _ = try recorder.finishBlocking()
        }
        let written = try soxDecodeToPCM16(output)
        let expected = try GeneratedSessions.expectedAssistant("ga-basic")
        #expect(written.count > 0 && written.count < expected.count)
        #expect(written == expected.prefix(written.count))
    }
}
