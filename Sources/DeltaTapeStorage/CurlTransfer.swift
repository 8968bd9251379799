#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import CCurl

/// What a request sends after its headers.
enum RequestBody {
    /// Nothing.
    case empty
    /// Bytes in memory (small: an XML document, a small object).
    case bytes([UInt8])
    /// A range of an open file, read as it is sent.
    case file(S3FileRange)

    var byteCount: Int64 {
        switch self {
        case .empty: 0
        case .bytes(let bytes): Int64(bytes.count)
        case .file(let range): range.byteCount
        }
    }
}

/// One HTTP request to S3, signed by libcurl.
struct HTTPRequest {
    var method: String
    var url: String
    /// Extra headers, `Name: value` (the signing and payload headers are added by the transfer).
    var headers: [String] = []
    var body: RequestBody = .empty
}

/// The answer to one request: status, headers (names lowercased) and, unless it was streamed, its body.
struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
}

/// How one transfer ended, before any S3 meaning is given to it.
enum TransferOutcome {
    /// An answer came (any status).
    case answered(HTTPResponse)
    /// None came, or not whole: libcurl's code and message; `delivered` counts body bytes already handed to a stream's
    /// consumer, `headers` are those of an answer cut short.
    case failed(code: CURLcode, message: String, delivered: Int64, headers: [String: String])
    /// A stream's consumer threw; the transfer was stopped.
    case consumerFailed(any Error)
    /// libcurl could not make a handle.
    case noHandle
}

/// Timeouts and limits of transfers.
struct TransferLimits {
    var connectTimeoutSeconds: Int
    var lowSpeedTimeoutSeconds: Int
    /// Error bodies and XML answers are read up to this size (S3's are a few kilobytes).
    var collectedBodyLimit = 4 << 20
}

/// Everything libcurl's callbacks reach through their `user_data` pointer during one transfer.
private final class TransferState {
    let body: RequestBody
    var bodyOffset: Int64 = 0
    var readErrno: Int32 = 0
    /// Set for a streamed GET: bytes of a 2xx answer go here instead of `collected`.
    let consumer: ((UnsafeRawBufferPointer) throws -> Void)?
    var consumerError: (any Error)?
    var delivered: Int64 = 0
    var status = 0
    var headers: [String: String] = [:]
    var collected: [UInt8] = []
    var collectLimit: Int
    /// libcurl's detailed message of a failure (CURLOPT_ERRORBUFFER), which must stay put during the transfer.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init(body: RequestBody, consumer: ((UnsafeRawBufferPointer) throws -> Void)?, collectLimit: Int) {
        self.body = body
        self.consumer = consumer
        self.collectLimit = collectLimit
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
    }
}

