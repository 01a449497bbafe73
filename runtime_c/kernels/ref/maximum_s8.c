/* MAXIMUM, int8: compares the raw values (both operands share the output's quantization). */
#include "broadcast_loop.h"
#include "eq_kernels_elementwise.h"

void eq_maximum_s8(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
  EQ_BROADCAST_LOOP(b, out[o] = in1[i1] > in2[i2] ? in1[i1] : in2[i2]);
}
