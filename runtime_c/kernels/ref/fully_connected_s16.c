/* FULLY_CONNECTED 16x8: int16 input/output, int8 or packed INT4 weights, int64 or int32 bias (the accumulator's
 * type), requantized as LiteRT's reference FC does: round(acc * scale[o]) in double, half away from
 * zero, then + output zero point and clamp. */
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

void eq_fully_connected_s16(const eq_fc_params *p, const double *scale, int32_t batches, int32_t in_depth,
                            int32_t out_depth, const int16_t *in, const void *weights, int weights_int4,
                            const void *bias, int acc32, int16_t *out) {
  for (int32_t b = 0; b < batches; ++b) {
    const int16_t *x = in + (int64_t)b * in_depth;
    for (int32_t o = 0; o < out_depth; ++o) {
      const int64_t row = (int64_t)o * in_depth;
      int64_t acc = 0;
      for (int32_t d = 0; d < in_depth; ++d)
        acc += (int64_t)(eq_w_at(weights, weights_int4, row + d) + p->filter_offset) * (x[d] + p->input_offset);
      out[(int64_t)b * out_depth + o] = eq_fc_s16_requant(acc, p, scale, bias, acc32, o);
    }
  }
}
