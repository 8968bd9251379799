import ArgumentParser
import DeltaTape
import Foundation

extension DeltaTapeCommand {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report what a session log holds: events, formats, audio, problems and common traps."
        )

        @OptionGroup var source: InputOptions

        @Flag(help: "Print the report as one JSON object.")
        var json = false

        func validate() throws {
            if source.inputs.count > 1 {
                throw ValidationError("inspect reads one input at a time; run it once for each of the \(source.inputs.count) inputs.")
            }
        }

        func run() async throws {
            let report: SessionReport
            do throws(DeltaTapeError) {
                report = try SessionInspector.inspect(input: source.input, kind: source.inputKind, eventField: source.eventField,
                                                     maximumMessageByteCount: source.maxMessageBytes)
            } catch {
                throw reportFailure(error)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let data = try encoder.encode(report)
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(ReportText.render(report))
            }
        }
    }
}