/// Sends `request` on `easy`: signs it (SigV4 with `UNSIGNED-PAYLOAD`) for `region` with `credentials`, and reads the
/// answer, streaming a 2xx body to `consumer` in libcurl's chunks (at most 64 KiB) when one is given. The consumer
/// runs on the calling thread and libcurl waits for it, so a slow consumer slows the download (back-pressure).
func performTransfer(_ request: HTTPRequest, on easy: CurlEasy, credentials: S3Credentials, region: String, limits: TransferLimits,
                     consumer: ((UnsafeRawBufferPointer) throws -> Void)? = nil) -> TransferOutcome {
    let state = TransferState(body: request.body, consumer: consumer, collectLimit: limits.collectedBodyLimit)
    easy.reset()
    var headerList: UnsafeMutablePointer<curl_slist>?
    defer { curl_slist_free_all(headerList) }
    // curl 7.88 takes this header's value as the payload hash it signs (and signs every x-amz- header given).
    var headers = ["x-amz-content-sha256: UNSIGNED-PAYLOAD"] + request.headers
    if let token = credentials.sessionToken { headers.append("x-amz-security-token: \(token)") }
    // No `Expect:` header to turn off curl's `Expect: 100-continue` (which 7.88 sends on every PUT, costing a round
    // trip): curl 7.88 signs the header it then leaves out, and the server refuses the signature.
    for header in headers { headerList = curl_slist_append(headerList, header) }

    let code: CURLcode = easy.withUnsafeHandle { handle in
        let context = Unmanaged.passUnretained(state).toOpaque()
        var setup = CURLE_OK
        func set(_ result: CURLcode) { if setup == CURLE_OK { setup = result } }
        set(dt_curl_set_string(handle, CURLOPT_URL, request.url))
        set(dt_curl_set_long(handle, CURLOPT_PATH_AS_IS, 1))
        set(dt_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(dt_curl_set_long(handle, CURLOPT_NOSIGNAL, 1))
        set(dt_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, limits.connectTimeoutSeconds))
        set(dt_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1))
        set(dt_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, limits.lowSpeedTimeoutSeconds))
        set(dt_curl_set_long(handle, CURLOPT_BUFFERSIZE, 65_536))
        set(dt_curl_set_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 262_144))
        set(dt_curl_set_string(handle, CURLOPT_AWS_SIGV4, "aws:amz:\(region):s3"))
        set(dt_curl_set_string(handle, CURLOPT_USERNAME, credentials.accessKeyID))
        set(dt_curl_set_string(handle, CURLOPT_PASSWORD, credentials.secretAccessKey))
        set(dt_curl_set_pointer(handle, CURLOPT_HTTPHEADER, headerList))
        set(dt_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, state.errorBuffer))
        set(dt_curl_set_data_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback))
        set(dt_curl_set_pointer(handle, CURLOPT_HEADERDATA, context))
        set(dt_curl_set_data_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback))
        set(dt_curl_set_pointer(handle, CURLOPT_WRITEDATA, context))
        switch request.method {
        case "GET":
            set(dt_curl_set_long(handle, CURLOPT_HTTPGET, 1))
        case "HEAD":
            set(dt_curl_set_long(handle, CURLOPT_NOBODY, 1))
        case "PUT":
            set(dt_curl_set_long(handle, CURLOPT_UPLOAD, 1))
            set(dt_curl_set_offset(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.byteCount)))
        case "POST":
            set(dt_curl_set_long(handle, CURLOPT_POST, 1))
            set(dt_curl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.byteCount)))
        default:
            set(dt_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        }
        if request.method == "PUT" || request.method == "POST" {
            set(dt_curl_set_data_callback(handle, CURLOPT_READFUNCTION, readCallback))
            set(dt_curl_set_pointer(handle, CURLOPT_READDATA, context))
            set(dt_curl_set_seek_callback(handle, seekCallback))
            set(dt_curl_set_pointer(handle, CURLOPT_SEEKDATA, context))
        }
        guard setup == CURLE_OK else { return setup }
        let result = curl_easy_perform(handle)
        _ = dt_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, nil)
        return result
    }

    if let consumerError = state.consumerError { return .consumerFailed(consumerError) }
    guard code == CURLE_OK else {
        let detail = String(cString: state.errorBuffer)
        var message = detail.isEmpty ? CurlEasy.message(code) : detail
        if state.readErrno != 0 { message += " (reading the body's file: \(String(cString: strerror(state.readErrno))))" }
        return .failed(code: code, message: message, delivered: state.delivered, headers: state.headers)
    }
    var status = 0
    _ = easy.withUnsafeHandle { handle in
        var value = 0
        let result = dt_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &value)
        status = value
        return result
    }
    return .answered(HTTPResponse(status: status, headers: state.headers, body: state.collected))
}

/// Headers, one line per call; a status line (`HTTP/1.1 200 OK`, also each `100 Continue`) starts a new set.
private let headerCallback: dt_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    guard let buffer, let context else { return length }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    // The line without its CR LF, cut as bytes: in a String, "\r\n" is one Character.
    var bytes = UnsafeRawBufferPointer(start: buffer, count: length)[...]
    while let last = bytes.last, last == 0x0D || last == 0x0A { bytes = bytes.dropLast() }
    let line = String(decoding: bytes, as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        state.headers = [:]
        let parts = line.split(separator: " ", maxSplits: 2)
        state.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        state.headers[name] = String(value)
    }
    return length
}

/// Body bytes: to the stream's consumer for a 2xx answer, else collected (up to the limit) for the XML they hold.
private let writeCallback: dt_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    guard let buffer, let context else { return length }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
    if let consumer = state.consumer, (200..<300).contains(state.status) {
        do {
            try consumer(bytes)
            state.delivered += Int64(length)
        } catch {
            state.consumerError = error
            return 0  // anything but `length` stops the transfer (CURLE_WRITE_ERROR)
        }
        return length
    }
    guard state.collected.count + length <= state.collectLimit else { return 0 }
    state.collected.append(contentsOf: bytes)
    return length
}

/// The request body, from memory or by positional reads of its file range.
private let readCallback: dt_curl_data_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let wanted = Int64(size * count)
    let remaining = state.body.byteCount - state.bodyOffset
    let length = Int(min(wanted, remaining))
    guard length > 0 else { return 0 }
    switch state.body {
    case .empty:
        return 0
    case .bytes(let bytes):
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + Int(state.bodyOffset), byteCount: length)
        }
        state.bodyOffset += Int64(length)
        return length
    case .file(let range):
        while true {
            let got = pread(range.descriptor, buffer, length, off_t(range.offset + state.bodyOffset))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                // A failed read, or a file shorter than its range: stop rather than send a short body.
                state.readErrno = got < 0 ? errno : EIO
                return dt_curl_read_abort()
            }
            state.bodyOffset += Int64(got)
            return got
        }
    }
}

/// Rewinds the body when libcurl must send it again on the same request (a redirect, a retried connection).
private let seekCallback: dt_curl_seek_callback = { context, offset, origin in
    guard let context, origin == SEEK_SET else { return dt_curl_seek_fail() }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    guard offset >= 0, Int64(offset) <= state.body.byteCount else { return dt_curl_seek_fail() }
    state.bodyOffset = Int64(offset)
    return dt_curl_seek_ok()
}
