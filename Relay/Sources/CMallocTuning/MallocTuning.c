#include "CMallocTuning.h"
#include <malloc.h>

int deltatape_fix_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}
