import DeltaTape
import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

/// The converter writes to every kind of ``OutputDestination``, not only files: a sink of the caller's (seekable or
/// not) and an async writer. Each output is read by readers that did not write it (sox, ffmpeg, Python's `wave`), and
/// compared with the samples TestAudio/make-sessions.py encoded, or, for Opus, with the file the `.file` destination
/// wrote (a different code path: a descriptor, `pwrite` for the sizes written back).
@Suite struct ConverterDestinationTests {
    /// A seekable sink in memory: the converter writes the finalized form to it, as to a file.
    final class MemoryPositionalSink: PositionalByteSink {
        let name: String
        let collected: Collected
        private var bytes: [UInt8] = []
        init(name: String, collected: Collected) {
            self.name = name
            self.collected = collected
        }
        var byteCount: Int { bytes.count }
        let isSeekable = true
        func write(_ chunk: UnsafeRawBufferPointer) throws(OutputError) { bytes.append(contentsOf: chunk) }
        func write(_ chunk: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
            precondition(offset + chunk.count <= bytes.count, "a write back past the end")
            bytes.replaceSubrange(offset..<(offset + chunk.count), with: chunk)
        }
        func close() throws(OutputError) { collected.append(bytes) }
    }

    /// A sink that only appends (a pipe, an upload): the converter writes the streaming form.
    final class MemoryAppendingSink: ByteSink {
        let name = "appending"
        let collected: Collected
        private(set) var byteCount = 0
        init(collected: Collected) { self.collected = collected }
        func write(_ chunk: UnsafeRawBufferPointer) throws(OutputError) {
            collected.append(chunk)
            byteCount += chunk.count
        }
        func close() throws(OutputError) {}
    }

    private static func options(_ format: OutputFormat) -> ConversionOptions {
        var options = ConversionOptions(format: format)
        options.streamIdentifier = 0x5EED_0002
        return options
    }

    private static func saved(_ bytes: [UInt8], as name: String) throws -> String {
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    /// Reads a WAV with Python's `wave` module: channels, rate, width and every frame.
    private static func pythonWave(_ path: String) throws -> (channels: Int, rate: Int, width: Int, frames: Data) {
        let script = """
        import sys, wave
        with wave.open(sys.argv[1]) as w:
            frames = w.readframes(w.getnframes())
            sys.stdout.write(f"{w.getnchannels()} {w.getframerate()} {w.getsampwidth()} {len(frames)}\\n")
            sys.stdout.flush()
            sys.stdout.buffer.write(frames)
        """
        let (fields, frames) = try pythonNumbersAndBytes(script, [path], count: 4)
        guard fields[3] == frames.count else { throw TestSupportError("wave read \(fields[3]) bytes, printed \(frames.count)") }
        return (fields[0], fields[1], fields[2], frames)
    }

    /// A seekable sink of the caller's gets the very bytes a file gets; Python's `wave` and sox read them as the
    /// samples the script encoded.
    @Test func aSeekableSinkGetsTheFileForm() throws {
        let log = try GeneratedSessions.log("ga-basic")
        let expected = try GeneratedSessions.expectedAssistant("ga-basic")
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("file.wav").path
        _ = try SessionConverter.convert(input: log, to: .file(file), options: Self.options(.wav))
        let collected = Collected()
        let summary = try SessionConverter.convert(
            input: log, to: .custom { _ in MemoryPositionalSink(name: "memory", collected: collected) },
            options: Self.options(.wav))
        #expect(collected.bytes == [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
        let path = try Self.saved(collected.bytes, as: "custom.wav")
        let wave = try Self.pythonWave(path)
        #expect(wave.channels == 1 && wave.rate == 24_000 && wave.width == 2)
        #expect(wave.frames == expected)
        #expect(try soxDecodeToPCM16(path) == expected)
        #expect(summary.frameCount == expected.count / 2)
    }

    /// A sink that cannot seek and an async writer get the streaming WAV: sizes unknown (0xFFFFFFFF) in the header,
    /// every sample after it. Python's `wave` refuses unknown sizes, so sox and ffmpeg read these.
    @Test func anAppendingSinkAndAWriterGetTheStreamingForm() async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let expected = try GeneratedSessions.expectedAssistant("ga-basic")
        let appended = Collected()
        _ = try await SessionConverter.convert(input: log, to: .custom { _ in MemoryAppendingSink(collected: appended) },
                                               options: Self.options(.wav))
        let written = Collected()
        let writes = Tally<String>()
        _ = try await SessionConverter.convert(input: log, to: .writer(bufferedBytes: 16 << 10) { bytes in
            writes.append(Self.currentThreadName())
            try await Task.sleep(for: .microseconds(50))
            written.append(bytes)
        }, options: Self.options(.wav))
        #expect(writes.values.count > 1, "the writer receives chunks, not one buffer")
        #expect(Set(writes.values) == ["deltatape-wrt"], "the writer's task runs on its own thread")
        for (bytes, name) in [(appended.bytes, "appended.wav"), (written.bytes, "written.wav")] {
            #expect(Array(bytes.prefix(8).suffix(4)) == [0xFF, 0xFF, 0xFF, 0xFF], "RIFF size of a stream: \(name)")
            let path = try Self.saved(bytes, as: name)
            #expect(try soxDecodeToPCM16(path) == expected, "\(name)")
            #expect(try ffmpegDecodeToPCM16(path) == expected, "\(name)")
        }
        #expect(appended.bytes == written.bytes)
    }

