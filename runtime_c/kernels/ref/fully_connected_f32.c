/* FULLY_CONNECTED in float, and hybrid (int8 weights, each input row quantized at run time):
 * LiteRT's reference float loop, and its hybrid order: output = bias, then += (float)(dot - row_sum *
 * zp) * (row scale * channel scale), then the activation clamp. */
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

void eq_fully_connected_f32(float act_min, float act_max, int32_t batches, int32_t in_depth, int32_t out_depth,
                            const float *in, const float *weights, const float *bias, float *out) {
  for (int32_t b = 0; b < batches; ++b)
    for (int32_t o = 0; o < out_depth; ++o) {
      const float *x = in + (int64_t)b * in_depth, *w = weights + (int64_t)o * in_depth;
      float total = 0.0f;
      for (int32_t d = 0; d < in_depth; ++d) total += x[d] * w[d];
      out[(int64_t)b * out_depth + o] = clampf(total + (bias ? bias[o] : 0.0f), act_min, act_max);
    }
}

void eq_fully_connected_hybrid(float act_min, float act_max, int32_t batches, int32_t in_depth, int32_t out_depth,
                               const int8_t *qin, const float *in_scale, const int32_t *in_zp, const void *weights,
                               int weights_int4, const float *w_scale, const float *bias, float *out) {
  for (int32_t b = 0; b < batches; ++b) {
    const int8_t *x = qin + (int64_t)b * in_depth;
    for (int32_t o = 0; o < out_depth; ++o) {
      const int64_t row = (int64_t)o * in_depth;
      int32_t dot = 0, row_sum = 0;
      for (int32_t d = 0; d < in_depth; ++d) {
        const int32_t w = eq_w_at(weights, weights_int4, row + d);
        dot += w * x[d];
        row_sum += w;
      }
      dot -= row_sum * in_zp[b];
      float scale = in_scale[b];
      if (w_scale) scale *= w_scale[o];
      float v = bias ? bias[o] : 0.0f;
      v += (float)dot * scale;
      out[(int64_t)b * out_depth + o] = clampf(v, act_min, act_max);
    }
  }
}
