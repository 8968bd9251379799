import ArgumentParser
@_spi(Blocks) import DeltaTape
import FoundationEssentials
import Glibc

extension DeltaTapeCommand {
    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fix the sizes in the header of a WAV left unfinished by any writer (a killed process, a stream).",
            discussion: """
                A WAV whose writer never finished carries sizes that disagree with the file: zero (a killed \
                libsndfile), 0xFFFFFFFF (ffmpeg's and deltatape's output to a pipe), or a count older than the \
                audio on disk (a killed process). Repair sets the data size to every whole frame from the start of \
                the audio to the end of the file, and the RIFF size, fact count and RF64 ds64 sizes to match, then \
                says what it found and did.

                It never destroys data: it rewrites header size fields in place and nothing else. The file is never \
                shortened; a partial frame at the end stays in the file, outside the data chunk.

                Exit status: 0 repaired or nothing to fix; 65 not a WAV it can repair; 66 unreadable; 74 writing failed.

                Examples:
                  deltatape repair session.wav
                  deltatape repair --dry-run recordings/*.wav
                """
        )

        @Argument(help: "The WAV file(s) to repair.", completion: .file(extensions: ["wav"]))
        var files: [String]

        @Flag(help: "Only report what would be changed; the files are not opened for writing.")
        var dryRun = false

        func validate() throws {
            for file in files { try refuseURLPath(file, role: "the input") }
        }

        func run() async throws {
            var worst: Int32 = 0
            for file in files {
                do throws(RepairError) {
                    let report = try DeltaTape.Repair.repair(path: file, dryRun: dryRun)
                    // Paths come from the user and may hold anything: each line is made printable.
                    for line in report.description.split(separator: "\n") { print(String(line).escapingControlCharacters(limit: 4_000)) }
                } catch {
                    printError("deltatape: error: \(error)")
                    worst = max(worst, Self.exitStatus(of: error))
                }
            }
            if worst != 0 { throw ExitCode(worst) }
        }

        /// 65 not a WAV it can repair, 66 unreadable, 74 writing failed (sysexits.h).
        static func exitStatus(of error: RepairError) -> Int32 {
            switch error {
            case .notRepairable: 65
            case .unreadable: 66
            case .writeFailed: 74
            }
        }
    }
}
