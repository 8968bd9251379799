// Umbrella for the system libcurl (pkg-config `libcurl`), with non-variadic wrappers for the calls Swift cannot make
// (curl_easy_setopt and curl_easy_getinfo are variadic): one per type of argument.
#include <curl/curl.h>

typedef size_t (*dt_curl_data_callback)(char *buffer, size_t size, size_t count, void *context);
typedef int (*dt_curl_seek_callback)(void *context, curl_off_t offset, int origin);

static inline CURLcode dt_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dt_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dt_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dt_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dt_curl_set_data_callback(CURL *handle, CURLoption option, dt_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

static inline CURLcode dt_curl_set_seek_callback(CURL *handle, dt_curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}

static inline CURLcode dt_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode dt_curl_get_offset(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// What a read callback returns to abort the transfer (CURL_READFUNC_ABORT is a macro Swift does not import).
static inline size_t dt_curl_read_abort(void) { return CURL_READFUNC_ABORT; }
static inline int dt_curl_seek_ok(void) { return CURL_SEEKFUNC_OK; }
static inline int dt_curl_seek_fail(void) { return CURL_SEEKFUNC_FAIL; }
