import ArgumentParser
@_spi(Blocks) import DeltaTape
import DeltaTapeStorage
import FoundationEssentials
import Glibc

extension DeltaTapeCommand {
    struct Convert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a session's audio (the assistant's or the user's), an audio file or raw PCM to an audio file.",
            discussion: """
                The input's kind is detected from its content: JSON Lines, a JSON array of messages or a HAR \
                export, in the OpenAI Realtime (GA, beta, Azure), GPT-Live, Gemini Live, Twilio Media Streams or \
                ElevenLabs vocabulary; an audio file; or raw PCM with --input-format. Malformed lines are warnings \
                that name the line; undecodable audio becomes silence of the same length, so the timeline stays aligned.

                Several inputs go into a folder (-o DIR/, made if missing), each to DIR/NAME.EXT (NAME is the input's \
                file name without its extension, EXT the --format, wav by default), -j N of them at once; each gets its \
                summary line, the run ends with a tally ("29 of 30 converted; 1 failed: …"), and the exit status is the \
                most severe of theirs (74, then 66, 64, 65). Into a folder, each file is written under a hidden name \
                (DIR/.NAME.EXT.partial-RANDOM) and renamed to NAME.EXT only once complete: a file under its final name is whole.

                For batch engines: --inputs-from FILE (or '-', standard input) adds inputs listed one a line; --shard K/N \
                keeps the inputs whose FNV-1a 64-bit hash of their UTF-8 bytes as given (h = 0xcbf29ce484222325; per \
                byte h = (h ^ byte) * 0x100000001b3 mod 2^64) gives h % N + 1 == K, the same on every machine; \
                --skip-existing leaves out inputs whose outputs are there already, and the tally counts them \
                ("28 of 30 converted, 2 skipped"). Options of session logs (--track, --layout, \
                --keep-truncated, --event-field, --max-message-bytes, --strict) are refused for audio files and raw PCM. On a terminal, a \
                progress line shows the share of the input read, the speed and the time left.

                Examples:
                  deltatape convert session.jsonl -o session.wav
                  deltatape convert session.jsonl -o session-16k.wav --rate 16000
                  deltatape convert devtools-export.har -o caller.wav --track user
                  deltatape convert session.jsonl -o conversation.wav --track both
                  deltatape convert session.jsonl -o call.ogg --track both --layout separate
                  cat session.jsonl | deltatape convert - -o - --format wav > session.wav
                  deltatape convert logs/*.jsonl -o archive/ --format ogg -j 2
                  deltatape convert --inputs-from list.txt -o out/ --shard 2/3 --skip-existing
                  deltatape convert music-44k.flac -o music-24k.wav --rate 24000
                  deltatape convert call.ulaw -o call.wav --input-format mulaw --input-rate 8000
                """
        )

        @Argument(help: "The session logs (JSON Lines, a JSON array, a HAR export), audio files (WAV, FLAC, AIFF, anything libsndfile reads) or headerless PCM (with --input-format) to convert; '-' reads standard input; s3://BUCKET/KEY reads an object, s3://BUCKET/PREFIX/ every object under it. Several are written into a folder (-o DIR/).",
                  completion: .file())
        var inputs: [String] = []

        @Option(help: ArgumentHelp("A file listing inputs, one a line, to convert with (or instead of) those named; '-' reads the list from standard input. "
                                   + "Blank lines are skipped and a line's trailing CR is dropped; each line is taken as it is (no globbing).",
                                   valueName: "file"), completion: .file())
        var inputsFrom: String?

        @Option(help: ArgumentHelp("Convert only shard K of N (1 <= K <= N): the inputs whose FNV-1a 64-bit hash of their UTF-8 bytes as given "
                                   + "(each object's s3:// address for a prefix), modulo N, is K-1. The same on every machine, so N workers given the "
                                   + "same inputs convert each exactly once.", valueName: "k/n"))
        var shard: String?

        @Flag(help: "Leave out the inputs whose outputs (both files, with --layout separate) are there already under their final names, files or objects.")
        var skipExisting = false

        @Option(help: "The input's kind, when detection from its content should be overridden: jsonl, json-array, har or audio.")
        var inputKind: InputKind?

        @OptionGroup var log: SessionLogOptions

        @Option(name: .shortAndLong, help: "The output file ('-' writes to standard output; then --format is required), or a folder (an existing one, or a path ending in '/', made if missing) to write each input into as NAME.EXT; or s3://BUCKET/KEY, s3://BUCKET/PREFIX/ (uploaded as it is written).")
        var output: String

        @Option(help: ArgumentHelp("With -o s3://…: the folder outputs are spooled in while they upload (default ~/.cache/deltatape/spool).", valueName: "dir"))
        var spool: String?

        @Option(name: [.customShort("j"), .customLong("jobs")], parsing: .unconditional,
                help: ArgumentHelp("How many inputs to convert at once (default 1).", valueName: "n"))
        var jobs: Int = 1

        @Option(help: "Which side to write: assistant (the model's output, the default), user (the input the client sent), or both on one session clock (session logs only).")
        var track: TrackSelection?

        /// `--track`, or its default.
        private var selectedTrack: TrackSelection { track ?? .assistant }

        @Option(help: "How --track both is laid out: stereo (user left, assistant right; the default), mono (a mix) or separate (x.user.wav and x.assistant.wav); session logs only.")
        var layout: ChannelLayout?

        @Flag(help: "Keep the audio the listener never heard (cut by truncations and interruptions): everything generated (session logs only).")
        var keepTruncated = false

        @Option(help: "The output container when it does not follow from the output's extension: wav, ogg (alias opus) or webm; it must agree with an extension that names a format.")
        var format: OutputFormat?

        @Option(help: "Sample format of WAV outputs: s16 (bit-exact to PCM16 sources, the default) or f32.")
        var sampleFormat: PCMSampleFormat?

        // Numbers are read as numbers even when they start with '-' (`--rate -8000` is out of range, not a flag).
        @Option(parsing: .unconditional, help: ArgumentHelp("The output's sample rate in Hz (default: the source's; Ogg and WebM Opus: 8000, 12000, 16000, 24000 or 48000).", valueName: "hz"))
        var rate: Int?

        @Option(parsing: .unconditional, help: ArgumentHelp("Opus bitrate in bits per second, for example 32000 or 32k (default: libopus's choice).", valueName: "bits"))
        var bitrate: Bitrate?

        @Option(parsing: .unconditional, help: "Opus encoder complexity, 0 (fastest) to 10 (best).")
        var complexity: Int?

        @Option(help: "Opus application: audio (faithfulness, the default) or voip (speech intelligibility).")
        var application: OpusApplication?

        @Option(parsing: .unconditional, help: ArgumentHelp("Opus frame duration in milliseconds: 2.5, 5, 10, 20 (the default), 40 or 60.", valueName: "ms"))
        var frameMs: Double?

        @Option(help: "The resampler, when rates differ: soxr (faster and better at equal settings, measured) or libsamplerate.")
        var resampler: ResamplerEngine = .soxr

        @Option(help: "Resampling quality: low, medium, high or very-high.")
        var quality: ResamplerQuality = .high

        @Option(help: "Read the input as headerless PCM in this encoding: s16le, mulaw or alaw (needs --input-rate).")
        var inputFormat: RawInputEncoding?

        @Option(parsing: .unconditional, help: ArgumentHelp("The sample rate of headerless PCM input, in Hz.", valueName: "hz"))
        var inputRate: Int?

        @Option(parsing: .unconditional, help: "The channel count of headerless PCM input (default 1).")
        var inputChannels: Int?

        @Flag(help: "Stop at the first malformed line or undecodable payload (exit 65) instead of warning (session logs only).")
        var strict = false

        @Flag(name: .shortAndLong, help: "Print no warnings and no summary.")
        var quiet = false

        func validate() throws {
            if jobs < 1 {
                throw ValidationError("-j must be at least 1 (the number of inputs converted at once).")
            }
            try refuseURLPath(output, role: "the output", allowsS3: true)
            if inputsFrom == "-", inputs.contains("-") {
                throw ValidationError("--inputs-from - reads the list of inputs from standard input, so '-' cannot be an input too; "
                    + "name the list's file with --inputs-from FILE, or convert standard input in a run of its own.")
            }
            if let shard { _ = try InputShard(parsing: shard) }
            if skipExisting, output == "-" {
                throw ValidationError("--skip-existing leaves out inputs whose output is there already; standard output ('-o -') never is. "
                    + "Name a file or a folder with -o, or leave out --skip-existing.")
            }
            if inputsFrom == nil {
                guard !inputs.isEmpty else {
                    throw ValidationError("Name the inputs to convert (paths, '-' or s3:// addresses), or a file listing them with --inputs-from FILE.")
                }
                try validateInputs(inputs)
            }
            if let complexity, !(0...10).contains(complexity) {
                throw ValidationError("--complexity must be 0...10.")
            }
            if let frameMs, !OpusSettings.frameDurations.contains(frameMs) {
                throw ValidationError("--frame-ms must be one of 2.5, 5, 10, 20, 40, 60.")
            }
            if let bitrate, !OpusSettings.bitrates.contains(bitrate.bitsPerSecond) {
                throw ValidationError("--bitrate must be 500...512000 bits per second (or 0.5k...512k).")
            }
            let rates = AudioFormat.acceptedRates  // the rates the reader accepts in a session, and the writers take
            if let rate, !rates.contains(rate) {
                throw ValidationError("--rate \(rate) is outside \(rates.lowerBound)...\(rates.upperBound) Hz.")
            }
            if inputFormat != nil {
                guard let inputRate, rates.contains(inputRate) else {
                    throw ValidationError("Headerless PCM input (--input-format) needs --input-rate in \(rates.lowerBound)...\(rates.upperBound) Hz.")
                }
                guard (1...8).contains(inputChannels ?? 1) else {
                    throw ValidationError("--input-channels must be 1...8.")
                }
            } else if inputRate != nil {
                throw ValidationError("--input-rate applies to headerless PCM input; add --input-format s16le, mulaw or alaw.")
            } else if inputChannels != nil {
                throw ValidationError("--input-channels applies to headerless PCM input; add --input-format s16le, mulaw or alaw and --input-rate.")
            }
            if inputFormat != nil, inputKind != nil {
                throw ValidationError("--input-format already says the input is headerless PCM; leave out --input-kind.")
            }
            if writesIntoFolder {
                // Each file's name is made with --format's extension: nothing to agree with.
            } else if output == "-" {
                guard format != nil else {
                    throw ValidationError("Writing to standard output ('-o -') needs --format, for example --format wav or --format ogg.")
                }
            } else if let named = OutputFormat(pathExtensionOf: output) {
                if let format, format != named {
                    throw ValidationError("--format \(format.rawValue) contradicts the extension of '\(output)', which names \(named.rawValue); "
                        + "change the extension or leave out --format.")
                }
            } else if format == nil {
                throw ValidationError("Cannot tell the format of '\(output)' from its extension; name the file .wav, .ogg, .opus or .webm, or pass --format.")
            }
            try validateAgainstFormat(outputFormat)
            if let layout, selectedTrack != .both {
                throw ValidationError("--layout \(layout.rawValue) lays out both tracks; add --track both, or leave out --layout.")
            }
            if layout == .separate, output == "-" {
                throw ValidationError("--layout separate writes two files (NAME.user.EXT and NAME.assistant.EXT); name a file with -o instead of '-'.")
            }
        }

        /// The container written: `--format`, or the one the output's extension names (WAV into a folder).
        private var outputFormat: OutputFormat {
            writesIntoFolder ? format ?? .wav : format ?? OutputFormat(pathExtensionOf: output) ?? .wav
        }

        /// Whether `-o` names a folder to write each input into: a path ending in '/' (made if missing) or an existing folder.
        private var writesIntoFolder: Bool {
            guard output != "-" else { return false }
            var status = stat()
            return output.hasSuffix("/") || (stat(output, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR)
        }

        /// Where each of `inputs` goes: the one `-o` names, or `DIR/NAME.EXT` for each input in a folder.
        private func plannedDestinations(for inputs: [String]) -> [OutputDestination] {
            guard writesIntoFolder else { return [output == "-" ? .standardOutput : .file(output)] }
            let folder = output.hasSuffix("/") ? output : output + "/"
            return inputs.map { .file(folder + fileNameWithoutExtension($0) + "." + outputFormat.rawValue) }
        }

        /// Refuses inputs that cannot be converted as given: URLs other than `s3://`, invalid `s3://` addresses, an audio
        /// file from standard input, and what ``validateInputsAndFolder(_:)`` refuses. Run by `validate()` on the inputs
        /// named, and once the list is read on all of them with `--inputs-from`.
        private func validateInputs(_ inputs: [String]) throws {
            for input in inputs {
                if S3Address.isAddress(input) { try S3Input.validate(input) } else { try refuseURLPath(input, role: "the input") }
            }
            try validateInputsAndFolder(inputs)
            if inputKind == .audioFile, inputs.contains("-") {
                throw ValidationError("Audio files are read from a path, not from standard input; for a stream, send raw PCM with --input-format.")
            }
        }

        /// Refuses what several inputs cannot do: share standard input or one output, or write to anything but a folder.
        /// An `s3://` prefix counts as several: the objects under it are listed when the run starts.
        private func validateInputsAndFolder(_ inputs: [String]) throws {
            if inputs.count > 1 || inputs.contains(where: S3Input.isPrefix) {
                let several = inputs.count > 1 ? "\(inputs.count) inputs" : "The objects under '\(inputs[0])'"
                if inputs.contains("-") {
                    throw ValidationError("Standard input ('-') is converted alone, not among several inputs; convert it in a run of its own.")
                }
                if output == "-" {
                    throw ValidationError("\(several) cannot share standard output; name a folder, -o DIR/, to write each to DIR/NAME.EXT.")
                }
                if !writesIntoFolder {
                    throw ValidationError("\(several) are written into a folder, and '\(output)' is not one; "
                        + "-o DIR/ (made if missing) or -o s3://BUCKET/PREFIX/ writes each to NAME.EXT there.")
                }
            }
            guard writesIntoFolder else { return }
            if inputs == ["-"] {
                throw ValidationError("Standard input has no file name to write into '\(output)' by; name the output file, -o NAME.EXT.")
            }
            try refuseSharedOutputs(inputs.filter { !S3Input.isPrefix($0) })
        }

        /// Refuses two inputs whose names differ only in folder or extension (a/x.jsonl, b/x.har): they would write one
        /// file.
        private func refuseSharedOutputs(_ inputs: [String]) throws {
            let separate = selectedTrack == .both && layout == .separate
            var writer: [String: String] = [:]
            for (input, destination) in zip(inputs, plannedDestinations(for: inputs)) {
                let files = separate ? [AudioTrack.user, .assistant].compactMap { destination.destination(for: $0)?.name } : [destination.name]
                for file in files {
                    if let earlier = writer[file] {
                        throw ValidationError("'\(earlier)' and '\(input)' would both be written to \(file); convert them into different folders.")
                    }
                    writer[file] = input
                }
            }
        }

        /// Options the container has no use for, and rates it cannot carry, are refused rather than dropped.
        private func validateAgainstFormat(_ written: OutputFormat) throws {
            switch written {
            case .wav:
                let opusOptions = [("--bitrate", bitrate != nil), ("--complexity", complexity != nil), ("--application", application != nil),
                                   ("--frame-ms", frameMs != nil)].filter(\.1).map(\.0)
                if let first = opusOptions.first {
                    throw ValidationError("\(first) is an Opus encoder setting; a WAV output is not encoded. "
                        + "Write .ogg, .opus or .webm, or leave out \(opusOptions.joined(separator: " and ")).")
                }
            case .ogg, .webm:
                if sampleFormat != nil {
                    throw ValidationError("--sample-format applies to WAV outputs; Opus encodes its own samples. Write .wav, or leave out --sample-format.")
                }
                if let rate, !OpusSettings.nativeSampleRates.contains(rate) {
                    let rates = OpusSettings.nativeSampleRates.sorted().map(String.init)
                    let allowed = rates.dropLast().joined(separator: ", ") + " or " + (rates.last ?? "")
                    throw ValidationError("--rate \(rate) cannot be carried by Opus, which takes \(allowed) Hz; "
                        + "pick one of those, or write WAV for \(rate) Hz.")
                }
            }
        }

        func run() async throws {
            // A reader that goes away (`deltatape convert … -o - | head -c 1000`) is an output failure to report with
            // exit 74 and what was written, not a silent death by SIGPIPE; so is a file-size limit (`ulimit -f`),
            // whose SIGXFSZ would kill the process too (the write fails with EFBIG instead).
            signal(SIGPIPE, SIG_IGN)
            signal(SIGXFSZ, SIG_IGN)
            let s3: S3Output?
            do throws(OutputError) {
                s3 = try S3Output.prepare(output, spool: spool)
            } catch {
                throw reportFailure(.output(error))
            }
            let given: [String]
            var inputs: [String]
            do {
                given = try givenInputs()
                do throws(ConversionError) {
                    inputs = try S3Input.expandingPrefixes(given)
                } catch {
                    throw reportFailure(error)
                }
                // Every worker of a sharded batch refuses the same inputs: two that would share an output, whichever shards
                // they fall in.
                if inputs != given { try refuseSharedOutputs(inputs) }
            } catch let error as ValidationError {
                // Said as validate() says it, without the usage of the command at the top that the parser would print here.
                printError("deltatape: error: \(error.message)")
                throw ExitCode.validationFailure
            }
            if let shard = try shard.map(InputShard.init(parsing:)) {
                let all = inputs.count
                inputs = inputs.filter(shard.holds)
                guard !inputs.isEmpty else {
                    if !quiet { printError("shard \(shard.description) had none of the \(all) input\(all == 1 ? "" : "s"); nothing to convert") }
                    return
                }
            }
            if s3 == nil, writesIntoFolder, let reason = makeFolder(output) {
                throw reportFailure(.output(OutputError(path: output, reason: reason)))
            }
            var options = ConversionOptions(
                format: outputFormat,
                track: selectedTrack,
                sampleFormat: sampleFormat ?? .s16,
                sampleRate: rate,
                resampler: resampler,
                quality: quality,
                opus: OpusSettings(bitrate: bitrate?.bitsPerSecond, complexity: complexity, application: application ?? .audio,
                                   frameMilliseconds: frameMs ?? 20),
                rawInput: inputFormat.map { AudioFormat(encoding: $0.encoding, sampleRate: inputRate ?? 0, channelCount: inputChannels ?? 1) },
                inputKind: inputKind,
                strict: strict
            )
            options.layout = layout ?? .stereo
            options.keepsTruncated = keepTruncated
            options.eventField = log.eventField
            options.maximumMessageByteCount = log.maximumMessageByteCount
            // Into a folder, each file appears under its name only when whole: a killed batch leaves no file that looks done.
            // So does a single file with --skip-existing, which takes a file there for a finished one.
            options.publishesWhenComplete = s3 == nil && (writesIntoFolder || skipExisting)
            // Given at their default value they change nothing for a session log, and an audio input still refuses them.
            options.givenSessionFlags = [("--track", track != nil), ("--max-message-bytes", log.maxMessageBytes != nil)].filter(\.1).map(\.0)
            let destinations = s3.map { s3 in inputs.map { s3.destination(for: $0, intoPrefix: writesIntoFolder, format: outputFormat) } }
                ?? plannedDestinations(for: inputs)
            var conversions = Array(zip(inputs, destinations))
            var skippedCount = 0
            if skipExisting {
                let existing = ExistingOutputs(s3: s3, intoFolder: writesIntoFolder, format: outputFormat,
                                               separate: selectedTrack == .both && layout == .separate)
                conversions = conversions.filter { input, destination in
                    let names = existing.names(of: input, at: destination)
                    guard names.allSatisfy(existing.isThere) else { return true }
                    skippedCount += 1
                    if !quiet {
                        printError("skipped \(input): \(names.joined(separator: " and ")) \(names.count == 1 ? "is" : "are") there already (--skip-existing)")
                    }
                    return false
                }
            }
            let display = ProgressDisplay(inputs: conversions.map(\.0), showsProgress: !quiet && ProgressDisplay.standardErrorIsTerminal)
            let status = await Self.convert(conversions, skippedCount: skippedCount, options: options, atOnce: jobs,
                                            display: display, quiet: quiet, summary: summaryText)
            if status != 0 { throw ExitCode(status) }
        }

        /// Converts each input to its destination, at most `atOnce` at a time, each on a thread of its own (the library's async
        /// conversion), reporting each as it ends, and several inputs' tally at the end (``BatchTally``). Returns the most
        /// severe exit status (``worstExitStatus(_:)``).
        private static func convert(_ conversions: [(String, OutputDestination)], skippedCount: Int, options: ConversionOptions, atOnce: Int,
                                    display: ProgressDisplay, quiet: Bool, summary: SummaryText) async -> Int32 {
            let redrawing = Task { await display.run() }
            let outcomes = await withTaskGroup(of: BatchTally.Outcome.self) { group in
                var started = 0
                func startNext() {
                    let index = started, (input, destination) = conversions[index]
                    started += 1
                    group.addTask {
                        var options = options
                        options.progress = display.begin(index)
                        do throws(ConversionError) {
                            let warn: @Sendable (Problem) -> Void = { problem in
                                if !quiet { display.printLine("\(problem.input):\(problem.line): warning: \(problem.message)") }
                            }
                            let result = if S3Address.isAddress(input) {
                                try await SessionConverter.convert(try S3Input.open(input), to: destination, options: options, problem: warn)
                            } else {
                                try await SessionConverter.convert(input: input, to: destination, options: options, problem: warn)
                            }
                            display.end(index, writtenSeconds: result.durationSeconds)
                            if !quiet { display.printLine(summary.describe(result)) }
                            return BatchTally.Outcome(index: index, input: input, status: 0, failure: nil)
                        } catch {
                            display.end(index, writtenSeconds: nil)
                            display.printLine("deltatape: error: \(error)")
                            return BatchTally.Outcome(index: index, input: input, status: exitStatus(of: error), failure: error.description)
                        }
                    }
                }
                while started < min(atOnce, conversions.count) { startNext() }
                var outcomes: [BatchTally.Outcome] = []
                for await outcome in group {
                    outcomes.append(outcome)
                    if started < conversions.count { startNext() }
                }
                return outcomes
            }
            redrawing.cancel()
            await redrawing.value  // the progress line is cleared before the command ends
            if conversions.count + skippedCount > 1, !quiet { printError(BatchTally(outcomes, skippedCount: skippedCount).line) }
            return worstExitStatus(outcomes.map(\.status))
        }

        /// The inputs named and those `--inputs-from` lists, checked as ``validateInputs(_:)`` checks the named ones.
        ///
        /// - Throws: `ExitCode` 66 when the list cannot be read (said first); `ValidationError` when it holds nothing and
        ///   no input was named, or the inputs cannot be converted together.
        private func givenInputs() throws -> [String] {
            guard let inputsFrom else { return inputs }
            let listed: [String]
            do throws(ConversionError) {
                listed = try InputList.read(inputsFrom)
            } catch {
                throw reportFailure(error)
            }
            let list = inputsFrom == "-" ? "the list on standard input" : "the list \(inputsFrom)"
            guard !listed.isEmpty || !inputs.isEmpty else {
                throw ValidationError("\(list) (--inputs-from) is empty (blank lines do not count), and no input was named; "
                    + "list one input a line, or name the inputs.")
            }
            if inputsFrom == "-", listed.contains("-") {
                throw ValidationError("\(list) names '-', but standard input holds the list (--inputs-from -); name files or s3:// addresses in it.")
            }
            let all = inputs + listed
            try validateInputs(all)
            return all
        }

        /// How summaries read with these options.
        private var summaryText: SummaryText {
            SummaryText(track: selectedTrack, layout: layout, keepTruncated: keepTruncated, sampleFormat: sampleFormat)
        }
    }
}

