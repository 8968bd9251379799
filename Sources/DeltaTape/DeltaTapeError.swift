import DeltaTapeEvents
import DeltaTapeContainers

/// A failure of a DeltaTape operation, sorted by who can fix it; the message reads as a sentence a person can act on.
public enum DeltaTapeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The command was used wrongly (exit status 64).
    case usage(String)
    /// The input's content is not what was expected (exit status 65).
    case badInput(String)
    /// Reading or writing failed (exit status 74).
    case io(String)

    /// The `sysexits.h` status a command-line tool exits with for this error.
    public var exitStatus: Int32 {
        switch self {
        case .usage: 64
        case .badInput: 65
        case .io: 74
        }
    }

    public var description: String {
        switch self {
        case .usage(let message), .badInput(let message), .io(let message): message
        }
    }

    init(_ error: InputError) {
        self = .io(error.description)
    }

    init(_ error: OutputError) {
        self = .io(error.description)
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

    /// Creates a problem report.
    public init(input: String, line: Int, message: String) {
        self.input = input
        self.line = line
        self.message = message
    }

    /// `input:line: message`, the form compilers use, so editors and terminals can jump to it.
    public var description: String { "\(input):\(line): \(message)" }
}
