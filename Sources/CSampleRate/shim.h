// Umbrella for the system samplerate library (pkg-config `samplerate`).
#include <samplerate.h>
