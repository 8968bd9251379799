// The manifest beside an upload's spool file: what a repair needs to finish the upload after a kill (no secret is in
// it). Read with the project's own JSON scanner (DeltaTapeEvents), written by JSONStringWriter, so no Foundation here.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public import DeltaTapeContainers
import DeltaTapeKernels
@_spi(Blocks) import DeltaTapeEvents

/// What an upload's spool entry says of it: the object it becomes, the multipart upload (once begun), the parts the
/// server has acknowledged (with their ETags) and the parts overwritten since they were sent.
///
/// It is written beside the spool file (`NAME.manifest` beside `NAME.spool`) when the spool is made, when the upload
/// is begun, after each part, and before a part already sent is overwritten, each time whole (written beside it, then
/// renamed over it), so a kill at any moment leaves one that is true: every part it lists as acknowledged and not
/// changed holds on the server what the spool holds there.
public struct S3SpoolManifest: Sendable, Equatable {
    /// The object the upload becomes.
    public var address: S3Address
    /// The multipart upload's id; `nil` until CreateMultipartUpload has answered (a spool smaller than one part never
    /// has one: it goes up in one PutObject).
    public var uploadID: String?
    /// The object's `Content-Type`, if any.
    public var contentType: String?
    /// Where the parts lie in the spool file.
    public var layout: S3PartLayout
    /// The parts the server acknowledged, in part-number order.
    public var parts: [S3UploadedPart]
    /// Parts overwritten after they were handed to the upload (a header written last): the server's copy may be older.
    public var changedParts: Set<Int>

    /// A manifest.
    ///
    /// - Parameters:
    ///   - address: The object the upload becomes.
    ///   - uploadID: The multipart upload's id, once begun.
    ///   - contentType: The object's `Content-Type`.
    ///   - layout: Where the parts lie in the spool file.
    ///   - parts: The parts acknowledged.
    ///   - changedParts: Parts overwritten since they were sent.
    public init(address: S3Address, uploadID: String? = nil, contentType: String? = nil, layout: S3PartLayout,
                parts: [S3UploadedPart] = [], changedParts: Set<Int> = []) {
        self.address = address
        self.uploadID = uploadID
        self.contentType = contentType
        self.layout = layout
        self.parts = parts.sorted { $0.partNumber < $1.partNumber }
        self.changedParts = changedParts
    }

    /// The manifest's path for the spool file at `spoolPath` (`NAME.spool` → `NAME.manifest`).
    ///
    /// - Parameter spoolPath: The spool file.
    /// - Returns: The manifest beside it.
    public static func path(forSpool spoolPath: String) -> String {
        (spoolPath.hasSuffix(spoolSuffix) ? String(spoolPath.dropLast(spoolSuffix.count)) : spoolPath) + manifestSuffix
    }

    /// `.spool`, the suffix of a spool file.
    public static let spoolSuffix = ".spool"
    /// `.manifest`, the suffix of its manifest.
    public static let manifestSuffix = ".manifest"

    // MARK: - Writing

    /// The manifest as one line of JSON.
    ///
    /// - Returns: Its bytes.
    public func encoded() -> [UInt8] {
        var text: [UInt8] = []
        func field(_ name: String, _ value: String) {
            text += Array("\"\(name)\":".utf8)
            JSONStringWriter.append(value.utf8, to: &text)
            text.append(UInt8(ascii: ","))
        }
        text.append(UInt8(ascii: "{"))
        field("bucket", address.bucket)
        field("key", address.key)
        if let uploadID { field("uploadId", uploadID) }
        if let contentType { field("contentType", contentType) }
        text += Array("\"partByteCount\":\(layout.basePartByteCount),\"parts\":[".utf8)
        for (index, part) in parts.enumerated() {
            text += Array("\(index == 0 ? "" : ","){\"number\":\(part.partNumber),\"etag\":".utf8)
            JSONStringWriter.append(part.etag.utf8, to: &text)
            text.append(UInt8(ascii: "}"))
        }
        text += Array("],\"changed\":[\(changedParts.sorted().map(String.init).joined(separator: ","))]}\n".utf8)
        return text
    }

