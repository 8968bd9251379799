@_spi(Blocks) public import DeltaTapeEvents
public import DeltaTapeCodecs
public import DeltaTapeContainers

/// A failure of a DeltaTape operation, sorted by who can fix it. Each case keeps the underlying error (with the C
/// library's or the system's code where one is involved), and the description reads as a sentence a person can act
/// on. What exit status a failure deserves is the command line's business, not the library's.
public enum DeltaTapeError: Error, Sendable, Equatable, CustomStringConvertible {
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
        }
    }
}

/// A problem found in an input that did not stop the work: a warning, or under `strict` the reason to stop.
public struct Problem: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The input's name (its path, or `stdin`).
    public var input: String
    /// The 1-based line of the input the problem is on.
    public var line: Int
    /// What is wrong, in words.
    public var message: String

    /// Creates a problem report. Both texts are made printable (control characters escaped, long ones cut): they
    /// carry text from the input, and reach terminals and logs.
    package init(input: String, line: Int, message: String) {
        self.input = input.escapingControlCharacters(limit: 500)
        self.line = line
        self.message = message.escapingControlCharacters(limit: 1_000)
    }

    /// `input:line: message`, the form compilers use, so editors and terminals can jump to it.
    public var description: String { "\(input):\(line): \(message)" }
}
