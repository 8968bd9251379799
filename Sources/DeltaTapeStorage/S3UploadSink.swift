// A recording written to S3 as it is made (issue 28): a multipart upload fed from a spool file on local disk, so that
// memory stays flat however long the recording, and the object appears under its key only once it is complete.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public import DeltaTapeContainers
import DeltaTapeKernels
import Dispatch
import Synchronization

/// Writes an object to S3 the way a file is written: bytes are appended to a spool file (never held in memory), each
/// part is uploaded (`UploadPart`, from the spool file) as soon as it is whole, on a thread of the sink's own, and
/// ``close()`` uploads the rest and completes the upload. Writers that finalize headers in place (a WAV's sizes, a
/// WebM's duration and cues) overwrite the spool; a part changed after it was uploaded is uploaded again at the end
/// (an `UploadPart` with the same number replaces it), which for headers is the first part. An object smaller than
/// one part goes up in one `PutObject`.
///
/// Names: with `keepingExistingObjects`, the object is stored only where none is (`If-None-Match: *` on the
/// `PutObject` or `CompleteMultipartUpload`, which S3 and SeaweedFS honour); a key found taken (412) is given up for
/// the one `freshAddress` names, and the whole spool is uploaded there, so that two writers of one name (two relays
/// of a fleet) never replace each other's object. ``retarget(to:)`` moves an upload to another key before any of it
/// was sent (a relay names a recording after its session's id, which comes with the first messages).
///
/// Failure: an upload that cannot be completed (access denied, a missing bucket, retries exhausted) is aborted, so no
/// upload is left open to be billed, and the error names the key and S3's code; the spool file is kept, and named.
/// The spool keeps the whole recording until it is complete (disk, not memory), and a manifest beside it
/// (``S3SpoolManifest``: bucket, key, upload id, the parts and their ETags, the parts overwritten since they were sent)
/// from the first byte on, so that ``S3UploadRepair`` can finish an upload a kill interrupted.
// Unchecked: the spool sink is written on the writer's thread alone (a sink has one writer); the upload thread only
// reads the spool file through its descriptor (pread) and touches `state` behind its lock.
public final class S3UploadSink: PositionalByteSink, @unchecked Sendable {
    /// `s3://bucket/key`: where the object is going (changed by ``retarget(to:)`` and by a key found taken).
    public var name: String { state.withLock { $0.address.description } }
    /// Bytes written so far: the spool file's.
    public var byteCount: Int { spool.byteCount }
    public let isSeekable = true
    /// The spool file's path.
    public let spoolPath: String

    private let client: S3Client
    /// Where to go when the key is taken (nil: fail), with `If-None-Match: *` on the request that makes the object.
    private let keepingExistingObjects: Bool
    private let freshAddress: (@Sendable () -> S3Address)?
    private let contentType: String?
    /// The spool file, made new (never through a link) and locked, written as a file is.
    private let spool: FileDescriptorSink
    private let uploads = DispatchQueue(label: "deltatape-s3-upload")
    private let state: Mutex<State>
    private let layout: S3PartLayout
    /// Held while the manifest is written: the writer's thread (before a sent part is overwritten) and the upload
    /// thread (after each part) both write it.
    private let manifestLock = Mutex(())

    private struct State {
        var address: S3Address
        var upload: S3MultipartUpload?
        /// Parts handed to the upload thread, in order.
        var planned: [S3PartLayout.Part] = []
        var uploaded: [Int: S3UploadedPart] = [:]
        /// Parts overwritten after they were handed to the upload thread: uploaded again by ``close()``.
        var changed: Set<Int> = []
        var failure: S3Error?
    }

    /// Starts an upload to `address`: its spool file is made in `spoolDirectory` (created if missing), nothing is sent
    /// until the first part is whole.
    ///
    /// - Parameters:
    ///   - partByteCount: Bytes of each part (at least S3's 5 MiB); doubled every 1 000 parts, so that 10 000 parts
    ///     hold objects far past any recording.
    ///   - keepingExistingObjects: Never replace an object already under the key (`If-None-Match: *`).
    ///   - freshAddress: With `keepingExistingObjects`, where to go instead when the key is taken (each call a new
    ///     key); nil: the upload fails, saying the key is taken.
    /// - Throws: ``OutputError`` when the spool file cannot be made.
    public init(address: S3Address, client: S3Client, spoolDirectory: String, contentType: String? = nil,
                partByteCount: Int = 8 << 20, keepingExistingObjects: Bool = false,
                freshAddress: (@Sendable () -> S3Address)? = nil) throws(OutputError) {
        state = Mutex(State(address: address))
        self.client = client
        self.contentType = contentType
        self.keepingExistingObjects = keepingExistingObjects
        self.freshAddress = freshAddress
        let name = address.description
        layout = S3PartLayout(basePartByteCount: partByteCount)
        if mkdir(spoolDirectory, 0o700) != 0, errno != EEXIST {
            throw OutputError(path: name, reason: "cannot make the spool folder \(spoolDirectory): \(SystemCall.errorMessage(errno))", code: errno)
        }
        spool = try Self.makeSpool(in: spoolDirectory, for: address.description)
        spoolPath = spool.name
        // Before any byte: a kill at any moment leaves a spool file whose manifest names its object.
        do throws(OutputError) {
            try S3SpoolManifest(address: address, contentType: contentType, layout: layout).write(to: manifestPath)
        } catch {
            unlink(spoolPath)
            throw OutputError(path: name, reason: "cannot write the spool's manifest: \(error.description)", code: error.code)
        }
    }

