// What the two recorders share besides their queue: where a recording goes, and the thread that records it.
import DeltaTapeKernels
public import DeltaTapeContainers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a recording goes.
public enum RecordingSink: Sendable {
    /// A file (created or replaced): the finalized forms (WAV and WebM sizes written back).
    case file(String)
    /// Standard output: the streaming forms when it is a pipe.
    case standardOutput
    /// A sink of the caller's, opened at the first audio: for example a ``PositionalByteSink`` of its own, or one
    /// that hands out parts for a multipart upload. `track` is `nil` for the one output, the track for
    /// ``ChannelLayout/separate`` files.
    case custom(@Sendable (_ track: AudioTrack?) throws(OutputError) -> any ByteSink)
    /// An async writer of the caller's (an upload stream, a network connection): it receives the bytes in order,
    /// in chunks; the recording waits while it is busy (at most `bufferedBytes` are held for it), never seeks, so
    /// the streaming forms are written.
    case writer(bufferedBytes: Int = 1 << 20, @Sendable (_ bytes: [UInt8]) async throws -> Void)

    /// Opens the sink for the pipeline (once per output file).
    func opener() -> @Sendable (AudioTrack?) throws(OutputError) -> any ByteSink {
        switch self {
        case .file(let path):
            return { (track) throws(OutputError) in try OutputDestination.file(path).makeSink(for: track) }
        case .standardOutput:
            return { (track) throws(OutputError) in try OutputDestination.standardOutput.makeSink(for: track) }
        case .custom(let open):
            return { (track) throws(OutputError) in try open(track) }
        case .writer(let bufferedBytes, let write):
            return { (track) throws(OutputError) in AsyncWriterSink(name: track.map { "writer (\($0.rawValue))" } ?? "writer",
                                                                     bufferedBytes: bufferedBytes, write: write) }
        }
    }
}

/// Starts the thread of the recording `name` (named `deltatape-rec`; under ``ConversionOptions/runsInBackground`` at
/// the lowest priority, which the threads it starts, the encoder's, inherit).
///
/// - Returns: The failure to report when the system would not start a thread (`body` is then not run); `nil` otherwise.
func startRecordingThread(name: String, inBackground: Bool, _ body: @escaping @Sendable () -> Void) -> ConversionError? {
    let started = startDedicatedThread(named: "deltatape-rec") {
        if inBackground { lowerCurrentThreadPriority() }
        body()
    }
    return started ? nil : .output(OutputError(path: name, reason: "the system would not start a thread for the recording (errno \(errno))"))
}

/// What a refusal of a recorder's queue means to its caller: the recording's failure, if it failed.
func recordingFailure(_ refusal: IngressRefusal, failure: ConversionError?, name: String) -> ConversionError {
    if let failure { return failure }
    return switch refusal {
    case .finished: .cancelled("recording \(name): finish() was called; nothing is taken after it")
    case .cancelled: .cancelled("recording \(name): the task was cancelled; call finish() to finalize what was recorded")
    case .refused: .cancelled("recording \(name): it takes no more input")
    }
}
