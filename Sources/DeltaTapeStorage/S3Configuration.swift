/// What an S3 client needs to know: credentials, region and endpoint, found the way the AWS CLI and SDKs find them.
public struct S3Configuration: Sendable, Hashable, CustomStringConvertible {
    /// The access key that signs requests.
    public var credentials: S3Credentials
    /// The region requests are signed for.
    public var region: String
    /// Where requests go.
    public var endpoint: S3Endpoint

    /// A configuration from its parts.
    ///
    /// - Parameters:
    ///   - credentials: The access key.
    ///   - region: The region to sign for.
    ///   - endpoint: Where requests go; AWS's endpoint for `region` by default.
    public init(credentials: S3Credentials, region: String, endpoint: S3Endpoint? = nil) {
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint ?? .aws(region: region)
    }

    /// Region, endpoint and the redacted credentials (no secret).
    public var description: String { "S3Configuration(region \(region), endpoint \(endpoint), \(credentials))" }

    /// The region when none is configured anywhere, as most S3 tools assume (and S3-compatible stores accept).
    public static let defaultRegion = "us-east-1"

    /// Resolves credentials, region and endpoint from an environment and the AWS shared files, in the order the AWS
    /// CLI uses:
    ///
    /// - the profile is `AWS_PROFILE`, else `default`;
    /// - credentials: `AWS_ACCESS_KEY_ID` with `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the profile's
    ///   `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token` in the credentials file (section `[NAME]`),
    ///   else in the config file (section `[profile NAME]`, `[default]` for the default profile);
    /// - region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in the config file, else ``defaultRegion``;
    /// - endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url` in the config file (none of
    ///   them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`), else AWS's endpoint for the region.
    ///
    /// The credentials file is `AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials`; the config file is
    /// `AWS_CONFIG_FILE`, else `$HOME/.aws/config`. SSO, `credential_process`, role assumption and instance metadata
    /// are not read.
    ///
    /// - Parameter environment: The variables to read (the process's, or a test's own).
    /// - Returns: The configuration.
    /// - Throws: ``S3ConfigurationError`` when no credentials are found, a profile named by `AWS_PROFILE` exists in
    ///   neither file, or the endpoint URL is malformed. Its message names what to set, never a secret.
    public static func resolve(environment: [String: String]) throws(S3ConfigurationError) -> S3Configuration {
        let nonEmpty = { (name: String) -> String? in
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        let home = nonEmpty("HOME")
        let credentialsPath = nonEmpty("AWS_SHARED_CREDENTIALS_FILE") ?? home.map { "\($0)/.aws/credentials" }
        let configPath = nonEmpty("AWS_CONFIG_FILE") ?? home.map { "\($0)/.aws/config" }
        let profileName = nonEmpty("AWS_PROFILE") ?? "default"
        let credentialsFile = credentialsPath.flatMap { AWSSharedFile(path: $0) }
        let configFile = configPath.flatMap { AWSSharedFile(path: $0) }
        let fromCredentialsFile = credentialsFile?.sections[profileName]
        let fromConfigFile = configFile?.sections[profileName == "default" ? "default" : "profile \(profileName)"]
            ?? (profileName == "default" ? configFile?.sections["profile default"] : nil)
        let explicitProfile = nonEmpty("AWS_PROFILE") != nil
        let fromEnvironment = nonEmpty("AWS_ACCESS_KEY_ID") != nil

        if explicitProfile && !fromEnvironment && fromCredentialsFile == nil && fromConfigFile == nil {
            throw S3ConfigurationError(
                "AWS_PROFILE names the profile \"\(profileName)\", which is in neither \(credentialsPath ?? "the credentials file")"
                    + " ([\(profileName)]) nor \(configPath ?? "the config file") ([profile \(profileName)])")
        }

        let credentials: S3Credentials
        if let accessKeyID = nonEmpty("AWS_ACCESS_KEY_ID") {
            guard let secret = nonEmpty("AWS_SECRET_ACCESS_KEY") else {
                throw S3ConfigurationError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both")
            }
            credentials = S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: nonEmpty("AWS_SESSION_TOKEN"))
        } else if let found = keyPair(fromCredentialsFile) ?? keyPair(fromConfigFile) {
            credentials = found
        } else {
            throw S3ConfigurationError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put aws_access_key_id and"
                    + " aws_secret_access_key under [\(profileName)] in \(credentialsPath ?? "~/.aws/credentials")")
        }

        let region = nonEmpty("AWS_REGION") ?? nonEmpty("AWS_DEFAULT_REGION") ?? nonEmptyValue(fromConfigFile?["region"]) ?? defaultRegion
        let ignoreEndpoints = nonEmpty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")?.lowercased() == "true"
        let endpointURL = ignoreEndpoints ? nil
            : nonEmpty("AWS_ENDPOINT_URL_S3") ?? nonEmpty("AWS_ENDPOINT_URL") ?? nonEmptyValue(fromConfigFile?["endpoint_url"])
        let endpoint = try endpointURL.map { (url) throws(S3ConfigurationError) in try S3Endpoint(url: url) } ?? .aws(region: region)
        return S3Configuration(credentials: credentials, region: region, endpoint: endpoint)
    }

    private static func keyPair(_ section: [String: String]?) -> S3Credentials? {
        guard let id = nonEmptyValue(section?["aws_access_key_id"]), let secret = nonEmptyValue(section?["aws_secret_access_key"]) else {
            return nil
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: nonEmptyValue(section?["aws_session_token"]))
    }

    private static func nonEmptyValue(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}

/// Credentials, region or endpoint that could not be found or used, with what to set. Never holds a secret.
public struct S3ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong and what to do about it.
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    /// `S3 configuration: MESSAGE.`
    public var description: String { "S3 configuration: \(message)." }
}
