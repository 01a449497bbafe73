/* DEPTHWISE_CONV_2D 16x8 for AVX2 (depth multiplier 1): 16 channels a vector, two taps a vpmaddwd on
 * weights interleaved once per call (dot_s16x8.h); padding taps read a zero row, so they add nothing, as
 * the reference skips them. int32 lanes are exact for up to 511 taps (511 * 2^22 < 2^31); the int64 bias
 * and the 48-bit requantization are the reference's arithmetic on 4 int64 lanes (dot_s16x8.h), so the
 * bytes are the reference's. Depth multipliers above 1, more taps, and packed INT4 filters run the
 * reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

/* 0 for the shapes handed to the reference (which needs none). */
size_t eq_depthwise_conv2d_s16_avx2_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,
                                                 const eq_shape4 *filter_shape, const eq_shape4 *out_shape) {
  return eq_dw_vectorized(p->depth_multiplier, in_shape, filter_shape, out_shape)
             ? eq_dw_scratch_bytes(filter_shape, out_shape->c) + eq_rq48_bytes(out_shape->c)
             : 0;
}

EQ_AVX2 void eq_depthwise_conv2d_s16_avx2(const eq_conv_params *p, const eq_channel_quant *q,
                                          const eq_shape4 *in_shape, const int16_t *in,
                                          const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                                          const int64_t *bias, const eq_shape4 *out_shape, int16_t *out,
                                          void *scratch) {
  if (filter_int4 || !scratch || !eq_dw_vectorized(p->depth_multiplier, in_shape, filter_shape, out_shape)) {
    eq_depthwise_conv2d_s16(p, q, in_shape, in, filter_shape, filter, filter_int4, bias, out_shape, out);
    return;
  }
  eq_dw_run r = {in_shape, filter_shape, out_shape, p->stride_h, p->stride_w, p->dilation_h, p->dilation_w,
                 p->pad_h, p->pad_w, in, 0, NULL, NULL, NULL, 0, NULL};
  eq_dw_setup(&r, filter, scratch);
  const int32_t c = out_shape->c;
  const eq_rq48 rq = eq_rq48_setup(q, bias, c, r.acc + EQ_ROUND_UP(c, 16));
  memset(r.pad_row, 0, (size_t)EQ_ROUND_UP(c, 16) * sizeof(int16_t));
  for (int32_t b = 0; b < out_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        eq_dw_pixel(&r, b, oy, ox, 0);
        eq_rq48_row(NULL, r.acc, &rq, q, c, p->act_min, p->act_max,
                    out + (((int64_t)b * out_shape->h + oy) * out_shape->w + ox) * c);
      }
}
