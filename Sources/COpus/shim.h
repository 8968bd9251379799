// Umbrella for the system opus library (pkg-config `opus`).
#include <opus.h>
