// Scanning JSON string content 32 bytes at a time: the bytes that need a closer look (quote, backslash, control
// characters, non-ASCII) are found with compares and a movemask, which Swift 6.3 compiles to scalar code
// (its SIMD comparisons are scalarized); base64 payloads are long runs of plain bytes, so this is the JSON hot loop.
#include "CDeltaTapeSIMD.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2")))
size_t dt_json_plain_prefix_avx2(const uint8_t *bytes, size_t count) {
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    // Signed compare: bytes 0x00-0x1F are below 0x20; bytes 0x80-0xFF are negative, so below too.
    const __m256i space = _mm256_set1_epi8(0x20);
    size_t index = 0;
    for (; index + 32 <= count; index += 32) {
        const __m256i chunk = _mm256_loadu_si256((const __m256i *)(bytes + index));
        const __m256i special = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(chunk, quote), _mm256_cmpeq_epi8(chunk, backslash)),
            _mm256_cmpgt_epi8(space, chunk));
        const unsigned mask = (unsigned)_mm256_movemask_epi8(special);
        if (mask != 0) {
            return index + (size_t)__builtin_ctz(mask);
        }
    }
    return index;
}

#else

size_t dt_json_plain_prefix_avx2(const uint8_t *bytes, size_t count) {
    (void)bytes; (void)count;
    return 0;
}

#endif
