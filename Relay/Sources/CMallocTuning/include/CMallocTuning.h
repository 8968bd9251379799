// glibc's malloc tuning, which Swift's Glibc module does not bring (malloc.h is not in it).
#ifndef DELTATAPE_MALLOC_TUNING_H
#define DELTATAPE_MALLOC_TUNING_H

/// Fixes glibc's mmap threshold at `bytes`: blocks at least that large are mapped on their own and given back to the
/// system when freed, and the threshold no longer follows the largest block freed. Returns 1 on success, 0 otherwise.
int deltatape_fix_mmap_threshold(int bytes);

#endif