    /// Where spool files go when no folder is named: `$XDG_CACHE_HOME/deltatape/spool`, or `~/.cache/deltatape/spool`.
    public static func defaultSpoolDirectory(environment: [String: String], home: String) -> String {
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.cache")
        return cache + "/deltatape/spool"
    }

    /// A new spool file under a random name in `folder` (another name when one is taken).
    private static func makeSpool(in folder: String, for name: String) throws(OutputError) -> FileDescriptorSink {
        var attempt = 1
        while true {
            do throws(OutputError) {
                return try FileDescriptorSink(creatingNew: folder + "/" + randomName() + S3SpoolManifest.spoolSuffix, permissions: 0o600, readable: true)
            } catch {
                guard error.code == EEXIST, attempt < 8 else {
                    throw OutputError(path: name, reason: "cannot make a spool file: \(error.description)", code: error.code)
                }
                attempt += 1
            }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        if let failure = state.withLock({ $0.failure }) { throw outputError(failure) }
        try spool.write(bytes)
        // Whole parts go to the upload thread as they fill (the last part is sent by close()).
        while true {
            let next = state.withLock { state -> S3PartLayout.Part? in
                guard let part = layout.wholePart(after: state.planned.last, byteCount: byteCount) else { return nil }
                state.planned.append(part)
                return part
            }
            guard let next else { break }
            uploads.async { [self] in uploadPart(next.number, offset: next.offset, byteCount: next.byteCount) }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(OutputError) {
        guard offset >= 0, offset + bytes.count <= byteCount else {
            throw OutputError(path: name, reason: "an overwrite at \(offset) of \(bytes.count) bytes goes past the \(byteCount) written")
        }
        let newlyChanged = state.withLock { state in
            var added = false
            for part in state.planned where part.range.overlaps(offset..<(offset + bytes.count)) {
                added = state.changed.insert(part.number).inserted || added
            }
            return added
        }
        // Said in the manifest before the bytes change: a kill between the two leaves the part sent again by repair.
        if newlyChanged { writeManifest() }
        try spool.write(bytes, at: offset)
    }

    public func close() throws(OutputError) {
        uploads.sync {}
        // The descriptor goes with the call, whatever its end (a relay closes sinks by the thousand).
        defer { try? spool.close() }
        let (upload, planned, failure, address) = state.withLock { ($0.upload, $0.planned, $0.failure, $0.address) }
        if let failure { throw abort(failure) }
        do throws(S3Error) {
            guard let upload else {
                // Smaller than one part, so no upload was begun: one PutObject of the whole spool.
                do throws(S3Error) {
                    _ = try client.putObject(address, from: range(0, byteCount), contentType: contentType, ifNoneMatch: keepingExistingObjects)
                } catch let error where error.isPreconditionFailed {
                    try uploadUnderAFreshKey(after: error)
                }
                removeSpool()
                return
            }
            let end = planned.last.map(\.range.upperBound) ?? 0
            var parts = state.withLock { $0.uploaded }
            if byteCount > end {
                let number = planned.count + 1
                parts[number] = try client.uploadPart(upload, partNumber: number, from: range(end, byteCount - end))
            }
            for number in state.withLock({ $0.changed }).sorted() {
                guard let part = planned.first(where: { $0.number == number }) else { continue }
                parts[number] = try client.uploadPart(upload, partNumber: number, from: range(part.offset, part.byteCount))
            }
            do throws(S3Error) {
                _ = try client.completeMultipartUpload(upload, parts: parts.keys.sorted().compactMap { parts[$0] },
                                                       ifNoneMatch: keepingExistingObjects)
            } catch let error where error.isPreconditionFailed {
                // The key was taken while this upload ran: its parts are given up, and the spool goes up again.
                try? client.abortMultipartUpload(upload)
                state.withLock { $0.upload = nil }
                try uploadUnderAFreshKey(after: error)
            }
            removeSpool()
        } catch {
            throw abort(error)
        }
    }

    /// An object was already under the key (412 to `If-None-Match: *`): the whole spool is uploaded under the key
    /// ``freshAddress`` names, again until one is free (8 keys at most: more taken in a row means something else
    /// writes under these names).
    private func uploadUnderAFreshKey(after taken: S3Error) throws(S3Error) {
        guard let freshAddress else { throw taken }
        var last = taken
        for _ in 0..<8 {
            let address = freshAddress()
            state.withLock { $0.address = address }
            writeManifest()
            do throws(S3Error) {
                if byteCount <= layout.basePartByteCount {
                    _ = try client.putObject(address, from: range(0, byteCount), contentType: contentType, ifNoneMatch: true)
                } else {
                    let upload = try client.createMultipartUpload(address, contentType: contentType)
                    state.withLock { $0.upload = upload }
                    writeManifest()
                    var parts: [S3UploadedPart] = []
                    var part: S3PartLayout.Part? = nil
                    while let next = layout.wholePart(after: part, byteCount: byteCount) {
                        parts.append(try client.uploadPart(upload, partNumber: next.number, from: range(next.offset, next.byteCount)))
                        part = next
                    }
                    let end = part.map(\.range.upperBound) ?? 0
                    if byteCount > end {
                        parts.append(try client.uploadPart(upload, partNumber: (part?.number ?? 0) + 1, from: range(end, byteCount - end)))
                    }
                    do throws(S3Error) {
                        _ = try client.completeMultipartUpload(upload, parts: parts, ifNoneMatch: true)
                    } catch let error where error.isPreconditionFailed {
                        try? client.abortMultipartUpload(upload)
                        state.withLock { $0.upload = nil }
                        throw error
                    }
                }
                return
            } catch let error where error.isPreconditionFailed {
                last = error
            }
        }
        throw last
    }

    /// Moves the upload to `address` if none of it was sent yet (no part handed to the upload thread); returns
    /// whether it moved. The manifest says the new key.
    @discardableResult
    public func retarget(to address: S3Address) -> Bool {
        let moved = state.withLock { state -> Bool in
            guard state.upload == nil, state.planned.isEmpty, state.failure == nil else { return false }
            state.address = address
            return true
        }
        if moved { writeManifest() }
        return moved
    }

    /// Gives the object up without making it: waits for the parts being uploaded, aborts the multipart upload if one
    /// was begun, and removes the spool file and its manifest. For a sink made in advance and never written (a relay's
    /// session that had no audio): ``close()`` would store an empty object.
    public func discard() {
        uploads.sync {}
        try? spool.close()
        if let upload = state.withLock({ $0.upload }) { try? client.abortMultipartUpload(upload) }
        removeSpool()
    }

    // MARK: - The upload thread

    private func uploadPart(_ number: Int, offset: Int, byteCount: Int) {
        guard state.withLock({ $0.failure == nil }) else { return }
        do throws(S3Error) {
            let upload: S3MultipartUpload
            if let started = state.withLock({ $0.upload }) {
                upload = started
            } else {
                upload = try client.createMultipartUpload(state.withLock { $0.address }, contentType: contentType)
                state.withLock { $0.upload = upload }
                writeManifest()
            }
            let part = try client.uploadPart(upload, partNumber: number, from: range(offset, byteCount))
            state.withLock { $0.uploaded[number] = part }
            writeManifest()
        } catch {
            state.withLock { $0.failure = error }
        }
    }

    // MARK: - Spool and manifest

    private func range(_ offset: Int, _ count: Int) -> S3FileRange {
        S3FileRange(descriptor: spool.fileDescriptor, offset: Int64(offset), byteCount: Int64(count))
    }

    /// The manifest beside the spool file, brought up to date: what a repair needs (no secret is in it). Best effort:
    /// an upload does not fail for want of it.
    private func writeManifest() {
        manifestLock.withLock { _ in
            let (upload, parts, changed, address) = state.withLock { ($0.upload, $0.uploaded, $0.changed, $0.address) }
            let manifest = S3SpoolManifest(address: address, uploadID: upload?.uploadID, contentType: contentType, layout: layout,
                                           parts: Array(parts.values), changedParts: changed)
            try? manifest.write(to: manifestPath)
        }
    }

    private var manifestPath: String { S3SpoolManifest.path(forSpool: spoolPath) }

    private func removeSpool() {
        unlink(spoolPath)
        unlink(manifestPath)
    }

    /// Aborts the multipart upload, if one was made (no upload left open to be billed), and says what failed.
    private func abort(_ failure: S3Error) -> OutputError {
        if let upload = state.withLock({ $0.upload }) { try? client.abortMultipartUpload(upload) }
        return outputError(failure)
    }

    private func outputError(_ failure: S3Error) -> OutputError {
        OutputError(path: name, reason: "\(failure.description) The upload was aborted; the \(byteCount) bytes written are kept in \(spoolPath)",
                    writtenByteCount: byteCount)
    }

    private static func randomName() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        return String((0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }
}
