// Sample kernels with AVX2: G.711 both ways through 16-entry byte-shuffle lookups, and float to int16 at 8 lanes.
// Swift cannot use AVX2 for one function alone (only for a whole target, with unsafe flags), and its SSE2 forms
// of these kernels measured 2-10x slower; each kernel here has a Swift path for other CPUs and a scalar reference.
#include "CDeltaTapeSIMD.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// G.711 in both laws is magnitude = mantissa * step[segment] + base[segment] (ITU-T G.711 Tables 1 and 2), with
// the segment and mantissa read after XOR-ing the code with 0xFF (mu-law) or 0x55 (A-law). Tables: 8 16-bit entries.
static const int16_t mulaw_step[8] = {8, 16, 32, 64, 128, 256, 512, 1024};
static const int16_t mulaw_base[8] = {0, 132, 396, 924, 1980, 4092, 8316, 16764};
static const int16_t alaw_step[8] = {16, 16, 32, 64, 128, 256, 512, 1024};
static const int16_t alaw_base[8] = {8, 264, 528, 1056, 2112, 4224, 8448, 16896};

__attribute__((target("avx2")))
size_t dt_g711_decode_avx2(const uint8_t *codes, size_t count, int16_t *samples, int is_alaw) {
    const __m256i step = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(is_alaw ? alaw_step : mulaw_step)));
    const __m256i base = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(is_alaw ? alaw_base : mulaw_base)));
    const __m256i toggle = _mm256_set1_epi16(is_alaw ? 0x55 : 0xFF);
    // mu-law is negative when the toggled sign bit is set, A-law when it is clear: flip the bit for A-law.
    const __m256i sign_flip = _mm256_set1_epi16(is_alaw ? 1 : 0);
    const __m256i seven = _mm256_set1_epi16(7);
    const __m256i fifteen = _mm256_set1_epi16(15);
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i byte_pair = _mm256_set1_epi16(0x0202);
    const __m256i high_byte = _mm256_set1_epi16(0x0100);
    size_t index = 0;
    for (; index + 16 <= count; index += 16) {
        const __m256i code = _mm256_xor_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(codes + index))), toggle);
        const __m256i segment = _mm256_and_si256(_mm256_srli_epi16(code, 4), seven);
        const __m256i mantissa = _mm256_and_si256(code, fifteen);
        // Byte indices (2s, 2s+1) select entry s of a 16-bit table.
        const __m256i lookup = _mm256_add_epi16(_mm256_mullo_epi16(segment, byte_pair), high_byte);
        const __m256i magnitude = _mm256_add_epi16(_mm256_mullo_epi16(mantissa, _mm256_shuffle_epi8(step, lookup)),
                                                   _mm256_shuffle_epi8(base, lookup));
        const __m256i negate = _mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(code, 7), one), sign_flip);
        // Conditional negation: (m ^ -n) + n.
        const __m256i value = _mm256_add_epi16(_mm256_xor_si256(magnitude, _mm256_sub_epi16(_mm256_setzero_si256(), negate)), negate);
        _mm256_storeu_si256((__m256i *)(samples + index), value);
    }
    return index;
}

// G.711 compression as ITU-T G.191 computes it (one's complement magnitude for negative samples): the segment is
// the number of thresholds the magnitude reaches, and the mantissa a variable right shift, done as an unsigned
// multiply-high by 2^(15 - shift) looked up with a byte shuffle (AVX2 has no per-lane 16-bit shift).
static const uint16_t shift_factor[8] = {32768, 16384, 8192, 4096, 2048, 1024, 512, 256};

