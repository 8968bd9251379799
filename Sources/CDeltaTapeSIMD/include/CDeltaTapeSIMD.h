// Kernels Swift cannot express fast enough: byte shuffles (pshufb/vpermd) for base64.
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

#ifdef __cplusplus
}
#endif

#endif
