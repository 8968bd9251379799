import CCurl

/// One libcurl easy handle, freed with the object. A handle keeps its connections open between transfers
/// (HTTP keep-alive), so a client reuses handles rather than making one per request.
///
/// A handle serves one transfer at a time, on whichever thread runs it: the client's pool hands each handle to one
/// request at a time, which is what makes it safe to send between threads (`@unchecked Sendable`).
final class CurlEasy: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    /// libcurl's global set-up, done once before the first handle (`curl_global_init` must precede every other call).
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// A new handle; `nil` when libcurl cannot make one (out of memory, or its global set-up failed).
    init?() {
        guard CurlEasy.globalInit == CURLE_OK, let handle = curl_easy_init() else { return nil }
        self.handle = handle
    }

    deinit {
        curl_easy_cleanup(handle)
    }

    /// Runs `body` with the C handle, valid only during the call.
    func withUnsafeHandle<Result, Failure: Error>(_ body: (UnsafeMutableRawPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(handle)
    }

    /// Forgets every option of the last transfer (its connections and caches stay).
    func reset() {
        curl_easy_reset(handle)
    }

    /// libcurl's message for `code`.
    static func message(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }

    /// The name of libcurl's code for error messages: `CURLE_COULDNT_CONNECT` and the like, or `CURLE_N`.
    static func codeName(_ code: CURLcode) -> String {
        let names: [UInt32: String] = [
            CURLE_UNSUPPORTED_PROTOCOL.rawValue: "CURLE_UNSUPPORTED_PROTOCOL", CURLE_URL_MALFORMAT.rawValue: "CURLE_URL_MALFORMAT",
            CURLE_COULDNT_RESOLVE_HOST.rawValue: "CURLE_COULDNT_RESOLVE_HOST", CURLE_COULDNT_CONNECT.rawValue: "CURLE_COULDNT_CONNECT",
            CURLE_HTTP2.rawValue: "CURLE_HTTP2", CURLE_PARTIAL_FILE.rawValue: "CURLE_PARTIAL_FILE",
            CURLE_WRITE_ERROR.rawValue: "CURLE_WRITE_ERROR", CURLE_READ_ERROR.rawValue: "CURLE_READ_ERROR",
            CURLE_OUT_OF_MEMORY.rawValue: "CURLE_OUT_OF_MEMORY", CURLE_OPERATION_TIMEDOUT.rawValue: "CURLE_OPERATION_TIMEDOUT",
            CURLE_ABORTED_BY_CALLBACK.rawValue: "CURLE_ABORTED_BY_CALLBACK", CURLE_GOT_NOTHING.rawValue: "CURLE_GOT_NOTHING",
            CURLE_SEND_ERROR.rawValue: "CURLE_SEND_ERROR", CURLE_RECV_ERROR.rawValue: "CURLE_RECV_ERROR",
            CURLE_PEER_FAILED_VERIFICATION.rawValue: "CURLE_PEER_FAILED_VERIFICATION", CURLE_SEND_FAIL_REWIND.rawValue: "CURLE_SEND_FAIL_REWIND",
            CURLE_HTTP2_STREAM.rawValue: "CURLE_HTTP2_STREAM", CURLE_SSL_CONNECT_ERROR.rawValue: "CURLE_SSL_CONNECT_ERROR",
        ]
        return names[code.rawValue] ?? "CURLE_\(code.rawValue)"
    }
}