__attribute__((target("avx2")))
size_t dt_g711_encode_avx2(const int16_t *samples, size_t count, uint8_t *codes, int is_alaw) {
    const __m256i factors = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)shift_factor));
    const __m256i byte_pair = _mm256_set1_epi16(0x0202);
    const __m256i high_byte = _mm256_set1_epi16(0x0100);
    const __m256i fifteen = _mm256_set1_epi16(15);
    const __m256i sign_bit = _mm256_set1_epi16(0x80);
    const __m256i zero = _mm256_setzero_si256();
    size_t index = 0;
    for (; index + 16 <= count; index += 16) {
        const __m256i sample = _mm256_loadu_si256((const __m256i *)(samples + index));
        const __m256i negative = _mm256_cmpgt_epi16(zero, sample);
        const __m256i ones_complement = _mm256_xor_si256(sample, negative);
        __m256i magnitude, segment = zero, shift, code;
        if (is_alaw) {
            magnitude = _mm256_srli_epi16(ones_complement, 4);  // 0...2047
            for (int threshold = 16; threshold <= 1024; threshold <<= 1) {
                segment = _mm256_sub_epi16(segment, _mm256_cmpgt_epi16(magnitude, _mm256_set1_epi16((short)(threshold - 1))));
            }
            shift = _mm256_subs_epu16(segment, _mm256_set1_epi16(1));
            magnitude = _mm256_slli_epi16(magnitude, 1);  // so that a shift of 0 is a multiply-high by 2^15
        } else {
            magnitude = _mm256_min_epi16(_mm256_add_epi16(_mm256_srli_epi16(ones_complement, 2), _mm256_set1_epi16(33)),
                                         _mm256_set1_epi16(0x1FFF));
            for (int threshold = 64; threshold <= 4096; threshold <<= 1) {
                segment = _mm256_sub_epi16(segment, _mm256_cmpgt_epi16(magnitude, _mm256_set1_epi16((short)(threshold - 1))));
            }
            shift = segment;  // the mantissa is magnitude >> (segment + 1)
        }
        const __m256i lookup = _mm256_add_epi16(_mm256_mullo_epi16(shift, byte_pair), high_byte);
        const __m256i mantissa = _mm256_and_si256(_mm256_mulhi_epu16(magnitude, _mm256_shuffle_epi8(factors, lookup)), fifteen);
        code = _mm256_or_si256(_mm256_slli_epi16(segment, 4), mantissa);
        if (is_alaw) {
            code = _mm256_xor_si256(_mm256_or_si256(code, _mm256_andnot_si256(negative, sign_bit)), _mm256_set1_epi16(0x55));
        } else {
            code = _mm256_or_si256(_mm256_xor_si256(code, _mm256_set1_epi16(0x7F)), _mm256_andnot_si256(negative, sign_bit));
        }
        const __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(code), _mm256_extracti128_si256(code, 1));
        _mm_storeu_si128((__m128i *)(codes + index), packed);
    }
    return index;
}

// Rounds two vectors of 8 floats to nearest even, saturated to int16 (NaN to 0), and packs them in order.
__attribute__((target("avx2")))
static inline __m256i round_saturate_pack(__m256 first, __m256 second) {
    const __m256 lowest = _mm256_set1_ps(-32768.0f);
    const __m256 highest = _mm256_set1_ps(32767.0f);
    // An ordered self-comparison is false only for NaN; clamping first keeps the pack from saturating oddly.
    first = _mm256_min_ps(_mm256_max_ps(_mm256_and_ps(first, _mm256_cmp_ps(first, first, _CMP_ORD_Q)), lowest), highest);
    second = _mm256_min_ps(_mm256_max_ps(_mm256_and_ps(second, _mm256_cmp_ps(second, second, _CMP_ORD_Q)), lowest), highest);
    const __m256i packed = _mm256_packs_epi32(_mm256_cvtps_epi32(first), _mm256_cvtps_epi32(second));
    return _mm256_permute4x64_epi64(packed, 0xD8);  // packs interleave 128-bit lanes; restore sample order
}

__attribute__((target("avx2")))
size_t dt_float_to_int16_avx2(const float *floats, size_t count, int16_t *samples, float scale) {
    const __m256 factor = _mm256_set1_ps(scale);
    size_t index = 0;
    for (; index + 16 <= count; index += 16) {
        const __m256 first = _mm256_mul_ps(_mm256_loadu_ps(floats + index), factor);
        const __m256 second = _mm256_mul_ps(_mm256_loadu_ps(floats + index + 8), factor);
        _mm256_storeu_si256((__m256i *)(samples + index), round_saturate_pack(first, second));
    }
    return index;
}

__attribute__((target("avx2")))
size_t dt_apply_gain_avx2(const int16_t *input, size_t count, int16_t *output, float gain) {
    const __m256 factor = _mm256_set1_ps(gain);
    size_t index = 0;
    for (; index + 16 <= count; index += 16) {
        const __m128i *source = (const __m128i *)(input + index);
        const __m256 first = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128(source))), factor);
        const __m256 second = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128(source + 1))), factor);
        _mm256_storeu_si256((__m256i *)(output + index), round_saturate_pack(first, second));
    }
    return index;
}

#else

size_t dt_g711_encode_avx2(const int16_t *samples, size_t count, uint8_t *codes, int is_alaw) {
    (void)samples; (void)count; (void)codes; (void)is_alaw;
    return 0;
}

size_t dt_g711_decode_avx2(const uint8_t *codes, size_t count, int16_t *samples, int is_alaw) {
    (void)codes; (void)count; (void)samples; (void)is_alaw;
    return 0;
}

size_t dt_float_to_int16_avx2(const float *floats, size_t count, int16_t *samples, float scale) {
    (void)floats; (void)count; (void)samples; (void)scale;
    return 0;
}

size_t dt_apply_gain_avx2(const int16_t *input, size_t count, int16_t *output, float gain) {
    (void)input; (void)count; (void)output; (void)gain;
    return 0;
}

#endif
