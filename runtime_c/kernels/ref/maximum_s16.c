/* MAXIMUM, int16: compares the raw values. */
#include "broadcast_loop.h"
#include "eq_kernels_s16.h"

void eq_maximum_s16(const eq_bcast *b, const int16_t *in1, const int16_t *in2, int16_t *out) {
  EQ_BROADCAST_LOOP(b, out[o] = in1[i1] > in2[i2] ? in1[i1] : in2[i2]);
}