    /// Writes the manifest to `path` whole or not at all: to `path.new` (made new, never through a link), then
    /// renamed over `path`.
    ///
    /// - Parameter path: The manifest's path.
    /// - Throws: ``OutputError`` naming the path.
    public func write(to path: String) throws(OutputError) {
        let temporary = path + ".new"
        unlink(temporary)
        do throws(OutputError) {
            let sink = try FileDescriptorSink(creatingNew: temporary, permissions: 0o600)
            try sink.write(encoded())
            try sink.close()
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw OutputError(path: path, reason: "cannot rename \(temporary) over it: \(SystemCall.errorMessage(code))", code: code)
        }
    }

    // MARK: - Reading

    /// Reads the manifest at `path`.
    ///
    /// - Parameter path: The manifest.
    /// - Returns: What it says.
    /// - Throws: ``S3RepairError/unreadableSpool(path:reason:)`` when it cannot be read or is not a manifest.
    public static func load(path: String) throws(S3RepairError) -> S3SpoolManifest {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadableSpool(path: path, reason: "cannot open it: \(SystemCall.errorMessage(errno))") }
        defer { SystemCall.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .unreadableSpool(path: path, reason: "cannot read it: \(SystemCall.errorMessage(errno))") }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return try parse(bytes, path: path)
    }

    /// Reads a manifest's bytes.
    ///
    /// - Parameters:
    ///   - bytes: The manifest's JSON.
    ///   - path: Its path, for the error.
    /// - Returns: What it says.
    /// - Throws: ``S3RepairError/unreadableSpool(path:reason:)`` when the bytes are not a manifest.
    public static func parse(_ bytes: [UInt8], path: String) throws(S3RepairError) -> S3SpoolManifest {
        func refusal(_ reason: String) -> S3RepairError { .unreadableSpool(path: path, reason: "it is not an upload's manifest: \(reason)") }
        var scanner = JSONScanner()
        let parsed = bytes.withUnsafeBytes { text -> Result<S3SpoolManifest, S3RepairError> in
            do throws(JSONScanFailure) {
                try scanner.scanObject(text)
            } catch {
                return .failure(refusal("\(error)"))
            }
            guard let object = JSONObjectView(scanner: scanner, text: text) else { return .failure(refusal("not a JSON object")) }
            guard let bucket = object.string("bucket"), let key = object.string("key") else { return .failure(refusal("no bucket or key")) }
            let address: S3Address
            do throws(S3AddressError) {
                address = try S3Address(bucket: bucket, key: key)
            } catch {
                return .failure(refusal(error.description))
            }
            guard let partByteCount = object.integer("partByteCount"), partByteCount > 0 else { return .failure(refusal("no part size")) }
            var parts: [S3UploadedPart] = []
            for element in object.array("parts").map(Array.init) ?? [] {
                guard let part = object.object(in: element), let number = part.integer("number"),
                      (1...S3MultipartLimits.maximumPartCount).contains(number), let etag = part.string("etag") else {
                    return .failure(refusal("a part without a number or an ETag"))
                }
                parts.append(S3UploadedPart(partNumber: number, etag: etag))
            }
            var changed: Set<Int> = []
            for element in object.array("changed").map(Array.init) ?? [] {
                guard element.kind == .number, let number = JSONNumber.integer(text, element.value) else {
                    return .failure(refusal("a changed part that is not a number"))
                }
                changed.insert(number)
            }
            return .success(S3SpoolManifest(address: address, uploadID: object.string("uploadId"), contentType: object.string("contentType"),
                                            layout: S3PartLayout(basePartByteCount: partByteCount), parts: parts, changedParts: changed))
        }
        return try parsed.get()
    }
}
