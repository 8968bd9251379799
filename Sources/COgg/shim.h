// Umbrella for the system ogg library (pkg-config `ogg`).
#include <ogg/ogg.h>
