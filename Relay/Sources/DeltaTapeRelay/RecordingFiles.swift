@_spi(Blocks) import DeltaTape
import DeltaTapeStorage
import Foundation
import Synchronization

/// Why a connection's recording could not be made: a sentence for the relay's line, and the `reason` label of
/// `deltatape_relay_recordings_failed_total`.
struct RecordingFailure: Error, Sendable {
    var message: String
    var reason: String
}

/// The files of one connection's recording (its audio, its log, its journal), made when the session starts under a
/// name no one else can take:
/// `<UTC start>-<connection>-<10 random base32 characters>` (50 bits from the system's generator; the connection number
/// ties the file to the relay's lines), each file created with `O_CREAT | O_EXCL | O_NOFOLLOW` (``NewFile``), so a file or
/// link already standing at the name is never written through. When any name of the set is taken, the files made so
/// far are removed and the whole set is made again under a fresh random part: a taken name is never reused, and the
/// recording, its log and its journal keep one stem (a recording whose journal name was taken would otherwise run
/// without one, and a kill would lose it). A folder deleted while the relay runs is made again.
///
/// With `--output-dir s3://…` (``RelayConfiguration/objectStorage``) each file is an object under the prefix instead
/// (an ``S3UploadSink``, spooled locally, appearing under its key only once complete), under the same name, without a
/// journal; the spool files are made new as files are. An object is stored only where none is (`If-None-Match: *`):
/// a key another relay of the fleet took meanwhile is given up for one with a fresh random part.
///
/// The session's own id (``SessionIdentity``: OpenAI's `session.id`, Twilio's `streamSid`, ElevenLabs'
/// `conversation_id`), once its first messages give it, joins the name: `<UTC start>-<connection>-<id>-<random>`.
/// Objects are moved to that key at once (``adopt(sessionID:)``: nothing of them was sent yet); files are renamed
/// when the recording is finalized (``finalizeNames()``), never over a file (`link`, then `unlink`), so that while it
/// runs the recording and its journal keep the one stem a killed relay's successor rebuilds by.
///
/// The recorder opens its sinks at the first audio; they are handed over from here (a session without audio leaves
/// no empty file: ``removeUnused()``).
final class RecordingFiles: Sendable {
    /// The recording's file (the first of them, for separate tracks).
    let audioPath: String
    let hasLog: Bool
    /// The journal's path, when the recording keeps one.
    let journalPath: String?
    /// Whether the recording goes to object storage (`s3://`), not to files.
    let isObjectStorage: Bool
    /// `<folder>/<UTC start>-<connection>-`, which every name of the set starts with.
    private let namePrefix: String
    /// The name's parts that come later: the random part, the session's id.
    private let naming: Mutex<Naming>
    private let names: RecordingNames
    /// The session's id, for the uploads' fresh names.
    private let sessionIDBox: SessionIDBox

    private struct Naming {
        var random: String
        var sessionID: String?
        /// The uploads made, with what follows the stem in their names (`.wav`, `.jsonl`), to move to the session's id.
        var uploads: [(sink: S3UploadSink, suffix: String)] = []
        /// The files made (their paths), with what follows the stem, to rename at the end.
        var files: [(path: String, suffix: String)] = []
        var stem: String { (sessionID.map { $0 + "-" } ?? "") + random }
    }
    /// What the relay's lines call the recording's output.
    var noun: String { isObjectStorage ? "object" : "file" }
    private let made = Mutex<[Made]>([])

    /// What a file of the set holds.
    private enum Kind: Equatable {
        /// Audio: the track (nil for the one output).
        case audio(AudioTrack?)
        case log, journal
    }

    /// A file made and not yet handed over: what it holds, its identity.
    private struct Made: @unchecked Sendable {
        // The sink is handed to the recorder's thread once and used there only.
        let sink: any PositionalByteSink
        let kind: Kind
        let device: UInt64
        let inode: UInt64
    }

    /// How many fresh names are tried before giving up (each taken name is a collision of 50 random bits, or a file
    /// someone planted: more than a few in a row means something else is wrong).
    static let attempts = 8

