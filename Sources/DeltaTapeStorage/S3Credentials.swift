/// An AWS access key: the key ID, its secret, and a session token for temporary credentials.
///
/// Its descriptions (`description`, `debugDescription`, and the mirror `dump` and debuggers read) show the key ID's
/// last four characters only, as `aws configure list` does, and never the secret or the token, so a credential logged
/// or interpolated into a message by mistake gives nothing away.
public struct S3Credentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The access key ID (`AKIA…`, `ASIA…` for temporary credentials).
    public var accessKeyID: String
    /// The secret access key. Never printed.
    public var secretAccessKey: String
    /// The session token of temporary credentials, sent as `x-amz-security-token`. Never printed.
    public var sessionToken: String?

    /// Credentials from their parts.
    ///
    /// - Parameters:
    ///   - accessKeyID: The access key ID.
    ///   - secretAccessKey: The secret access key.
    ///   - sessionToken: The session token, for temporary credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// `S3Credentials(access key ****ABCD, secret redacted, session token redacted)`; the token part only when there is one.
    public var description: String {
        let visible = accessKeyID.count > 8 ? String(accessKeyID.suffix(4)) : ""
        return "S3Credentials(access key ****\(visible), secret redacted\(sessionToken == nil ? "" : ", session token redacted"))"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// A mirror with the redacted description only, so `dump` and reflection show no secret either.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }
}
