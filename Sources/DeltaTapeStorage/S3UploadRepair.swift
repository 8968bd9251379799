// Finishing an upload a kill interrupted (issue 28). The spool file holds every byte the writer wrote, the manifest
// which parts S3 already holds; the header a writer fixes last is in the spool only (or not even there: a kill).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@_spi(Blocks) public import DeltaTapeContainers
import DeltaTapeKernels

/// Finishes an interrupted upload from its spool entry, so that the object every reader opens appears under the key.
///
/// The design: the spool file is the recording as a local file would be, so the local repair (``Repair``, by content:
/// WAV sizes, an Ogg end of stream, a WebM's sizes, Duration and Cues) makes it true in place, exactly as
/// `deltatape repair FILE` does. The parts S3 acknowledged (the manifest's ETags) are kept where the spool still holds
/// what was sent; the others are sent again from the spool file: those never acknowledged, those the writer
/// overwrote after sending them (a header, the manifest's `changed`), those the repair edits (its
/// ``RepairReport/editedRanges``), and the last part (the file may have been cut, or have grown). Then
/// CompleteMultipartUpload makes the object appear whole, at once, and the spool entry is removed.
///
/// The parts the repair will edit are written into the manifest (a dry run of the repair first) before the spool file
/// is touched: a repair killed in its turn is finished by the next one, which sends them again.
///
/// An upload S3 no longer holds (aborted after a failure, or expired by a lifecycle rule: `NoSuchUpload`), or whose
/// parts it no longer takes (`InvalidPart`), is made again from the spool alone: one PutObject for a spool smaller than
/// a part, else a new multipart upload of every part.
public enum S3UploadRepair {
    /// Finishes the upload of `entry`, or says what it would do.
    ///
    /// - Parameters:
    ///   - entry: The spool entry (spool file and manifest).
    ///   - client: The client to reach S3 with.
    ///   - dryRun: Only report what would be done: neither the spool entry nor S3 is changed.
    /// - Returns: What was found and done.
    /// - Throws: ``S3RepairError``: the spool file is missing, being written, or holds nothing to keep; S3 refused. The
    ///   spool entry is kept whenever the object was not completed.
    public static func finish(_ entry: S3SpoolEntry, client: S3Client, dryRun: Bool = false) throws(S3RepairError) -> S3UploadRepairReport {
        var manifest = entry.manifest
        let address = manifest.address
        let descriptor = open(entry.spoolPath, (dryRun ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .unreadableSpool(path: entry.spoolPath, reason: "the spool file of \(address), named by \(entry.manifestPath), cannot be opened: "
                + SystemCall.errorMessage(errno))
        }
        defer { SystemCall.close(descriptor) }
        // The writer holds an exclusive lock on its spool until it ends; a killed writer's lock went with it.
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { throw .stillWriting(address: address, spoolPath: entry.spoolPath) }

        let preview: any RepairReport
        do throws(RepairError) {
            preview = try Repair.repair(path: entry.spoolPath, dryRun: true)
        } catch {
            throw .notRepairable(address: address, spoolPath: entry.spoolPath, reason: error.description)
        }
        let edited = partsTouching(preview.editedRanges, layout: manifest.layout)
        guard !dryRun else {
            let parts = manifest.layout.parts(forByteCount: byteCount(descriptor))
            let kept = manifest.uploadID == nil ? 0 : plan(parts: parts, manifest: manifest, edited: edited).kept.count
            return S3UploadRepairReport(address: address, spoolPath: entry.spoolPath, recording: preview, byteCount: byteCount(descriptor),
                                        partCount: parts.count, keptPartCount: kept, madeAgain: false, changed: false)
        }
        // Said in the manifest before the spool file changes, so that a repair killed in turn sends them again.
        if !edited.isSubset(of: manifest.changedParts) {
            manifest.changedParts.formUnion(edited)
            try save(manifest, entry)
        }
        let recording: any RepairReport
        do throws(RepairError) {
            recording = try Repair.repair(path: entry.spoolPath)
        } catch {
            throw .notRepairable(address: address, spoolPath: entry.spoolPath, reason: error.description)
        }
        let length = byteCount(descriptor)
        let parts = manifest.layout.parts(forByteCount: length)
        var kept = 0
        var madeAgain = false
        do throws(S3Error) {
            if manifest.uploadID != nil {
                do throws(S3Error) {
                    kept = try continueUpload(&manifest, entry, parts: parts, edited: edited, descriptor: descriptor, client: client)
                } catch where error.code == "NoSuchUpload" || error.code == "InvalidPart" {
                    if error.code == "InvalidPart", let id = manifest.uploadID {
                        try? client.abortMultipartUpload(S3MultipartUpload(address: address, uploadID: id))
                    }
                    madeAgain = true
                    try uploadAgain(&manifest, entry, parts: parts, descriptor: descriptor, client: client)
                }
            } else {
                try uploadAgain(&manifest, entry, parts: parts, descriptor: descriptor, client: client)
            }
        } catch {
            throw .upload(address: address, spoolPath: entry.spoolPath, error: error)
        }
        entry.remove()
        return S3UploadRepairReport(address: address, spoolPath: entry.spoolPath, recording: recording, byteCount: length,
                                    partCount: parts.count, keptPartCount: kept, madeAgain: madeAgain, changed: true)
    }

    /// Sends the parts S3 lacks or holds stale, then completes; returns how many acknowledged parts were kept.
    private static func continueUpload(_ manifest: inout S3SpoolManifest, _ entry: S3SpoolEntry, parts: [S3PartLayout.Part], edited: Set<Int>,
                                      descriptor: Int32, client: S3Client) throws(S3Error) -> Int {
        guard let id = manifest.uploadID else { return 0 }
        let upload = S3MultipartUpload(address: manifest.address, uploadID: id)
        let (keptParts, resend) = plan(parts: parts, manifest: manifest, edited: edited)
        var complete = keptParts
        for part in resend {
            let sent = try client.uploadPart(upload, partNumber: part.number, from: range(descriptor, part))
            complete.append(sent)
            acknowledge(sent, in: &manifest, entry)
        }
        try client.completeMultipartUpload(upload, parts: complete)
        return keptParts.count
    }

    /// Sends the whole spool file again: one PutObject, or a new multipart upload.
    private static func uploadAgain(_ manifest: inout S3SpoolManifest, _ entry: S3SpoolEntry, parts: [S3PartLayout.Part], descriptor: Int32,
                                   client: S3Client) throws(S3Error) {
        guard parts.count > 1 else {
            try client.putObject(manifest.address, from: S3FileRange(descriptor: descriptor, offset: 0, byteCount: Int64(parts.first?.byteCount ?? 0)),
                                 contentType: manifest.contentType)
            return
        }
        let upload = try client.createMultipartUpload(manifest.address, contentType: manifest.contentType)
        manifest.uploadID = upload.uploadID
        manifest.parts = []
        manifest.changedParts = []
        try? manifest.write(to: entry.manifestPath)
        var sent: [S3UploadedPart] = []
        for part in parts {
            let acknowledged = try client.uploadPart(upload, partNumber: part.number, from: range(descriptor, part))
            sent.append(acknowledged)
            acknowledge(acknowledged, in: &manifest, entry)
        }
        try client.completeMultipartUpload(upload, parts: sent)
    }

    /// Which acknowledged parts stay as S3 holds them, and which parts are sent again.
    private static func plan(parts: [S3PartLayout.Part], manifest: S3SpoolManifest, edited: Set<Int>)
        -> (kept: [S3UploadedPart], resend: [S3PartLayout.Part]) {
        let acknowledged = Dictionary(manifest.parts.map { ($0.partNumber, $0) }, uniquingKeysWith: { _, last in last })
        var kept: [S3UploadedPart] = []
        var resend: [S3PartLayout.Part] = []
        for part in parts {
            if part.number != parts.count, !manifest.changedParts.contains(part.number), !edited.contains(part.number),
               let held = acknowledged[part.number] {
                kept.append(held)
            } else {
                resend.append(part)
            }
        }
        return (kept, resend)
    }

    /// The numbers of the parts that `ranges` of the spool file fall in.
    private static func partsTouching(_ ranges: [Range<Int>], layout: S3PartLayout) -> Set<Int> {
        guard let end = ranges.map(\.upperBound).max() else { return [] }
        var touched: Set<Int> = []
        for part in layout.parts(forByteCount: end) where ranges.contains(where: { $0.overlaps(part.range) }) {
            touched.insert(part.number)
        }
        return touched
    }

    /// Records a part S3 acknowledged during the repair (best effort: the repair goes on if the manifest cannot be saved).
    private static func acknowledge(_ part: S3UploadedPart, in manifest: inout S3SpoolManifest, _ entry: S3SpoolEntry) {
        manifest.parts.removeAll { $0.partNumber == part.partNumber }
        manifest.parts.append(part)
        manifest.parts.sort { $0.partNumber < $1.partNumber }
        manifest.changedParts.remove(part.partNumber)
        try? manifest.write(to: entry.manifestPath)
    }

    private static func save(_ manifest: S3SpoolManifest, _ entry: S3SpoolEntry) throws(S3RepairError) {
        do throws(OutputError) {
            try manifest.write(to: entry.manifestPath)
        } catch {
            throw .unreadableSpool(path: entry.manifestPath, reason: "the manifest cannot be updated before the repair: \(error.description)")
        }
    }

    private static func range(_ descriptor: Int32, _ part: S3PartLayout.Part) -> S3FileRange {
        S3FileRange(descriptor: descriptor, offset: Int64(part.offset), byteCount: Int64(part.byteCount))
    }

    private static func byteCount(_ descriptor: Int32) -> Int {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? Int(status.st_size) : 0
    }
}

/// What ``S3UploadRepair/finish(_:client:dryRun:)`` found and did.
public struct S3UploadRepairReport: Sendable, CustomStringConvertible {
    /// The object.
    public var address: S3Address
    /// The spool file it was finished from.
    public var spoolPath: String
    /// What the local repair of the spool file found and changed.
    @_spi(Blocks) public var recording: any RepairReport
    /// The object's length.
    public var byteCount: Int
    /// Its parts (1: one PutObject, when the upload was made again).
    public var partCount: Int
    /// Parts S3 already held and kept.
    public var keptPartCount: Int
    /// Whether S3 no longer held the upload, which was made again from the spool.
    public var madeAgain: Bool
    /// Whether the object was completed (false on a dry run).
    public var changed: Bool

    /// The local repair's lines, then one line saying what became of the upload.
    public var description: String {
        let lines = recording.description.split(separator: "\n").map(String.init)
        let sent = partCount - keptPartCount
        let how = madeAgain ? "S3 no longer held the upload (aborted or expired), so it was made again from the spool: \(partCount) part(s) sent"
            : "\(partCount) part(s), \(keptPartCount) kept as S3 held them, \(sent) sent from the spool"
        let verdict = changed ? "\(address): finished from \(spoolPath) (\(byteCount) bytes; \(how)); the spool entry is removed"
            : "\(address): would be finished from \(spoolPath) (dry run, nothing sent): \(byteCount) bytes in \(partCount) part(s), "
                + "\(keptPartCount) of them kept as S3 holds them"
        return (lines + [verdict]).joined(separator: "\n")
    }
}
