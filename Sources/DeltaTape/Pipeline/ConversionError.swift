@_spi(Blocks) public import DeltaTapeEvents
public import DeltaTapeCodecs
public import DeltaTapeContainers

/// A failure of a DeltaTape operation, sorted by who can fix it. Each case keeps the underlying error (with the C
/// library's or the system's code where one is involved), and the description reads as a sentence a person can act
/// on. What exit status a failure deserves is the command line's business, not the library's.
public enum ConversionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input's content is not what was expected: no known kind of input, no audio, a problem under strict reading.
    case badInput(String)
    /// The input could not be opened or read.
    case unreadableInput(InputError)
    /// Writing the output failed (a folder that does not exist, a full disk, a closed pipe); the error names the
    /// output and what was written before the failure.
    case output(OutputError)
    /// The sample-rate conversion asked for could not be made or failed.
    case resampling(ResamplerError)
    /// The output is the input itself (the same path, another spelling of it, a symbolic or a hard link: the same
    /// device and inode): writing it would destroy the input, so nothing was opened for writing.
    case outputIsInput(input: String, output: String)
    /// The work was stopped before it ended (a recording's task was cancelled, or a message came after
    /// ``SessionRecorder/finish()``); what was written stays a valid file once finished.
    case cancelled(String)
    /// An option was given that the input has no use for (a session log's option, such as the track or strict
    /// reading, for an audio file or headerless PCM): refused rather than ignored, before anything is written.
    case inapplicableOption(String)

    /// The failure as a sentence a person can act on.
    public var description: String {
        switch self {
        case .badInput(let message): message
        case .unreadableInput(let error): error.description
        case .output(let error): error.description
        case .resampling(let error): "resampling failed: \(error)"
        case .outputIsInput(let input, let output):
            "the output \(output) is the input \(input) (the same file); writing it would destroy the input, so nothing was written; "
                + "choose another output path"
        case .cancelled(let message): message
        case .inapplicableOption(let message): message
        }
    }
}