    /// Makes the files of connection `number`'s recording.
    ///
    /// - Throws: Why they cannot be made (a folder that cannot be written or made again, names taken again and again).
    init(number: Int, start: Double, configuration: RelayConfiguration, names: RecordingNames) throws(RecordingFailure) {
        let storage = configuration.objectStorage
        isObjectStorage = storage != nil
        var folder = Substring(storage.map { String($0.prefix.description.dropLast()) } ?? configuration.outputDirectory)
        while folder.count > 1, folder.hasSuffix("/") { folder = folder.dropLast() }
        let prefix = (folder == "/" ? "" : folder) + "/" + ConnectionRecording.timestamp(start) + "-\(number)-"
        namePrefix = prefix
        self.names = names
        // The id the session's first messages give, shared with the uploads' fresh names.
        let sessionID = SessionIDBox()
        let fileExtension = switch configuration.options.format {
        case .wav: "wav"
        case .ogg: "ogg"
        case .webm: "webm"
        }
        let separate = configuration.options.track == .both && configuration.options.layout == .separate
        hasLog = configuration.savesLog
        // As SessionRecorder keeps one: for a recording to one file.
        let journaled = configuration.keepsJournal && configuration.recordingSinkForTests == nil && !separate && storage == nil
        var takenNames: [String] = []
        var remadeFolder = false
        for _ in 0..<Self.attempts {
            let random = names.next()
            let stem = prefix + random
            let audio: OutputDestination = .file(stem + "." + fileExtension)
            var wanted: [(path: String, kind: Kind)] = []
            if configuration.recordingSinkForTests == nil {
                if separate {
                    for track in [AudioTrack.user, .assistant] { wanted.append((audio.destination(for: track)?.name ?? audio.name, .audio(track))) }
                } else {
                    wanted.append((audio.name, .audio(nil)))
                }
            }
            if hasLog { wanted.append((stem + ".jsonl", .log)) }
            if journaled { wanted.append((SessionConverter.journalPath(forOutput: audio.name), .journal)) }
            var files: [Made] = []
            var uploads: [(sink: S3UploadSink, suffix: String)] = []
            var failure: OutputError?
            for file in wanted {
                do throws(OutputError) {
                    let sink: any PositionalByteSink
                    if let storage {
                        let suffix = String(file.path.dropFirst(stem.count))
                        // A key taken by the time the object is stored: the same name with a fresh random part.
                        let upload = try Self.upload(file.path, storage) { [names] in
                            prefix + (sessionID.value.withLock { $0 }.map { $0 + "-" } ?? "") + names.next() + suffix
                        }
                        uploads.append((upload, suffix))
                        sink = upload
                    } else {
                        // A journal holds what was said: its owner's only, as the recorder's own journals are.
                        sink = try NewFile.sink(creating: file.path, permissions: file.kind == .journal ? 0o600 : 0o644)
                    }
                    let identity = storage == nil ? Self.identity(of: file.path) : nil
                    files.append(Made(sink: sink, kind: file.kind, device: identity?.device ?? 0, inode: identity?.inode ?? 0))
                } catch {
                    failure = error
                    break
                }
            }
            guard let failure else {
                audioPath = configuration.recordingSinkForTests ?? audio.name
                journalPath = journaled ? SessionConverter.journalPath(forOutput: audio.name) : nil
                made.withLock { $0 = files }
                let renamed = files.filter { $0.kind != .journal && storage == nil }.map { ($0.sink.name, String($0.sink.name.dropFirst(stem.count))) }
                naming = Mutex(Naming(random: random, uploads: uploads, files: configuration.recordingSinkForTests == nil ? renamed : []))
                self.sessionIDBox = sessionID
                return
            }
            Self.remove(files)
            switch failure.code {
            case EEXIST:
                takenNames.append(failure.path)
            case ENOENT where !remadeFolder:
                // The folder (the spool's, for object storage) was deleted while the relay ran: made again (with its
                // parents), once per recording.
                remadeFolder = true
                let gone = storage?.spoolDirectory ?? configuration.outputDirectory
                do {
                    try FileManager.default.createDirectory(atPath: gone, withIntermediateDirectories: true)
                } catch {
                    throw RecordingFailure(message: "the \(storage == nil ? "output" : "spool") folder \(gone) is gone and cannot be made "
                        + "again (\(error.localizedDescription)); no file was made", reason: "folder_missing")
                }
            default:
                throw RecordingFailure(message: "cannot make \(failure.path): \(failure.reason); no file was made",
                                       reason: failure.code == ENOSPC ? "disk_full" : "cannot_create")
            }
        }
        throw RecordingFailure(message: "every name tried was taken (\(takenNames.prefix(3).joined(separator: ", "))…); no file was "
            + "made: something is making files in \(configuration.outputDirectory) under the relay's names", reason: "names_taken")
    }

    /// Hands the recorder the audio file made for `track`.
    func takeAudio(for track: AudioTrack?) throws(OutputError) -> any ByteSink {
        try take(.audio(track))
    }

    /// Hands the recorder the log's file.
    func takeLog() throws(OutputError) -> any ByteSink {
        try take(.log)
    }

    /// Hands the recorder the journal's file.
    func takeJournal() throws(OutputError) -> any ByteSink {
        try take(.journal)
    }

    private func take(_ kind: Kind) throws(OutputError) -> any ByteSink {
        let found = made.withLock { files -> Made? in
            guard let index = files.firstIndex(where: { $0.kind == kind }) else { return nil }
            return files.remove(at: index)
        }
        guard let found else { throw OutputError(path: audioPath, reason: "the relay made no file for this output (a bug: report it)") }
        return found.sink
    }

    /// Whether the recorder took an audio file (it opens them at the first audio): otherwise ``removeUnused()`` removes
    /// them, and the recording keeps no file.
    var audioWasTaken: Bool {
        made.withLock { files in !files.contains { if case .audio = $0.kind { true } else { false } } }
    }