/// The one-line summary of a conversion, as the options asked for it.
struct SummaryText: Sendable {
    var track: TrackSelection
    var layout: ChannelLayout?
    var keepTruncated: Bool
    var sampleFormat: PCMSampleFormat?

    func describe(_ summary: ConversionSummary) -> String {
        let channels = summary.channelCount == 1 ? "mono" : summary.channelCount == 2 ? "stereo" : "\(summary.channelCount) channels"
        let speed = summary.realTimeFactor.isFinite ? "\(Int(summary.realTimeFactor.rounded()))× real time" : "instant"
        let warnings = summary.problemCount == 0 ? "no warnings" : "\(summary.problemCount) warning\(summary.problemCount == 1 ? "" : "s")"
        let seconds = (summary.durationSeconds * 1000).rounded() / 1000
        let encoding = switch summary.format {
        case .ogg: "Ogg Opus"
        case .webm: "WebM Opus"
        case .wav: (sampleFormat ?? .s16).rawValue
        }
        let what = !summary.isSession ? "audio" : track == .both ? "both tracks (\(layout ?? .stereo))" : track.rawValue
        // A source rate the output does not keep (a 44.1 kHz file to Opus, which takes 48 kHz) is said.
        let resampled = summary.sourceSampleRates.filter { $0 != summary.sampleRate }.map(String.init)
        let from = resampled.isEmpty ? "" : " (resampled from \(resampled.joined(separator: " and ")) Hz)"
        return "wrote \(summary.output): \(what) \(seconds) s, \(summary.sampleRate) Hz \(channels) \(encoding)\(from), "
            + "from \(groupingThousands(summary.inputByteCount)) bytes of \(summary.input) at \(speed)\(cuts(summary.timeline)), \(warnings)"
    }

