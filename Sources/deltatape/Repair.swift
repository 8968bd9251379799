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

                A recording that 'deltatape convert' (or a SessionRecorder, the relay's) was making to a file has \
                a journal beside it while it runs (FILE.journal: the input as received). Killed, it is rebuilt \
                from the journal instead, in any format: converted again to the journal's end, so that it holds \
                every sample received, the answer that was playing included, with the cuts that had arrived. The \
                journal is removed then.

                An upload to S3 ('convert -o s3://…') that a kill interrupted leaves a spool entry (NAME.spool, \
                every byte written, and NAME.manifest: the upload and the parts S3 acknowledged). 'repair \
                s3://BUCKET/KEY' (or the spool folder, or the entry's file) repairs the spool file as a file is \
                repaired, sends the parts S3 lacks or holds stale, and completes the upload: the object appears \
                whole under its key, and the entry is removed. An upload S3 no longer holds is made again from \
                the spool.

                Exit status: 0 repaired or nothing to fix; 65 not a file it can repair (or nothing to keep); 66 \
                unreadable (or no spool entry for the key); 74 writing (or S3) failed; 75 an upload still being \
                written.

                Examples:
                  deltatape repair session.wav
                  deltatape repair --dry-run recordings/*
                  deltatape repair s3://archive/calls/session.wav
                """
        )

        @Argument(help: ArgumentHelp("The WAV, Ogg Opus or WebM file(s) to repair, recordings (or their .journal) to rebuild from a "
                      + "journal, or uploads to finish: s3://BUCKET/KEY, a spool folder or a spool entry (NAME.spool)."),
                  completion: .file(extensions: ["wav", "ogg", "opus", "webm", "journal", "spool"]))
        var files: [String]

        @Option(help: ArgumentHelp("With s3://…: the spool folder to find the upload's entry in (default ~/.cache/deltatape/spool).",
                                   valueName: "dir"))
        var spool: String?

        @Flag(help: "Only report what would be changed; the files are not opened for writing.")
        var dryRun = false

        func validate() throws {
            for file in files { try refuseURLPath(file, role: "the input", allowsS3: true) }
        }

        func run() async throws {
            var worst: Int32 = 0
            for file in files {
                if S3Repair.handles(file) {
                    worst = max(worst, S3Repair.run(file, spool: spool, dryRun: dryRun))
                    continue
                }
                // A killed conversion's journal: the whole recording is made again from it. The journal may be named
                // itself (a kill before the first audio leaves no output file to name).
                let output = file.hasSuffix(".journal") ? String(file.dropLast(".journal".count)) : file
                if FileManager.default.fileExists(atPath: SessionConverter.journalPath(forOutput: output)) {
                    worst = max(worst, rebuild(output))
                    continue
                }
                do throws(RepairError) {
                    let report = try DeltaTape.Repair.repair(path: file, dryRun: dryRun)
                    // Paths come from the user and may hold anything: each line is made printable.
                    for line in report.description.split(separator: "\n") { print(String(line).escapingControlCharacters(limit: 4_000)) }
                } catch {
                    printError("deltatape: error: " + "\(error)".escapingControlCharacters(limit: 4_000))
                    worst = max(worst, Self.exitStatus(of: error))
                }
            }
            if worst != 0 { throw ExitCode(worst) }
        }

        /// Rebuilds `file` from its journal (or says it would); returns the exit status.
        private func rebuild(_ file: String) -> Int32 {
            let journal = SessionConverter.journalPath(forOutput: file).escapingControlCharacters(limit: 4_000)
            let name = file.escapingControlCharacters(limit: 4_000)
            guard !dryRun else {
                print("\(name): would be rebuilt from \(journal), the input its conversion had received when it stopped")
                return 0
            }
            do throws(ConversionError) {
                var problems = 0
                guard let summary = try SessionConverter.rebuild(fromJournalOf: file, problem: { _ in problems += 1 }) else { return 0 }
                let seconds = summary.sampleRate > 0 ? Double(summary.frameCount) / Double(summary.sampleRate) : 0
                let duration = (seconds * 1000).rounded() / 1000
                let problemText = problems == 0 ? "" : problems == 1 ? ", 1 problem in the input (as when converted)"
                    : ", \(problems) problems in the input (as when converted)"
                print("\(name): rebuilt from \(journal), the input its conversion had received when it stopped: \(duration) s of audio "
                    + "(\(summary.frameCount) frames)\(problemText); the journal is removed")
                return 0
            } catch {
                printError("deltatape: error: " + "\(error)".escapingControlCharacters(limit: 4_000))
                switch error {
                case .unreadableInput: return 66
                case .output: return 74
                default: return 65
                }
            }
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
