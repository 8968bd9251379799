// Umbrella for the system libopus (pkg-config `opus`), with non-variadic wrappers for the encoder CTLs Swift
// cannot call (opus_encoder_ctl is variadic).
#include <opus.h>

static inline int dt_opus_set_bitrate(OpusEncoder *encoder, opus_int32 bitrate) {
    return opus_encoder_ctl(encoder, OPUS_SET_BITRATE(bitrate));
}

static inline int dt_opus_set_complexity(OpusEncoder *encoder, opus_int32 complexity) {
    return opus_encoder_ctl(encoder, OPUS_SET_COMPLEXITY(complexity));
}

/// The encoder's lookahead, in samples at the encoder's own rate (not 48 kHz).
static inline int dt_opus_get_lookahead(OpusEncoder *encoder, opus_int32 *lookahead) {
    return opus_encoder_ctl(encoder, OPUS_GET_LOOKAHEAD(lookahead));
}

static inline int dt_opus_application_voip(void) { return OPUS_APPLICATION_VOIP; }
static inline int dt_opus_application_audio(void) { return OPUS_APPLICATION_AUDIO; }