    /// `1,234,567`: the digits in groups of three, as `Int.formatted()` writes them in English, without loading the
    /// locale data (Foundation's internationalization part costs the process about 10 MB of memory at start).
    private func groupingThousands(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return value < 0 ? "-" + grouped : grouped
    }

    /// `, 2 items cut where the listener interrupted (3.1 s not heard)`, or nothing.
    private func cuts(_ timeline: TimelineStatistics?) -> String {
        guard let timeline, !keepTruncated, track != .user else { return "" }
        let unheard = timeline.cutSeconds + timeline.droppedSeconds
        guard unheard > 0 else { return "" }
        let items = timeline.cutItemCount + timeline.droppedItemCount
        return ", \(items) item\(items == 1 ? "" : "s") cut where the listener interrupted (\((unheard * 1000).rounded() / 1000) s not heard)"
    }
}

/// The line that ends a run of several conversions: `27 of 30 converted; 3 failed: a.jsonl (line 7: …), …`, or with
/// inputs skipped (`--skip-existing`) `25 of 30 converted, 2 skipped; 3 failed: …`, the
/// failures in the order the inputs were given, each with the start of its error (the whole error was said as it
/// happened).
struct BatchTally {
    struct Outcome: Sendable {
        var index: Int
        var input: String
        var status: Int32
        /// The error's description, for a failed conversion.
        var failure: String?
    }

