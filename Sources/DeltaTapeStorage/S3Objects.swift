/// What HeadObject and GetObject tell about an object.
public struct S3ObjectInfo: Sendable, Hashable {
    /// The object's whole size in bytes (not the range's, for a ranged GET).
    public var byteCount: Int64
    /// Its ETag, quotes included, as S3 sends it.
    public var etag: String
    /// `Last-Modified`, as the server wrote it (an HTTP date).
    public var lastModified: String
    /// `Content-Type`, when the server gave one.
    public var contentType: String?
}

/// One object of a listing.
public struct S3ListedObject: Sendable, Hashable {
    /// Its key (not percent-encoded).
    public var key: String
    /// Its size in bytes.
    public var byteCount: Int64
    /// Its ETag, quotes included.
    public var etag: String
    /// When it was last written, ISO 8601 as S3 lists it.
    public var lastModified: String
}

/// One page of ListObjectsV2.
public struct S3ObjectListing: Sendable, Hashable {
    /// The objects of this page, in key order.
    public var objects: [S3ListedObject]
    /// With a delimiter: the keys' common prefixes up to it ("subfolders").
    public var commonPrefixes: [String]
    /// The token of the next page; `nil` on the last page.
    public var nextContinuationToken: String?
}

/// An open multipart upload: nothing is visible under its key until it is completed.
public struct S3MultipartUpload: Sendable, Hashable {
    /// The object it will become.
    public var address: S3Address
    /// The server's id of the upload.
    public var uploadID: String

    /// An upload, for example one recorded in a spool's manifest.
    ///
    /// - Parameters:
    ///   - address: The object it will become.
    ///   - uploadID: The server's id of the upload.
    public init(address: S3Address, uploadID: String) {
        self.address = address
        self.uploadID = uploadID
    }
}

/// A part the server holds, as CompleteMultipartUpload names it.
public struct S3UploadedPart: Sendable, Hashable {
    /// 1 to 10,000.
    public var partNumber: Int
    /// The part's ETag as UploadPart answered it.
    public var etag: String

    /// A part, for example one recorded in a spool's manifest.
    ///
    /// - Parameters:
    ///   - partNumber: 1 to 10,000.
    ///   - etag: The ETag UploadPart answered.
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// S3's multipart limits (the AWS user guide's "Amazon S3 multipart upload limits").
public enum S3MultipartLimits {
    /// Part numbers run from 1 to this.
    public static let maximumPartCount = 10_000
    /// Every part but the last holds at least this many bytes (5 MiB).
    public static let minimumPartByteCount: Int64 = 5 << 20
    /// No part holds more (5 GiB).
    public static let maximumPartByteCount: Int64 = 5 << 30
}
