import DeltaTape
import Foundation
import Logging

/// The journals a killed relay left in its folder (`NAME.journal` beside each recording that was still open), rebuilt
/// when a relay starts on that folder, so that nobody has to run `deltatape repair` by hand after a crash. A journal
/// whose recording is still being written (another relay sharing the folder holds its lock) is left alone.
enum LeftJournals {
    /// The recordings in `folder` that have a journal beside them: regular files only, never a link.
    static func recordings(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let journalSuffix = SessionConverter.journalPath(forOutput: "")
        return names.filter { $0.hasSuffix(journalSuffix) && $0.count > journalSuffix.count }.sorted().compactMap { name in
            let path = folder + "/" + name
            // The item itself, not what a link points to.
            guard (try? FileManager.default.attributesOfItem(atPath: path)[.type]) as? FileAttributeType == .typeRegular else { return nil }
            return String(path.dropLast(journalSuffix.count))
        }
    }

    /// Rebuilds each recording of `folder` that a killed relay left a journal for, on a thread of its own (a rebuild
    /// converts the whole session), saying how each went.
    static func rebuild(in folder: String, report: @escaping @Sendable (RelayEvent) -> Void) {
        let recordings = recordings(in: folder)
        guard !recordings.isEmpty else { return }
        let thread = Thread {
            for recording in recordings {
                report(RelayEvent(.rebuilt, connection: nil, line(rebuilding: recording), fields: [("key", .string(recording))]))
            }
        }
        thread.name = "deltatape-relay-repair"
        thread.start()
    }

    /// Rebuilds one recording from its journal; what happened, in one line.
    static func line(rebuilding recording: String) -> String {
        do throws(ConversionError) {
            guard let summary = try SessionConverter.rebuild(fromJournalOf: recording) else {
                return "\(recording): its journal went before it could be read (another relay rebuilt it?)"
            }
            return "\(recording): rebuilt from the journal a killed relay left: \(ConnectionRecording.seconds(summary.durationSeconds)) s of audio"
        } catch {
            // A journal whose lock is held is a live recording's (another relay on this folder), not a killed one's.
            if case .output(let failure) = error, failure.code == EWOULDBLOCK {
                return "\(recording): its journal is still being written (by another relay on this folder?); left alone"
            }
            return "\(recording): the journal a killed relay left was not rebuilt: \(error)"
        }
    }
}