    /// The blocking convert with a writer, while every thread of the cooperative pool is blocked (as a server's
    /// handlers that call it would block them): the writer's task has a thread of its own, so the convert ends.
    /// The pool is held by this test's thread and by tasks waiting on a gate that opens after a deadline, so that a
    /// writer starved of threads fails the test instead of hanging the run.
    @Test func aWriterRunsWhileThePoolIsBlocked() throws {
        let log = try GeneratedSessions.log("ga-basic")
        let expectedByteCount = try GeneratedSessions.expectedAssistant("ga-basic").count
        let gate = DispatchSemaphore(value: 0)
        let blockers = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        for _ in 0..<blockers {
            Task.detached { _ = gate.wait(timeout: .now() + 60) }
        }
        let done = DispatchSemaphore(value: 0)
        let written = Collected()
        let thread = Thread {
            _ = try? SessionConverter.convert(input: log, to: .writer(bufferedBytes: 8 << 10) { bytes in
                written.append(bytes)
            }, options: Self.options(.wav))
            done.signal()
        }
        thread.start()
        let ended = done.wait(timeout: .now() + 30) == .success
        for _ in 0..<blockers { gate.signal() }
        #expect(ended, "the convert waited 30 s for its writer: the writer's task got no thread")
        if ended { #expect(written.byteCount > expectedByteCount) }
    }

    /// The calling thread's name, as `top -H` shows it (Linux: `/proc/thread-self/comm`).
    private static func currentThreadName() -> String {
        let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "unreadable"
        return name.trimmingCharacters(in: .newlines)
    }

    /// Ogg and WebM through a seekable sink equal the file; through a writer they are streams every reader decodes
    /// to the file's samples (WebM without the sizes and cues written back, which ffprobe accepts).
    @Test(arguments: [OutputFormat.ogg, .webm]) func opusGoesToSinksAndWriters(_ format: OutputFormat) async throws {
        let log = try GeneratedSessions.log("ga-basic")
        let file = try TestEnvironment.temporaryDirectory().appendingPathComponent("file.\(format.rawValue)").path
        _ = try await SessionConverter.convert(input: log, to: .file(file), options: Self.options(format))
        let fileBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let positional = Collected()
        _ = try await SessionConverter.convert(
            input: log, to: .custom { _ in MemoryPositionalSink(name: "memory", collected: positional) },
            options: Self.options(format))
        #expect(positional.bytes == fileBytes)
        let written = Collected()
        _ = try await SessionConverter.convert(input: log, to: .writer { written.append($0) }, options: Self.options(format))
        let path = try Self.saved(written.bytes, as: "written.\(format.rawValue)")
        let probe = try run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,sample_rate", "-of",
                                        "default=nw=1", path])
        #expect(probe.status == 0 && probe.standardError.isEmpty, "ffprobe: \(probe.standardError)")
        #expect(String(decoding: probe.standardOutput, as: UTF8.self).contains("codec_name=opus"))
        let decoded = try ffmpegDecodeToPCM16(path)
        #expect(!decoded.isEmpty)
        #expect(decoded == (try ffmpegDecodeToPCM16(file)))
        if format == .ogg { #expect(written.bytes == fileBytes, "Ogg never seeks: one form for every destination") }
    }

    /// Separate tracks to a sink of the caller's: it is opened once per track, told which, and each gets the bytes
    /// the file of its track gets (`x.user.wav`, `x.assistant.wav`), which Python's `wave` reads.
    @Test func separateTracksOpenOneSinkPerTrack() throws {
        let log = try GeneratedSessions.log("ga-basic")
        var options = Self.options(.wav)
        options.track = .both
        options.layout = .separate
        let folder = try TestEnvironment.temporaryDirectory()
        _ = try SessionConverter.convert(input: log, to: .file(folder.appendingPathComponent("x.wav").path), options: options)
        let opened = Tally<AudioTrack?>()
        let user = Collected(), assistant = Collected()
        _ = try SessionConverter.convert(input: log, to: .custom { track in
            opened.append(track)
            return MemoryPositionalSink(name: "memory", collected: track == .user ? user : assistant)
        }, options: options)
        #expect(opened.values.map { $0.map(\.rawValue) ?? "none" }.sorted() == ["assistant", "user"])
        for (collected, track) in [(user, AudioTrack.user), (assistant, .assistant)] {
            let file = folder.appendingPathComponent("x.\(track.rawValue).wav")
            #expect(collected.bytes == [UInt8](try Data(contentsOf: file)), "\(track)")
            let wave = try Self.pythonWave(Self.saved(collected.bytes, as: "\(track.rawValue).wav"))
            #expect(wave.channels == 1 && wave.rate == 24_000 && wave.width == 2)
            #expect(pcm16Samples(wave.frames).contains { $0 != 0 }, "\(track) has its signal")
        }
    }
}

/// Values appended from any thread.
final class Tally<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
