public import ArgumentParser
@_spi(Blocks) public import DeltaTape
import FoundationEssentials
import Glibc

@main
struct DeltaTapeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deltatape",
        abstract: "Turn the audio of realtime voice-AI sessions into archival audio files.",
        version: deltaTapeVersion,
        subcommands: [Convert.self, Inspect.self, Repair.self, Relay.self]
    )
}

/// The input every subcommand reads, and how to read it.
struct InputOptions: ParsableArguments {
    @Argument(help: "The session log (JSONL, JSON array, HAR) or, for convert, the audio file ('-' reads standard input); convert takes several, written into a folder (-o DIR/).", completion: .file())
    var inputs: [String]

    /// The first input: the only one, for commands that read one.
    var input: String { inputs[0] }

    @Option(help: "The input's kind, when detection from its content should be overridden: jsonl, json-array, har or (for convert) audio.")
    var inputKind: InputKind?

    @Option(help: ArgumentHelp("The field of a logger's envelope that holds each event, when it is not event, message, data or payload.", valueName: "name"))
    var eventField: String?

    @Option(help: ArgumentHelp("The longest message read (a line, an array element, a HAR frame), in bytes (default 64 MiB); a longer one is skipped and reported.",
                               valueName: "bytes"))
    var maxMessageBytes: Int = SessionLog.defaultMaximumMessageByteCount

    func validate() throws {
        if let eventField, eventField.isEmpty {
            throw ValidationError("--event-field needs a field name.")
        }
        if maxMessageBytes < 1_024 {
            throw ValidationError("--max-message-bytes must be at least 1024.")
        }
    }
}

/// Prints one line to standard error, control characters escaped: messages carry text from the input (names, types,
/// paths), which must not drive the terminal or forge lines of output.
func printError(_ text: String) {
    writeToStandardError(text.escapingControlCharacters(limit: 4_000) + "\n")
}

/// Ends the command the way `sysexits.h` says for this kind of failure, after saying why.
func reportFailure(_ error: ConversionError) -> ExitCode {
    printError("deltatape: error: \(error)")
    return ExitCode(exitStatus(of: error))
}

/// The `sysexits.h` status for a failure (SPEC §6): 65 bad input data, 66 an input that does not exist or cannot be
/// read, 74 an output failure, 64 a conversion that cannot be made as asked (an output that is the input included), 75
/// work stopped before its end.
func exitStatus(of error: ConversionError) -> Int32 {
    switch error {
    case .badInput: 65
    case .unreadableInput: 66
    case .output: 74
    case .resampling, .outputIsInput: 64
    case .cancelled: 75
    }
}

/// The status of a run of several conversions: the most severe of theirs (0 when all succeeded).
///
/// From the most severe: 74, an output failure (a full disk or an unwritable folder fails whatever comes next too, and
/// leaves a file short); 66, an input that could not be read at all (nothing was written for it); 64, a conversion that
/// cannot be made as asked (the command's fault, not the data's); 65, bad input data (one log's own fault, converted
/// as far as it went). 75, a cancelled conversion (the run did not finish), and any other status count above them all.
func worstExitStatus(_ statuses: some Sequence<Int32>) -> Int32 {
    statuses.max { exitStatusSeverity($0) < exitStatusSeverity($1) } ?? 0
}

/// The rank of a status in ``worstExitStatus(_:)``'s order.
private func exitStatusSeverity(_ status: Int32) -> Int {
    switch status {
    case 0: 0
    case 65: 1
    case 64: 2
    case 66: 3
    case 74: 4
    default: 5
    }
}

extension OutputFormat: ExpressibleByArgument {
    /// `wav`, `ogg` (or its alias `opus`, as the `.opus` extension names Ogg Opus) or `webm`.
    public init?(argument: String) {
        if argument == "opus" { self = .ogg } else { self.init(rawValue: argument) }
    }

    public static var allValueStrings: [String] { ["wav", "ogg", "opus", "webm"] }
}
extension InputKind: ExpressibleByArgument {}
extension PCMSampleFormat: ExpressibleByArgument {}
extension ResamplerEngine: ExpressibleByArgument {}
extension OpusApplication: ExpressibleByArgument {}

/// A bitrate given as `32000` or `32k`.
struct Bitrate: ExpressibleByArgument {
    var bitsPerSecond: Int

    init?(argument: String) {
        let text = argument.lowercased()
        if text.hasSuffix("k"), let thousands = Double(text.dropLast()) {
            bitsPerSecond = Int((thousands * 1000).rounded())
        } else if let value = Int(text) {
            bitsPerSecond = value
        } else {
            return nil
        }
    }
}

extension TrackSelection: ExpressibleByArgument {}
extension ChannelLayout: ExpressibleByArgument {}

/// The encodings `--input-format` names.
enum RawInputEncoding: String, CaseIterable, ExpressibleByArgument {
    case s16le, mulaw, alaw

    var encoding: SampleEncoding {
        switch self {
        case .s16le: .pcm16
        case .mulaw: .mulaw
        case .alaw: .alaw
        }
    }
}
extension ResamplerQuality: ExpressibleByArgument {}