    var outcomes: [Outcome]
    /// Inputs left out because their outputs were there already (`--skip-existing`).
    var skippedCount: Int

    init(_ outcomes: [Outcome], skippedCount: Int = 0) {
        self.outcomes = outcomes.sorted { $0.index < $1.index }
        self.skippedCount = skippedCount
    }

    var line: String {
        let failed = outcomes.filter { $0.status != 0 }
        let skipped = skippedCount > 0 ? ", \(skippedCount) skipped" : ""
        let tally = "\(outcomes.count - failed.count) of \(outcomes.count + skippedCount) converted" + skipped
        guard !failed.isEmpty else { return tally }
        return tally + "; \(failed.count) failed: " + failed.map { "\($0.input) (\(Self.gist(of: $0.failure ?? "", input: $0.input)))" }.joined(separator: ", ")
    }

    /// The start of an error, without the input's name it begins with (`a.jsonl:7: …` becomes `line 7: …`), cut at its
    /// first clause and at 80 characters.
    static func gist(of failure: String, input: String) -> String {
        var text = Substring(failure)
        if text.hasPrefix(input) {
            text = text.dropFirst(input.count)
            if text.hasPrefix(":"), let colon = text.dropFirst().firstIndex(of: ":"),
               let line = Int(text[text.index(after: text.startIndex)..<colon]) {
                text = "line \(line):" + text[text.index(after: colon)...]
            } else {
                text = text.drop { $0 == ":" || $0 == " " }
            }
        }
        if let clause = text.firstIndex(of: ";") { text = text[..<clause] }
        let trimmed = String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        return trimmed.count > 80 ? String(trimmed.prefix(79)) + "…" : trimmed
    }
}

/// `session` for `logs/session.jsonl`: the file name without its last extension.
func fileNameWithoutExtension(_ path: String) -> String {
    let name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    guard let dot = name.lastIndex(of: "."), dot > name.startIndex else { return name }
    return String(name[..<dot])
}

/// Makes the folder `path` and any missing parents (`mkdir -p`); returns why it could not, or `nil`.
func makeFolder(_ path: String) -> String? {
    var made = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        made += component + "/"
        if mkdir(made, 0o777) != 0, errno != EEXIST {
            return "cannot make the folder \(made): \(String(cString: strerror(errno)))"
        }
    }
    var status = stat()
    guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return "exists and is not a folder" }
    return nil
}
