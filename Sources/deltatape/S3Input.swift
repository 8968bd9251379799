// `s3://BUCKET/KEY` inputs of `convert` and `inspect`: the object read by DeltaTapeStorage's S3ObjectSource (ranged
// GETs on a thread of its own, memory bounded), converted or inspected as a file's bytes would be.
import ArgumentParser
@_spi(Blocks) import DeltaTape
import DeltaTapeStorage
import FoundationEssentials

/// What the command line does with an `s3://` input.
enum S3Input {
    /// Refuses an `s3://` input that is no valid address. Other inputs pass.
    static func validate(_ input: String) throws {
        guard S3Address.isAddress(input) else { return }
        do throws(S3AddressError) {
            _ = try S3Address(parsing: input)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Whether `input` is an `s3://` prefix (`s3://BUCKET/PREFIX/`, or a bucket alone): every object under it.
    static func isPrefix(_ input: String) -> Bool {
        S3Address.isAddress(input) && (try? S3Address(parsing: input))?.isPrefix == true
    }

    /// `inputs` with each `s3://` prefix replaced by the objects under it (ListObjectsV2, every page), in key order, as
    /// a folder's files would be; keys that end in '/' (the empty objects consoles make as folders) are left out.
    ///
    /// - Throws: ``ConversionError/unreadableInput(_:)`` naming the prefix: it cannot be listed (S3's code: AccessDenied,
    ///   NoSuchBucket), or holds no object.
    static func expandingPrefixes(_ inputs: [String]) throws(ConversionError) -> [String] {
        var expanded: [String] = []
        for input in inputs {
            guard isPrefix(input), let prefix = try? S3Address(parsing: input) else {
                expanded.append(input)
                continue
            }
            let objects: [S3ListedObject]
            do {
                objects = try sharedS3Client.get().listAllObjects(prefix)
            } catch {
                throw .unreadableInput(InputError(name: input, reason: "cannot be listed: \(error)"))
            }
            let keys = objects.map(\.key).filter { !$0.hasSuffix("/") }
            guard !keys.isEmpty else {
                throw .unreadableInput(InputError(name: input, reason: "holds no object to convert (ListObjectsV2 listed none under the prefix)"))
            }
            expanded += keys.map { "\(S3Address.scheme)\(prefix.bucket)/\($0)" }
        }
        return expanded
    }

    /// The object at `input` (an `s3://` address that ``validate(_:)`` let pass), opened for reading.
    ///
    /// - Throws: ``ConversionError/unreadableInput(_:)`` naming the object, when no credentials are configured.
    static func open(_ input: String) throws(ConversionError) -> S3ObjectSource {
        do {
            let address = try S3Address(parsing: input)
            return try S3ObjectSource(address: address, client: try sharedS3Client.get())
        } catch let error as InputError {
            throw .unreadableInput(error)
        } catch {
            throw .unreadableInput(InputError(name: input, reason: "cannot be read: \(error)"))
        }
    }
}

extension S3Input {
    /// For an `s3://` input with no object under its key, a sentence saying that its upload is still open (S3 lists a
    /// multipart upload for the key, or `spool` holds an entry for it) and how it is finished; `nil` otherwise.
    ///
    /// - Parameters:
    ///   - input: The `s3://` address given.
    ///   - spool: The spool folder given with `--spool`, if any.
    static func openUploadNote(_ input: String, spool: String?) -> String? {
        guard let address = try? S3Address(parsing: input), !address.isPrefix, let client = try? sharedS3Client.get() else { return nil }
        do throws(S3Error) {
            _ = try client.headObject(address)
            return nil
        } catch {
            guard error.isNotFound else { return nil }
        }
        let uploads = (try? client.listMultipartUploads(address))?.filter { $0.address == address }.count ?? 0
        let entries = S3SpoolEntry.entries(for: address, in: spool ?? S3Output.defaultSpoolDirectory)
        guard uploads > 0 || !entries.isEmpty else { return nil }
        var held: [String] = []
        if uploads > 0 { held.append(uploads == 1 ? "S3 lists a multipart upload for it" : "S3 lists \(uploads) multipart uploads for it") }
        if !entries.isEmpty { held.append("the spool entry \(entries.map(\.spoolPath).joined(separator: ", ")) holds it") }
        let what = "\(address): no object under this key yet: its upload is still open (\(held.joined(separator: "; ")))"
        if entries.contains(where: \.isBeingWritten) {
            return what + "; a running deltatape is writing it now, and the object appears when it finishes"
        }
        let spoolOption = spool.map { " --spool \($0)" } ?? ""
        let remedy = entries.isEmpty
            ? "; no spool entry here holds it: run 'deltatape repair \(address) --spool DIR' where the conversion's spool folder is"
            : "; the conversion writing it stopped before the end: finish it with 'deltatape repair \(address)\(spoolOption)'"
        return what + remedy
    }
}

/// The client every `s3://` input and output of the run shares (one pool of connections), configured from the
/// environment and the AWS shared files.
let sharedS3Client = Result { () throws(S3ConfigurationError) -> S3Client in
    S3Client(configuration: try S3Configuration.resolve(environment: ProcessInfo.processInfo.environment))
}
