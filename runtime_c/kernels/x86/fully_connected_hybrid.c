/* Hybrid FULLY_CONNECTED (int8 weights, run-time quantized int8 input rows, float output) for AVX2:
 * the integer part is sum w * (x - zp) over a row, 8 weight rows a block (dot_s16x8.h). That equals the
 * reference's int32 dot - row_sum * zp: |sum| <= 32768 * 128 * 255 < 2^31, so the reference's wrapping
 * int32 arithmetic never wraps at its end. The float steps after it are the reference's own, in its
 * order, so the bytes are the same. Packed INT4 weights run the reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

EQ_AVX2 void eq_fully_connected_hybrid_avx2(float act_min, float act_max, int32_t batches, int32_t K, int32_t N,
                                            const int8_t *qin, const float *in_scale, const int32_t *in_zp,
                                            const void *weights, int weights_int4, const float *w_scale,
                                            const float *bias, float *out) {
  if (weights_int4 || K <= 0) {
    eq_fully_connected_hybrid(act_min, act_max, batches, K, N, qin, in_scale, in_zp, weights, weights_int4, w_scale,
                              bias, out);
    return;
  }
  const int8_t *w = weights;
  for (int32_t b = 0; b < batches; ++b) {
    eq_dot_src src;
    src.x8 = 1;
    src.padded = 0;
    src.zp = (int16_t)in_zp[b];
    src.x[0] = qin + (int64_t)b * K;
    for (int32_t o0 = 0; o0 < N; o0 += 8) {
      const int nr = N - o0 < 8 ? N - o0 : 8;
      const int8_t *rows[8];
      for (int r = 0; r < 8; ++r) rows[r] = w + (int64_t)(o0 + (r < nr ? r : nr - 1)) * K;
      int64_t sums[8];
      eq_dot8(&src, 1, rows, NULL, 8, K, sums, sums + 4);
      for (int r = 0; r < nr; ++r) {
        const int32_t o = o0 + r;
        float scale = in_scale[b];
        if (w_scale) scale *= w_scale[o];
        float v = bias ? bias[o] : 0.0f;
        v += (float)(int32_t)sums[r] * scale;
        out[(int64_t)b * N + o] = clampf(v, act_min, act_max);
      }
    }
  }
}
