// Base64 decoding with AVX2, after the vectorized method of Muła and Lemire ("Faster Base64 Encoding and Decoding
// using AVX2 Instructions", ACM TWEB 2018): classify each byte by its nibbles with two 16-entry tables, map
// characters to 6-bit values with a per-range offset, merge 4x6 bits into 3 bytes with multiply-adds, and pack.
// Written here because Swift has no byte shuffle; compiled for AVX2 per function, never for the whole target.
#include "CDeltaTapeSIMD.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

int dt_cpu_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}

__attribute__((target("avx2")))
size_t dt_base64_decode_blocks_avx2(const uint8_t *input, size_t input_length, uint8_t *output, size_t output_capacity) {
    // A byte is outside the alphabet when its low-nibble class and high-nibble class share a bit.
    const __m256i low_nibble_classes = _mm256_setr_epi8(
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i high_nibble_classes = _mm256_setr_epi8(
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    // Offset from character to value, by high nibble; '/' (high nibble 2) is moved to slot 1.
    const __m256i offsets = _mm256_setr_epi8(
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble_mask = _mm256_set1_epi8(0x0F);
    const __m256i slash = _mm256_set1_epi8('/');
    // Within each 32-bit lane, the 24 decoded bits come out as bytes 2, 1, 0.
    const __m256i pack_bytes = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i pack_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);

    size_t consumed = 0;
    size_t written = 0;
    // Keep 8 input bytes in reserve so the caller always sees the final quantum (where padding may be).
    while (consumed + 32 + 8 <= input_length && written + 32 <= output_capacity) {
        const __m256i characters = _mm256_loadu_si256((const __m256i *)(input + consumed));
        const __m256i high = _mm256_and_si256(_mm256_srli_epi32(characters, 4), nibble_mask);
        const __m256i low = _mm256_and_si256(characters, nibble_mask);
        const __m256i classes = _mm256_and_si256(_mm256_shuffle_epi8(low_nibble_classes, low),
                                                 _mm256_shuffle_epi8(high_nibble_classes, high));
        if (!_mm256_testz_si256(classes, classes)) {
            break;  // a character outside the alphabet: the scalar code locates it
        }
        const __m256i is_slash = _mm256_cmpeq_epi8(characters, slash);
        const __m256i values = _mm256_add_epi8(characters, _mm256_shuffle_epi8(offsets, _mm256_add_epi8(is_slash, high)));
        // Pairs of 6-bit values into 12 bits, pairs of 12 bits into 24.
        const __m256i twelve = _mm256_maddubs_epi16(values, _mm256_set1_epi32(0x01400140));
        const __m256i twenty_four = _mm256_madd_epi16(twelve, _mm256_set1_epi32(0x00011000));
        const __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(twenty_four, pack_bytes), pack_lanes);
        _mm256_storeu_si256((__m256i *)(output + written), packed);
        consumed += 32;
        written += 24;
    }
    return consumed;
}

#else

int dt_cpu_has_avx2(void) { return 0; }

size_t dt_base64_decode_blocks_avx2(const uint8_t *input, size_t input_length, uint8_t *output, size_t output_capacity) {
    (void)input; (void)input_length; (void)output; (void)output_capacity;
    return 0;
}

#endif
