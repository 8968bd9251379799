import ArgumentParser
@_spi(Blocks) import DeltaTape
import FoundationEssentials
import Glibc

extension DeltaTapeCommand {
    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish a WAV, Ogg Opus or WebM recording whose writer never finished (a killed process, a stream).",
            discussion: """
                The format is picked by the file's content, not its name.

                WAV: the sizes in the header disagree with the file: zero (a killed libsndfile), 0xFFFFFFFF \
                (ffmpeg's and deltatape's output to a pipe), or a count older than the audio on disk. Repair sets \
                the data size to every whole frame from the start of the audio to the end of the file (a LIST \
                chunk after the audio stays outside it), and the RIFF size, fact count and RF64 ds64 sizes to \
                match. It never destroys data: it rewrites header size fields in place and nothing else.

                Ogg Opus (a kill costs at most the last second): every whole page with a valid CRC is kept, a \
                torn or garbage tail is cut off, and the last page is marked as the end of the stream.

                WebM (a kill costs at most the cluster being gathered, 5 s): every whole cluster and the whole \
                blocks of one cut short are kept, and the Segment size, Duration, Cues and SeekHead a finish \
                writes are written. A file in the live form (written to a pipe) only loses a block cut short.

                Exit status: 0 repaired or nothing to fix; 65 not a file it can repair (or nothing to keep); 66 \
                unreadable; 74 writing failed.

                Examples:
                  deltatape repair session.wav
                  deltatape repair --dry-run recordings/*
                """
        )

        @Argument(help: "The WAV, Ogg Opus or WebM file(s) to repair.", completion: .file(extensions: ["wav", "ogg", "opus", "webm"]))
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

        /// 65 not a file it can repair, 66 unreadable, 74 writing failed (sysexits.h).
        static func exitStatus(of error: RepairError) -> Int32 {
            switch error {
            case .notRepairable: 65
            case .unreadable: 66
            case .writeFailed: 74
            }
        }
    }
}
