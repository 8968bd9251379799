// Umbrella for the system sndfile library (pkg-config `sndfile`).
#include <sndfile.h>
