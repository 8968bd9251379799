import DeltaTapeKernels

/// Something PCM samples are written to: a WAV file, a WAV stream.
package protocol PCMWriter: AnyObject {
    /// The output's path or name, for messages.
    var path: String { get }
    /// Frames per second.
    var sampleRate: Int { get }
    /// Channels per frame.
    var channelCount: Int { get }
    /// The sample format written.
    var sampleFormat: PCMSampleFormat { get }
    /// Frames written so far (those the writer still buffers included).
    var frameCount: Int { get }
    /// Frames a reader decodes from the bytes the sink has accepted so far: after a failure, the audio the output holds.
    /// It trails ``frameCount`` by what the writer still holds (a WAV block, an Opus frame, an open Ogg page or WebM
    /// cluster), and counts only whole units of the container (a WAV frame, an Ogg page, a WebM block).
    var deliveredFrameCount: Int { get }

    /// Appends interleaved samples.
    /// - Throws: ``OutputError`` when writing fails.
    func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError)

    /// Puts what is buffered where a reader (or the file a killed process leaves) has it, and keeps the output going:
    /// called while the input stalls, and at least every half second of wall time while it flows.
    /// - Throws: ``OutputError`` when writing fails.
    func flush() throws(OutputError)

    /// Writes what is buffered and finishes the output.
    /// - Throws: ``OutputError`` when writing fails.
    func close() throws(OutputError)
}

/// The sample format of a PCM file.
public enum PCMSampleFormat: String, Sendable, Hashable, CaseIterable {
    /// 16-bit signed integers: bit-exact to PCM16 sources.
    case s16
    /// 32-bit floats.
    case f32
}

/// A failure to write an output.
///
/// An append that failed part-way (a full disk, a reader that went away) says how many bytes reached the output
/// before it (``writtenByteCount``, set by the sink), and the writer that met it adds the audio those bytes hold to
/// the ``description``: `writing out.wav failed after 3.415 s of audio (164044 bytes): Broken pipe; the output holds
/// the audio up to there`.
public struct OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The output's path.
    public var path: String
    /// What went wrong, in words, with the library's or system's reason.
    public var reason: String
    /// The C library's error code, when one is involved.
    public var code: Int32?
    /// Bytes that had reached the output when an append failed; `nil` for other failures (opening, closing).
    public var writtenByteCount: Int?
    /// The audio a reader decodes from what reached the output before the failure, as the writer that met the failure
    /// counted it (``PCMWriter/deliveredFrameCount``); `nil` when no writer had started its stream.
    package var writtenAudio: WrittenAudio?

    /// Creates an error (a sink of the caller's throws one when a write fails).
    ///
    /// - Parameters:
    ///   - path: The output's path or name.
    ///   - reason: What went wrong, in words.
    ///   - code: The C library's or the system's error code, when one is involved.
    ///   - writtenByteCount: Bytes that had reached the output when an append failed.
    public init(path: String, reason: String, code: Int32? = nil, writtenByteCount: Int? = nil) {
        self.init(path: path, reason: reason, code: code, writtenByteCount: writtenByteCount, writtenAudio: nil)
    }

    /// Creates an error that says how much audio reached the output.
    package init(path: String, reason: String, code: Int32?, writtenByteCount: Int?, writtenAudio: WrittenAudio?) {
        self.path = path
        self.reason = reason
        self.code = code
        self.writtenByteCount = writtenByteCount
        self.writtenAudio = writtenAudio
    }

    /// The failure in words: the output, the audio and bytes it holds when an append failed, and the reason.
    public var description: String {
        if let writtenAudio {
            let bytes = writtenByteCount.map { " (\($0) bytes)" } ?? ""
            return "writing \(path) failed after \(writtenAudio.formattedSeconds) s of audio\(bytes): \(reason); "
                + "the output holds the audio up to there"
        }
        if let writtenByteCount { return "\(path): write failed after \(writtenByteCount) bytes: \(reason)" }
        return "\(path): \(reason)"
    }

    /// This error with the audio `writer` has delivered, unless it already says (an inner writer's count is the one
    /// nearer the sink), and with the sink's byte count when the sink gave none.
    func delivered(by writer: some PCMWriter, sink: any ByteSink) -> OutputError {
        guard writtenAudio == nil else { return self }
        var annotated = self
        annotated.writtenAudio = WrittenAudio(frameCount: writer.deliveredFrameCount, sampleRate: writer.sampleRate)
        if annotated.writtenByteCount == nil { annotated.writtenByteCount = sink.byteCount }
        return annotated
    }
}

/// How much audio an output holds: whole frames at the output's rate.
package struct WrittenAudio: Sendable, Equatable {
    /// Whole frames (one sample per channel).
    package var frameCount: Int
    /// Frames per second.
    package var sampleRate: Int

    /// Creates a count.
    package init(frameCount: Int, sampleRate: Int) {
        self.frameCount = frameCount
        self.sampleRate = sampleRate
    }

    /// The audio's length in seconds.
    package var seconds: Double { sampleRate > 0 ? Double(frameCount) / Double(sampleRate) : 0 }

    /// Seconds to the millisecond, rounded down, so a message never claims audio the output lacks: `3.412`.
    var formattedSeconds: String {
        let milliseconds = sampleRate > 0 ? frameCount * 1000 / sampleRate : 0
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