    /// Closes and removes the files never handed over (a session without audio): empty files the relay made.
    func removeUnused() {
        Self.remove(made.withLock { files in defer { files = [] }; return files })
    }

    /// An upload to the object `address` names (`s3://BUCKET/KEY`), spooled in the storage's spool folder, stored
    /// only where no object is; when its key is taken, under the address `fresh` names instead.
    private static func upload(_ address: String, _ storage: RelayObjectStorage,
                               fresh: @escaping @Sendable () -> String) throws(OutputError) -> S3UploadSink {
        let target: S3Address
        do throws(S3AddressError) {
            target = try S3Address(parsing: address)
        } catch {
            throw OutputError(path: address, reason: error.description)
        }
        return try S3UploadSink(address: target, client: storage.client, spoolDirectory: storage.spoolDirectory,
                                contentType: S3ContentType.forKey(target.key), keepingExistingObjects: true,
                                freshAddress: { (try? S3Address(parsing: fresh())) ?? target })
    }

    /// The session's id is known (sanitized): it joins the recording's name. Objects move to it now (none of them was
    /// sent yet; one that was keeps its name); files are renamed by ``finalizeNames()``. Only the first id counts.
    func adopt(sessionID id: String) {
        let uploads = naming.withLock { naming -> [(S3UploadSink, String)]? in
            guard naming.sessionID == nil else { return nil }
            naming.sessionID = id
            return naming.uploads.map { ($0.sink, namePrefix + naming.stem + $0.suffix) }
        }
        guard let uploads else { return }
        sessionIDBox.value.withLock { $0 = id }
        for (upload, key) in uploads {
            if let address = try? S3Address(parsing: key) { upload.retarget(to: address) }
        }
    }

    /// The recording's files under their final names: with the session's id, each file of the set (audio, log) is
    /// renamed to `<UTC start>-<connection>-<id>-<random>…`, never over a file (a hard link to the new name, then the
    /// old one removed; a name taken makes the set try a fresh random part). Returns the stems the names had (the
    /// first one; for objects, also the one ``adopt(sessionID:)`` moved them to) and the one they have now, when it
    /// changed (objects: the audio's key as it now is, which a key found taken changes too). Called once the recorder
    /// finished, its journal gone.
    func finalizeNames() -> (from: [String], to: String)? {
        let (files, uploads, id, random, stem) = naming.withLock { ($0.files, $0.uploads, $0.sessionID, $0.random, $0.stem) }
        let original = namePrefix + random
        if isObjectStorage {
            guard let audio = uploads.first, case let key = audio.sink.name, key.hasSuffix(audio.suffix) else { return nil }
            let now = String(key.dropLast(audio.suffix.count))
            // The longer name first: the one with the id holds the random part the first one ends with.
            return now == original ? nil : ([namePrefix + stem, original].filter { $0 != now }, now)
        }
        // A file the recorder never made (a session without audio keeps none) is left out.
        let present = files.filter { FileManager.default.fileExists(atPath: $0.path) }
        guard let id, !present.isEmpty else { return nil }
        for attempt in 0..<Self.attempts {
            let stem = namePrefix + id + "-" + (attempt == 0 ? random : names.next())
            var linked: [String] = []
            for file in present {
                guard link(file.path, stem + file.suffix) == 0 else { break }
                linked.append(stem + file.suffix)
            }
            if linked.count == present.count {
                for file in present { unlink(file.path) }
                return ([original], stem)
            }
            let code = errno
            for path in linked { unlink(path) }
            // A link that cannot be made for another reason (a file system without hard links): the names stay.
            guard code == EEXIST else { break }
        }
        return nil
    }

    /// The device and inode of what stands at `path` (a link itself, not what it points at).
    private static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value,
              let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value else { return nil }
        return (device, inode)
    }

    /// Closes the files and removes each one still standing at its name (the same file, never another one made there since).
    private static func remove(_ files: [Made]) {
        for file in files {
            // An object never written is given up: closing it would store an empty object.
            if let upload = file.sink as? S3UploadSink {
                upload.discard()
                continue
            }
            try? file.sink.close()
            if let identity = identity(of: file.sink.name), identity.device == file.device, identity.inode == file.inode {
                try? FileManager.default.removeItem(atPath: file.sink.name)
            }
        }
    }
}

/// The session's id, once known, shared by a recording's files and the fresh names of its uploads.
final class SessionIDBox: Sendable {
    let value = Mutex<String?>(nil)
}

/// Where the random parts of a relay's recording names come from: the system's generator, after any parts its tests
/// ask for (``RelayConfiguration/namesForTests``), so that a test can plant a file at the very name the relay will try.
final class RecordingNames: Sendable {
    private let queued: Mutex<[String]>

    init(first: [String] = []) {
        queued = Mutex(first)
    }

    /// The next random part: ten characters of RFC 4648 base32 (lowercase), 50 random bits.
    func next() -> String {
        if let given = queued.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return given }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var generator = SystemRandomNumberGenerator()
        return String((0..<10).map { _ in alphabet[Int(generator.next(upperBound: UInt32(32)))] })
    }
}
