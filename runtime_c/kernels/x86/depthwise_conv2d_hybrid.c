/* Hybrid DEPTHWISE_CONV_2D (int8 weights, run-time quantized int8 input with a zero point, float output)
 * for AVX2, depth multiplier 1: 16 channels a vector, two taps a vpmaddwd on (x - zp) and weights
 * interleaved once per call (dot_s16x8.h). Padding taps read a row of zp, so they add nothing, as the
 * reference skips them. The integer sums are exact (|sum| <= taps * 128 * 255 < 2^31) and the float steps
 * after them are the reference's own, so the bytes are the same. Depth multipliers above 1, more than
 * 511 taps and packed INT4 filters run the reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* 0 for the shapes handed to the reference (which needs none). */
size_t eq_depthwise_conv2d_hybrid_avx2_scratch_size(const eq_conv_fparams *p, const eq_shape4 *in_shape,
                                                    const eq_shape4 *filter_shape, const eq_shape4 *out_shape) {
  return eq_dw_vectorized(p->depth_multiplier, in_shape, filter_shape, out_shape)
             ? eq_dw_scratch_bytes(filter_shape, out_shape->c)
             : 0;
}

EQ_AVX2 void eq_depthwise_conv2d_hybrid_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                                             const float *in_scale, const int32_t *in_zp,
                                             const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                                             const float *w_scale, const float *bias, const eq_shape4 *out_shape,
                                             float *out, void *scratch) {
  if (filter_int4 || !scratch || !eq_dw_vectorized(p->depth_multiplier, in_shape, filter_shape, out_shape)) {
    eq_depthwise_conv2d_hybrid(p, in_shape, qin, in_scale, in_zp, filter_shape, filter, filter_int4, w_scale, bias,
                               out_shape, out);
    return;
  }
  eq_dw_run r = {in_shape, filter_shape, out_shape, p->stride_h, p->stride_w, p->dilation_h, p->dilation_w,
                 p->pad_h, p->pad_w, qin, 1, NULL, NULL, NULL, 0, NULL};
  eq_dw_setup(&r, filter, scratch);
  const int32_t c = out_shape->c;
  for (int32_t b = 0; b < out_shape->n; ++b) {
    const int16_t zp = (int16_t)in_zp[b];
    memset(r.pad_row, (int8_t)zp, (size_t)EQ_ROUND_UP(c, 16));
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        eq_dw_pixel(&r, b, oy, ox, zp);
        float *o = out + (((int64_t)b * out_shape->h + oy) * out_shape->w + ox) * c;
        for (int32_t oc = 0; oc < c; ++oc) {
          float v = (float)r.acc[oc];
          v *= w_scale[oc] * in_scale[b];
          if (bias) v += bias[oc];
          o[oc] = clampf(v, p->act_min, p->act_max);
        }
      }
  }
}
