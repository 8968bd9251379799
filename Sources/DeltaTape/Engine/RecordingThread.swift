// What the two recorders share besides their queue: the thread that records, and what a refusal means.
import DeltaTapeKernels
import DeltaTapeContainers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts the thread of the recording `name` (named `deltatape-rec`; under ``ConversionOptions/runsInBackground`` at
/// the lowest priority, which the threads it starts, the encoder's, inherit).
///
/// - Parameter priority: The thread's handle, for ``PriorityHandle/raise()`` when the recording finishes.
/// - Returns: The failure to report when the system would not start a thread (`body` is then not run); `nil` otherwise.
func startRecordingThread(name: String, inBackground: Bool, priority: PriorityHandle, _ body: @escaping @Sendable () -> Void) -> ConversionError? {
    let started = startDedicatedThread(named: "deltatape-rec") {
        priority.start(inBackground: inBackground)
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
