/// A request that failed: refused by the server (an HTTP status and S3's error code), or never answered (a libcurl
/// error: refused connection, reset, timeout).
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The S3 operation, such as `PutObject` or `CompleteMultipartUpload`.
    public let operation: String
    /// The bucket the request was about.
    public let bucket: String
    /// The key the request was about (empty for a bucket-wide request such as a listing).
    public let key: String
    /// The HTTP status the server answered with; `nil` when no answer came.
    public let httpStatus: Int?
    /// S3's error code (`AccessDenied`, `SignatureDoesNotMatch`, `NoSuchBucket`, `NoSuchKey`, `SlowDown`, …); for an
    /// answer without a body (HEAD), a name for its status (`NotFound`, `Forbidden`); for no answer, `CURLE_` and
    /// libcurl's code (`CURLE_COULDNT_CONNECT`).
    public let code: String
    /// The server's message, or libcurl's.
    public let message: String
    /// libcurl's error code when the request got no answer.
    public let curlCode: Int?
    /// How many times the request was sent (retries included).
    public let attempts: Int

    init(operation: String, bucket: String, key: String, httpStatus: Int?, code: String, message: String, curlCode: Int? = nil, attempts: Int = 1) {
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.curlCode = curlCode
        self.attempts = attempts
    }

    /// The same error, counted as the last of `attempts`.
    func after(attempts: Int) -> S3Error {
        S3Error(operation: operation, bucket: bucket, key: key, httpStatus: httpStatus, code: code, message: message, curlCode: curlCode, attempts: attempts)
    }

    /// Whether the object (or its bucket) does not exist: 404, whatever the code.
    public var isNotFound: Bool { httpStatus == 404 }

    /// Whether a condition of the request did not hold (412 `PreconditionFailed`): with `If-None-Match: *`, an object
    /// is already under the key.
    public var isPreconditionFailed: Bool { httpStatus == 412 }

    /// Whether sending the request again may succeed: a 5xx answer, 429, a 200 whose body is an `<Error>` with a code
    /// of the server's trouble (`InternalError`, `SlowDown`, `ServiceUnavailable`), or no answer (a connection refused
    /// or reset, a timeout). Never a 4xx other than 429: those stay refused.
    public var isRetryable: Bool {
        if let httpStatus {
            if (400..<500).contains(httpStatus) { return httpStatus == 429 }
            return httpStatus >= 500 || S3Error.retryableCodes.contains(code)
        }
        return curlCode.map(S3Error.retryableCurlCodes.contains) ?? false
    }

    /// S3's codes for its own trouble, retried whatever the status they come with.
    static let retryableCodes: Set<String> = ["InternalError", "SlowDown", "ServiceUnavailable"]

    /// libcurl codes worth another try: couldn't connect (7), timeout (28), send and receive failures (55, 56), empty
    /// reply (52), a transfer cut short (18), and HTTP/2 stream errors (16, 92).
    static let retryableCurlCodes: Set<Int> = [7, 16, 18, 28, 52, 55, 56, 92]

    /// A sentence naming the operation, the object and the code: `PutObject s3://b/k.wav failed: AccessDenied (HTTP 403):
    /// Access Denied.`, with how many attempts were made when there was more than one.
    public var description: String {
        let address = "\(S3Address.scheme)\(bucket)/\(key)"
        let status = httpStatus.map { " (HTTP \($0))" } ?? ""
        let tries = attempts > 1 ? " after \(attempts) attempts" : ""
        let text = message.isEmpty ? "" : ": \(message)"
        let sentence = "\(operation) \(address) failed\(tries): \(code)\(status)\(text)"
        return sentence.hasSuffix(".") ? sentence : sentence + "."
    }
}
