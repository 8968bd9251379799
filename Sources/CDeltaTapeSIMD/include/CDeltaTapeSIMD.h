// Kernels Swift cannot express fast enough: byte shuffles (pshufb/vpermd) for base64 and G.711, and AVX2-wide
// float conversion (Swift can target AVX2 only for a whole target, with unsafe flags).
// Each kernel is compiled for its instruction set with a per-function target attribute and chosen at run time;
// nothing here is compiled for a newer CPU as a whole, and every kernel has a portable path in Swift.
#ifndef CDELTATAPESIMD_H
#define CDELTATAPESIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Whether this CPU can run the AVX2 kernels (checked once, cached).
int dt_cpu_has_avx2(void);

/// Decodes whole 32-character blocks of standard base64 with AVX2, stopping before the first block that holds
/// anything but alphabet characters (padding included), or when fewer than 32 + 8 input bytes remain.
///
/// Writes 24 bytes per block to `output` (which needs room for 8 bytes beyond them: each store is 32 bytes wide).
/// Returns the number of input bytes consumed, a multiple of 32; the caller decodes the rest, and finds the exact
/// offset of any invalid character, with its scalar code.
/// Call only when dt_cpu_has_avx2() is true.
size_t dt_base64_decode_blocks_avx2(const uint8_t *input, size_t input_length, uint8_t *output, size_t output_capacity);

/// Expands G.711 codes (mu-law, or A-law when `is_alaw`) to 16-bit samples, 16 at a time.
/// Returns how many codes it expanded (a multiple of 16); the caller expands the rest.
size_t dt_g711_decode_avx2(const uint8_t *codes, size_t count, int16_t *samples, int is_alaw);

/// Compresses 16-bit samples to G.711 codes (mu-law, or A-law when `is_alaw`), 16 at a time, as ITU-T G.191 does.
/// Returns how many samples it compressed (a multiple of 16); the caller compresses the rest.
size_t dt_g711_encode_avx2(const int16_t *samples, size_t count, uint8_t *codes, int is_alaw);

/// Converts floats to 16-bit samples: round(value * scale) to nearest even, saturated, NaN to 0; 16 at a time.
/// Returns how many it converted (a multiple of 16).
size_t dt_float_to_int16_avx2(const float *floats, size_t count, int16_t *samples, float scale);

/// Multiplies 16-bit samples by `gain`: rounded to nearest even, saturated, NaN to 0; 16 at a time.
/// Returns how many it converted (a multiple of 16).
size_t dt_apply_gain_avx2(const int16_t *input, size_t count, int16_t *output, float gain);

/// The length of the leading run of bytes that need no attention inside a JSON string: no quote, no backslash,
/// no control character, no byte of 0x80 or above. Scans whole 32-byte blocks only; returns at the first such byte
/// or at the last whole block, and the caller scans the rest.
size_t dt_json_plain_prefix_avx2(const uint8_t *bytes, size_t count);

#ifdef __cplusplus
}
#endif

#endif
