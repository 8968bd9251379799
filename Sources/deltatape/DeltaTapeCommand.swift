public import ArgumentParser
@_spi(Blocks) public import DeltaTape
import FoundationEssentials
import Glibc

@main
struct DeltaTapeCommand: AsyncParsableCommand {
    /// Every message the argument parser prints starts as the command's own do (`deltatape: error: …`, as git's do).
    static var _errorPrefix: String { "deltatape: error: " }

    static let configuration = CommandConfiguration(
        commandName: "deltatape",
        abstract: "Turn the audio of realtime voice-AI sessions into archival audio files.",
        version: deltaTapeVersion,
        subcommands: [Convert.self, Inspect.self, Repair.self, Relay.self]
    )
}

/// How a session log is read, for every command that reads one (the inputs themselves are each command's own: convert
/// takes audio files too, inspect session logs only).
struct SessionLogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The field of a logger's envelope that holds each event, when it is not event, message, data or payload (session logs only).", valueName: "name"))
    var eventField: String?

    @Option(help: ArgumentHelp("The longest message read (a line, an array element, a HAR frame), in bytes (default 64 MiB); a longer one is skipped and reported (session logs only).",
                               valueName: "bytes"))
    var maxMessageBytes: Int?

    /// ``maxMessageBytes``, or the default.
    var maximumMessageByteCount: Int { maxMessageBytes ?? SessionLog.defaultMaximumMessageByteCount }

    func validate() throws {
        if let eventField, eventField.isEmpty {
            throw ValidationError("--event-field needs a field name.")
        }
        if let maxMessageBytes, maxMessageBytes < 1_024 {
            throw ValidationError("--max-message-bytes must be at least 1024.")
        }
    }
}

/// The kinds of session log `inspect` reads (`convert` takes an audio file too: ``InputKind``).
enum LogKind: String, CaseIterable, ExpressibleByArgument {
    case jsonl, jsonArray = "json-array", har

    var inputKind: InputKind {
        switch self {
        case .jsonl: .jsonLines
        case .jsonArray: .jsonArray
        case .har: .har
        }
    }
}

/// Refuses a path that names a URL (`s3://bucket/key`, `https://…`) where it is not supported: such a path would be
/// taken as a local one (`-o s3://b/k.wav` made a folder named `s3:`). `role` is `the input` or `the output`; `allowsS3`
/// lets `s3://` through (convert's outputs).
func refuseURLPath(_ path: String, role: String, allowsS3: Bool = false) throws {
    guard let colon = path.firstIndex(of: ":"), colon > path.startIndex, path[colon...].hasPrefix("://"),
          path[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return }
    let scheme = path[..<colon].lowercased()
    if allowsS3, scheme == "s3" { return }
    let what = scheme == "s3" ? "object storage (s3://), which deltatape does not support yet" : "a URL (\(scheme)://), which deltatape does not read or write"
    let remedy = role == "the output" ? "write a local file or folder and upload it" : "download it and name the local copy"
    throw ValidationError("\(role) '\(path)' names \(what); \(remedy).")
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
    case .resampling, .outputIsInput, .inapplicableOption: 64
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

/// A bitrate given as `32000` or `32k` (``OpusSettings/bitrate(parsing:)``, which `deltatape relay` reads too).
struct Bitrate: ExpressibleByArgument {
    var bitsPerSecond: Int

    init?(argument: String) {
        guard let value = OpusSettings.bitrate(parsing: argument) else { return nil }
        bitsPerSecond = value
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
