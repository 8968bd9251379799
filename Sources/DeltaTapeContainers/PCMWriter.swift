import DeltaTapeKernels

/// Something PCM samples are written to: a WAV file, a WAV stream.
public protocol PCMWriter: AnyObject {
    /// The output's path or name, for messages.
    var path: String { get }
    /// Frames per second.
    var sampleRate: Int { get }
    /// Channels per frame.
    var channelCount: Int { get }
    /// The sample format written.
    var sampleFormat: PCMSampleFormat { get }
    /// Frames written so far.
    var frameCount: Int { get }

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
public struct OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The output's path.
    public var path: String
    /// What went wrong, in words, with the library's or system's reason.
    public var reason: String
    /// The C library's error code, when one is involved.
    public var code: Int32?

    /// Creates an error.
    public init(path: String, reason: String, code: Int32? = nil) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    public var description: String { "\(path): \(reason)" }
}
