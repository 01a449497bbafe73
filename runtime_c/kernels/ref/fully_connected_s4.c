/* FULLY_CONNECTED with packed INT4 weights [out_depth, in_depth] and int8 activations:
 * fully_connected_s8.c's arithmetic on nibbles read in place. */
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

void eq_fully_connected_s4(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches,
                           int32_t in_depth, int32_t out_depth, const int8_t *in, const uint8_t *weights,
                           const int32_t *bias, int8_t *out) {
  for (int32_t b = 0; b < batches; ++b) {
    const int8_t *x = in + (int64_t)b * in_depth;
    for (int32_t o = 0; o < out_depth; ++o) {
      const int64_t row = (int64_t)o * in_depth;
      int32_t acc = 0;
      acc += eq_s4_dot(weights, row, x, in_depth, p->input_offset, p->filter_offset);
      if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[o]); /* wraps as TFLite's int32 does */
      acc = eq_mul_by_quantized_mul_single(acc, q->multiplier[o], q->shift[o]) + p->output_offset;
      out[(int64_t)b * out_depth + o] = (int8_t)eq_clamp32(acc, p->act_min, p->act_max);
    }
  }
}
