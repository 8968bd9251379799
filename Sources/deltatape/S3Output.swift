// `-o s3://BUCKET/KEY` and `-o s3://BUCKET/PREFIX/` (issue 28): each output goes up as it is written, through an
// S3UploadSink (a multipart upload fed from a spool file), and appears under its key only when complete.
import DeltaTape
import DeltaTapeStorage
import Foundation

/// Where `-o` sends outputs when it names S3: the bucket and key (or prefix), the client, the spool folder.
struct S3Output: Sendable {
    let address: S3Address
    let client: S3Client
    let spoolDirectory: String

    /// The S3 output `output` names, or nil when it names none (a file, a folder, `-`).
    ///
    /// - Throws: ``OutputError`` naming the address: not a valid `s3://` address, no credentials or region found, a
    ///   spool folder that cannot be made.
    static func prepare(_ output: String, spool: String?) throws(OutputError) -> S3Output? {
        guard output.hasPrefix(S3Address.scheme) else { return nil }
        let address: S3Address
        do throws(S3AddressError) {
            address = try S3Address(parsing: output)
        } catch {
            throw OutputError(path: output, reason: error.description)
        }
        let client: S3Client
        do throws(S3ConfigurationError) {
            client = try sharedS3Client.get()
        } catch {
            throw OutputError(path: output, reason: error.description)
        }
        let folder = spool ?? defaultSpoolDirectory
        if let reason = makeFolder(folder) { throw OutputError(path: output, reason: "the spool folder \(folder): \(reason) (--spool DIR)") }
        return S3Output(address: address, client: client, spoolDirectory: folder)
    }

    /// `$XDG_CACHE_HOME/deltatape/spool`, or `~/.cache/deltatape/spool`.
    static var defaultSpoolDirectory: String {
        S3UploadSink.defaultSpoolDirectory(environment: ProcessInfo.processInfo.environment, home: NSHomeDirectory())
    }

    /// Where `input` goes: the key `-o` names, or `PREFIX/NAME.EXT` when it names a prefix; a track of separate files
    /// under `NAME.user.EXT` and `NAME.assistant.EXT`, as for files.
    func destination(for input: String, intoPrefix: Bool, format: OutputFormat) -> OutputDestination {
        let key = key(for: input, intoPrefix: intoPrefix, format: format)
        let bucket = address.bucket, client = client, spool = spoolDirectory
        return .custom { track throws(OutputError) in
            let name = Self.key(key, track: track)
            let target: S3Address
            do throws(S3AddressError) {
                target = try S3Address(bucket: bucket, key: name)
            } catch {
                throw OutputError(path: "\(S3Address.scheme)\(bucket)/\(name)", reason: error.description)
            }
            // The type the format names (a key given with another extension is still the format's).
            let contentType = S3ContentType.forExtension(format.rawValue)
            return try S3UploadSink(address: target, client: client, spoolDirectory: spool, contentType: contentType)
        }
    }

    /// The objects ``destination(for:intoPrefix:format:)`` makes for `input`: one, or one per track of separate files.
    func addresses(for input: String, intoPrefix: Bool, format: OutputFormat, separate: Bool) -> [S3Address] {
        let key = key(for: input, intoPrefix: intoPrefix, format: format)
        return (separate ? [AudioTrack.user, .assistant] : [nil]).compactMap { try? S3Address(bucket: address.bucket, key: Self.key(key, track: $0)) }
    }

    /// The key `-o` names, or `PREFIX/NAME.EXT` for `input` when it names a prefix.
    private func key(for input: String, intoPrefix: Bool, format: OutputFormat) -> String {
        intoPrefix ? address.key + fileNameWithoutExtension(input) + "." + format.rawValue : address.key
    }

    /// The key of `track`'s file of separate files (`nil`: the one output).
    private static func key(_ key: String, track: AudioTrack?) -> String {
        track.map { OutputDestination.file(key).destination(for: $0)?.name ?? key } ?? key
    }
}
