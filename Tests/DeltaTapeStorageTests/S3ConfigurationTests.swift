import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// Credentials, region and endpoint found as the AWS CLI finds them (its documented order: environment, then the
/// credentials file's `[NAME]`, then the config file's `[profile NAME]`), from an environment the test makes.
@Suite struct S3ConfigurationTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let token = "FwoGZXIvYXdzEXAMPLETOKEN"

    /// A folder holding `credentials` and `config`, and an environment that points HOME there.
    static func home(credentials: String?, config: String?) throws -> (environment: [String: String], folder: URL) {
        let folder = try TestEnvironment.temporaryDirectory()
        try FileManager.default.createDirectory(at: folder.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        if let credentials { try Data(credentials.utf8).write(to: folder.appendingPathComponent(".aws/credentials")) }
        if let config { try Data(config.utf8).write(to: folder.appendingPathComponent(".aws/config")) }
        return (["HOME": folder.path], folder)
    }

    @Test func environmentComesFirst() throws {
        var (environment, _) = try Self.home(credentials: "[default]\naws_access_key_id = FROMFILE\naws_secret_access_key = filesecret\n",
                                            config: "[default]\nregion = eu-central-1\n")
        environment["AWS_ACCESS_KEY_ID"] = "AKIAENVIRONMENT1"
        environment["AWS_SECRET_ACCESS_KEY"] = Self.secret
        environment["AWS_SESSION_TOKEN"] = Self.token
        environment["AWS_DEFAULT_REGION"] = "ap-south-1"
        let configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.credentials == S3Credentials(accessKeyID: "AKIAENVIRONMENT1", secretAccessKey: Self.secret, sessionToken: Self.token))
        #expect(configuration.region == "ap-south-1")
        #expect(configuration.endpoint == .aws(region: "ap-south-1") && !configuration.endpoint.usesPathStyle)
        environment["AWS_REGION"] = "us-west-2"  // beats AWS_DEFAULT_REGION
        #expect(try S3Configuration.resolve(environment: environment).region == "us-west-2")
    }

    @Test func endpointVariablesInOrder() throws {
        var environment = ["AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT1", "AWS_SECRET_ACCESS_KEY": Self.secret,
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"]
        var configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.endpoint.description == "http://127.0.0.1:9000" && configuration.endpoint.usesPathStyle)
        #expect(configuration.region == S3Configuration.defaultRegion)
        environment["AWS_ENDPOINT_URL_S3"] = "https://s3.internal:8443"
        configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.endpoint.description == "https://s3.internal:8443")
        environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try S3Configuration.resolve(environment: environment).endpoint == .aws(region: "us-east-1"))
        environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = nil
        environment["AWS_ENDPOINT_URL_S3"] = "s3.internal:8443"
        #expect(throws: S3ConfigurationError.self) { try S3Configuration.resolve(environment: environment) }
    }

    @Test func sharedFilesWithAProfile() throws {
        let credentials = """
            # a comment
            [default]
            aws_access_key_id = AKIADEFAULTPROFILE
            aws_secret_access_key = defaultsecret

            [work]
            aws_access_key_id=AKIAWORKPROFILE01
            aws_secret_access_key = \(Self.secret)
            aws_session_token = \(Self.token)
            """
        let config = """
            [default]
            region = eu-west-1
            [profile work]
            region = eu-north-1
            endpoint_url = http://127.0.0.1:8333
            s3 =
              addressing_style = path
            """
        var (environment, folder) = try Self.home(credentials: credentials, config: config)
        var configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.credentials.accessKeyID == "AKIADEFAULTPROFILE" && configuration.region == "eu-west-1")
        environment["AWS_PROFILE"] = "work"
        configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.credentials == S3Credentials(accessKeyID: "AKIAWORKPROFILE01", secretAccessKey: Self.secret, sessionToken: Self.token))
        #expect(configuration.region == "eu-north-1")
        #expect(configuration.endpoint.description == "http://127.0.0.1:8333")

        // Files elsewhere, named by the variables; a profile whose keys are in the config file only.
        let other = try TestEnvironment.temporaryDirectory()
        try Data("[profile solo]\naws_access_key_id = AKIACONFIGONLY01\naws_secret_access_key = s\nregion = sa-east-1\n".utf8)
            .write(to: other.appendingPathComponent("my-config"))
        environment = ["HOME": folder.path, "AWS_PROFILE": "solo", "AWS_CONFIG_FILE": other.appendingPathComponent("my-config").path,
                       "AWS_SHARED_CREDENTIALS_FILE": other.appendingPathComponent("absent").path]
        configuration = try S3Configuration.resolve(environment: environment)
        #expect(configuration.credentials.accessKeyID == "AKIACONFIGONLY01" && configuration.region == "sa-east-1")
    }

    @Test func missingCredentialsSayWhatToSet() throws {
        let (environment, _) = try Self.home(credentials: nil, config: nil)
        do {
            _ = try S3Configuration.resolve(environment: environment)
            Issue.record("resolved without credentials")
        } catch {
            #expect(error.description.contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
        }
        do {
            _ = try S3Configuration.resolve(environment: environment.merging(["AWS_PROFILE": "nowhere"]) { $1 })
            Issue.record("resolved an unknown profile")
        } catch {
            #expect(error.description.contains("\"nowhere\", which is in neither"))
        }
        do {
            _ = try S3Configuration.resolve(environment: ["AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT1"])
            Issue.record("resolved without a secret")
        } catch {
            #expect(error.description.contains("AWS_SECRET_ACCESS_KEY is not"))
        }
    }

    @Test func secretsNeverShow() throws {
        let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: Self.secret, sessionToken: Self.token)
        let configuration = S3Configuration(credentials: credentials, region: "us-east-1")
        var dumped = ""
        dump(credentials, to: &dumped)
        var dumpedConfiguration = ""
        dump(configuration, to: &dumpedConfiguration)
        let texts = ["\(credentials)", String(reflecting: credentials), String(describing: credentials), dumped,
                     "\(configuration)", String(reflecting: configuration), dumpedConfiguration, "\([credentials])"]
        for text in texts {
            #expect(!text.contains(Self.secret), "\(text)")
            #expect(!text.contains(Self.token), "\(text)")
            #expect(!text.contains("AKIAIOSFODNN7"), "\(text)")  // only the key ID's last four show
        }
        #expect("\(credentials)".contains("****MPLE"))
        #expect(!S3Credentials(accessKeyID: "SHORT", secretAccessKey: "x").description.contains("SHORT"))
    }
}
