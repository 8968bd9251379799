import ArgumentParser
import DeltaTape
import DeltaTapeStorage
import FoundationEssentials
import Glibc

extension DeltaTapeCommand {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report what a session log holds: events, formats, audio, the timeline, problems and common traps.",
            discussion: """
                Several inputs are reported one after another (with --json, as a JSON array in the order given); \
                an input that cannot be inspected is said on standard error, and the exit status is the worst of them.
                """
        )

        @Argument(help: "The session logs to inspect: JSON Lines, a JSON array of messages or a HAR export ('-' reads standard input); s3://BUCKET/KEY an object, s3://BUCKET/PREFIX/ every object under it.",
                  completion: .file())
        var inputs: [String]

        @Option(help: "The log's kind, when detection from its content should be overridden: jsonl, json-array or har.")
        var inputKind: LogKind?

        @OptionGroup var log: SessionLogOptions

        @Option(help: ArgumentHelp("With s3://…: the spool folder an upload to the key still open would be in (default ~/.cache/deltatape/spool).",
                                   valueName: "dir"))
        var spool: String?

        func validate() throws {
            for input in inputs {
                if S3Address.isAddress(input) { try S3Input.validate(input) } else { try refuseURLPath(input, role: "the input") }
            }
        }

        @Flag(help: "Print the report as one JSON object (several inputs: a JSON array of them, in the order given).")
        var json = false

        func run() async throws {
            var reports: [SessionReport] = []
            var statuses: [Int32] = []
            // An s3:// prefix is every object under it, in key order; it reports as several inputs do (a JSON array).
            let inputs: [String]
            do throws(ConversionError) {
                inputs = try S3Input.expandingPrefixes(self.inputs)
            } catch {
                throw reportFailure(error)
            }
            let several = inputs.count > 1 || self.inputs.contains(where: S3Input.isPrefix)
            // One after another: an inspection is quick, and the reports come out in the order given.
            for input in inputs {
                do throws(ConversionError) {
                    if S3Address.isAddress(input) {
                        reports.append(try await SessionInspector.inspect(try S3Input.open(input), kind: inputKind?.inputKind,
                                                                          eventField: log.eventField, maximumMessageByteCount: log.maximumMessageByteCount))
                    } else {
                        reports.append(try SessionInspector.inspect(input: input, kind: inputKind?.inputKind, eventField: log.eventField,
                                                                    maximumMessageByteCount: log.maximumMessageByteCount))
                    }
                    statuses.append(0)
                } catch {
                    // No object yet, but an upload to the key is open: that is said, with the command that finishes it.
                    let note = S3Address.isAddress(input) ? S3Input.openUploadNote(input, spool: spool) : nil
                    guard several || note != nil else { throw reportFailure(error) }
                    printError("deltatape: error: \(note ?? "\(error)")")
                    statuses.append(exitStatus(of: error))
                }
            }
            // Nothing to report (a single input whose upload is still open): the status alone.
            if reports.isEmpty, !several { throw ExitCode(worstExitStatus(statuses)) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let data = several ? try encoder.encode(reports) : try encoder.encode(reports[0])
                print(String(decoding: data, as: UTF8.self))
            } else if !reports.isEmpty {
                print(reports.map(ReportText.render).joined(separator: "\n\n"))
            }
            let worst = worstExitStatus(statuses)
            if worst != 0 { throw ExitCode(worst) }
        }
    }
}
