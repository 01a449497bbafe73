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
      if (acc32) { /* int32 accumulator: wraps as TFLite's does */
        uint32_t a = (uint32_t)acc;
        if (bias) a += (uint32_t)((const int32_t *)bias)[o];
        acc = (int32_t)a;
      } else if (bias) {
        acc += eq_bias64(((const int64_t *)bias)[o]);
      }
      int64_t v = eq_round_half_away((double)acc * scale[o]);
      v = v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v);
      const int32_t r = (int32_t)((uint32_t)(int32_t)v + (uint32_t)p->output_offset);
      out[(int64_t)b * out_depth + o] = (int16_t)eq_clamp32(r, p->act_min, p->act_max);
    }
  }
}
