#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One upload's entry in a spool folder: the spool file (`NAME.spool`, every byte of the recording written so far) and
/// its manifest (`NAME.manifest`), as ``S3UploadSink`` leaves them when it is stopped before its upload completes.
public struct S3SpoolEntry: Sendable, Equatable {
    /// The spool file.
    public let spoolPath: String
    /// The manifest beside it.
    public let manifestPath: String
    /// What the manifest says.
    public let manifest: S3SpoolManifest

    /// The entry that `path` names: its spool file or its manifest.
    ///
    /// - Parameter path: `NAME.spool` or `NAME.manifest`.
    /// - Throws: ``S3RepairError/unreadableSpool(path:reason:)`` when the manifest cannot be read.
    public init(path: String) throws(S3RepairError) {
        let stem = Self.stem(of: path)
        spoolPath = stem + S3SpoolManifest.spoolSuffix
        manifestPath = stem + S3SpoolManifest.manifestSuffix
        manifest = try S3SpoolManifest.load(path: manifestPath)
    }

    /// Whether `path` names a spool entry: a `.spool` or `.manifest` file with a manifest beside it.
    ///
    /// - Parameter path: A path given by the user.
    /// - Returns: Whether it is an entry's file.
    public static func isEntry(_ path: String) -> Bool {
        guard path.hasSuffix(S3SpoolManifest.spoolSuffix) || path.hasSuffix(S3SpoolManifest.manifestSuffix) else { return false }
        return access(stem(of: path) + S3SpoolManifest.manifestSuffix, F_OK) == 0
    }

    /// `NAME` of `NAME.spool` or `NAME.manifest`.
    private static func stem(of path: String) -> String {
        for suffix in [S3SpoolManifest.spoolSuffix, S3SpoolManifest.manifestSuffix] where path.hasSuffix(suffix) {
            return String(path.dropLast(suffix.count))
        }
        return path
    }

    /// Whether `path` is a folder holding at least one manifest (a spool folder).
    ///
    /// - Parameter path: A path given by the user.
    /// - Returns: Whether it is a spool folder.
    public static func isSpoolFolder(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return false }
        return !manifestPaths(in: path).isEmpty
    }

    /// Every entry in the spool folder `folder`, in name order, and an error for each manifest that cannot be read.
    ///
    /// - Parameter folder: The spool folder.
    /// - Returns: The entries, and the manifests that cannot be used.
    public static func entries(in folder: String) -> (entries: [S3SpoolEntry], unreadable: [S3RepairError]) {
        var entries: [S3SpoolEntry] = []
        var unreadable: [S3RepairError] = []
        for path in manifestPaths(in: folder) {
            do throws(S3RepairError) {
                entries.append(try S3SpoolEntry(path: path))
            } catch {
                unreadable.append(error)
            }
        }
        return (entries, unreadable)
    }

    /// The entries in `folder` that are uploads to `address`.
    ///
    /// - Parameters:
    ///   - address: The object.
    ///   - folder: The spool folder.
    /// - Returns: The entries, in name order.
    public static func entries(for address: S3Address, in folder: String) -> [S3SpoolEntry] {
        entries(in: folder).entries.filter { $0.manifest.address == address }
    }

    /// Whether the spool file is being written now: the process writing it holds its lock (a killed one's went with it).
    public var isBeingWritten: Bool {
        let descriptor = open(spoolPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// Removes the spool file and its manifest (and a manifest left half-written).
    public func remove() {
        unlink(spoolPath)
        unlink(manifestPath)
        unlink(manifestPath + ".new")
    }

    /// The `.manifest` files in `folder`, in name order.
    private static func manifestPaths(in folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(S3SpoolManifest.manifestSuffix), name.count > S3SpoolManifest.manifestSuffix.count { names.append(name) }
        }
        let base = folder.hasSuffix("/") ? folder : folder + "/"
        return names.sorted().map { base + $0 }
    }
}
