/// Why an interrupted upload could not be finished from its spool entry; each case reads as a sentence naming the key
/// and the spool file, and says what to do.
public enum S3RepairError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A manifest or spool file that cannot be read, or a manifest that is not one.
    case unreadableSpool(path: String, reason: String)
    /// No spool entry in the folder is an upload to the key.
    case noSpoolEntry(address: S3Address, folder: String, openUploadCount: Int)
    /// Several spool entries are uploads to the key: which one holds the recording is the user's call.
    case severalSpoolEntries(address: S3Address, spoolPaths: [String])
    /// The spool file is locked by the process still writing it: the upload is not interrupted, it is under way.
    case stillWriting(address: S3Address, spoolPath: String)
    /// The spool file's recording cannot be repaired (another format, nothing to keep): the local repair's reason.
    case notRepairable(address: S3Address, spoolPath: String, reason: String)
    /// S3 refused (or never answered) a request of the repair; the spool entry is kept.
    case upload(address: S3Address, spoolPath: String, error: S3Error)

    /// The failure in words.
    public var description: String {
        switch self {
        case .unreadableSpool(let path, let reason):
            return "the spool entry \(path) cannot be used: \(reason)"
        case .noSpoolEntry(let address, let folder, let openUploadCount):
            let open = switch openUploadCount {
            case 0: "and S3 holds no open upload for it either"
            case 1: "though S3 holds an open upload for it, made elsewhere (another machine's spool, or another --spool folder)"
            default: "though S3 holds \(openUploadCount) open uploads for it, made elsewhere (another machine's spool, or another --spool folder)"
            }
            return "\(address): no spool entry in \(folder) is an upload to this key, \(open); name the folder with --spool DIR"
        case .severalSpoolEntries(let address, let spoolPaths):
            return "\(address): \(spoolPaths.count) spool entries are uploads to this key (\(spoolPaths.joined(separator: ", "))); "
                + "repair the one that holds the recording by naming it (deltatape repair PATH.spool)"
        case .stillWriting(let address, let spoolPath):
            return "\(address): the spool file \(spoolPath) is locked by the deltatape process still writing it: the upload is under way, "
                + "not interrupted; it is left alone"
        case .notRepairable(let address, let spoolPath, let reason):
            return "\(address): the recording in the spool file \(spoolPath) cannot be finished: \(reason); the spool entry is kept"
        case .upload(let address, let spoolPath, let error):
            return "\(address): finishing the upload from the spool file \(spoolPath) failed: \(error.description) "
                + "The spool entry is kept: run the repair again once S3 accepts it"
        }
    }
}
