// Umbrella for the system soxr library (pkg-config `soxr`), with plain functions for what soxr.h offers only
// as macros (Swift imports neither function-like macros nor macros built from other macros reliably).
#include <soxr.h>

/// soxr's error text ("no error" for a null error).
static inline const char *dt_soxr_error_message(soxr_error_t error) {
    return soxr_strerror(error);
}

/// Quality recipes: 0 low, 1 medium, 2 high (20-bit), 3 very high (28-bit).
static inline unsigned long dt_soxr_recipe(int preset) {
    switch (preset) {
    case 0: return SOXR_LQ;
    case 1: return SOXR_MQ;
    case 2: return SOXR_HQ;
    default: return SOXR_VHQ;
    }
}
