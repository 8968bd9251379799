// `deltatape repair s3://BUCKET/KEY`, `repair SPOOL-FOLDER` and `repair ENTRY.spool` (issue 28): an upload a kill
// interrupted, finished from its spool entry by DeltaTapeStorage's S3UploadRepair; this file only finds the entries.
@_spi(Blocks) import DeltaTape
import DeltaTapeStorage

/// What the command line does with a repair of an upload.
enum S3Repair {
    /// Whether `target` names an upload to finish: an `s3://` object, a spool folder or a spool entry's file.
    static func handles(_ target: String) -> Bool {
        S3Address.isAddress(target) || S3SpoolEntry.isEntry(target) || S3SpoolEntry.isSpoolFolder(target)
    }

    /// Finishes the uploads `target` names (or says what it would do) and prints what was done; returns the exit status:
    /// 0 finished, 65 a recording that cannot be finished, 66 no spool entry or one that cannot be read, 74 S3 refused,
    /// 75 an upload still being written.
    static func run(_ target: String, spool: String?, dryRun: Bool) -> Int32 {
        let client: S3Client
        do throws(S3ConfigurationError) {
            client = try sharedS3Client.get()
        } catch {
            printError("deltatape: error: \(target): \(error.description)")
            return 74
        }
        var entries: [S3SpoolEntry] = []
        var worst: Int32 = 0
        do throws(S3RepairError) {
            if S3Address.isAddress(target) {
                entries = [try entry(for: target, spool: spool ?? S3Output.defaultSpoolDirectory, client: client)]
            } else if S3SpoolEntry.isEntry(target) {
                entries = [try S3SpoolEntry(path: target)]
            } else {
                let found = S3SpoolEntry.entries(in: target)
                for error in found.unreadable { worst = max(worst, report(error)) }
                entries = found.entries
            }
        } catch {
            return report(error)
        }
        for entry in entries {
            do throws(S3RepairError) {
                let done = try S3UploadRepair.finish(entry, client: client, dryRun: dryRun)
                for line in done.description.split(separator: "\n") { print(String(line).escapingControlCharacters(limit: 4_000)) }
            } catch {
                worst = max(worst, report(error))
            }
        }
        return worst
    }

    /// The one spool entry in `folder` that is an upload to `target`.
    private static func entry(for target: String, spool folder: String, client: S3Client) throws(S3RepairError) -> S3SpoolEntry {
        let address: S3Address
        do throws(S3AddressError) {
            address = try S3Address(parsing: target)
        } catch {
            throw .unreadableSpool(path: target, reason: error.description)
        }
        let entries = S3SpoolEntry.entries(for: address, in: folder)
        if entries.count > 1 { throw .severalSpoolEntries(address: address, spoolPaths: entries.map(\.spoolPath)) }
        guard let entry = entries.first else {
            let open = (try? client.listMultipartUploads(address))?.filter { $0.address == address }.count ?? 0
            throw .noSpoolEntry(address: address, folder: folder, openUploadCount: open)
        }
        return entry
    }

    /// Says `error` and returns its exit status.
    private static func report(_ error: S3RepairError) -> Int32 {
        printError("deltatape: error: \(error.description)")
        switch error {
        case .upload: return 74
        case .notRepairable: return 65
        case .stillWriting: return 75
        case .unreadableSpool, .noSpoolEntry, .severalSpoolEntries: return 66
        }
    }
}
