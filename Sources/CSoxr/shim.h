// Umbrella for the system soxr library (pkg-config `soxr`).
#include <soxr.h>
