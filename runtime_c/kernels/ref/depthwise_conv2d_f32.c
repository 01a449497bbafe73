/* DEPTHWISE_CONV_2D in float and hybrid (per-channel int8 weights, input quantized per batch with a
 * zero point), with LiteRT's reference loop order and float operation order. */
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

void eq_depthwise_conv2d_f32(const eq_conv_fparams *p, const eq_shape4 *in_shape, const float *in,
                             const eq_shape4 *filter_shape, const float *filter, const float *bias,
                             const eq_shape4 *out_shape, float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t mult = p->depth_multiplier;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t ic = 0; ic < in_c; ++ic)
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            float total = 0.0f;
            for (int32_t fy = 0; fy < kh; ++fy) {
              const int32_t y = y0 + p->dilation_h * fy;
              if (y < 0 || y >= in_h) continue;
              for (int32_t fx = 0; fx < kw; ++fx) {
                const int32_t x = x0 + p->dilation_w * fx;
                if (x < 0 || x >= in_w) continue;
                total += in[(((int64_t)b * in_h + y) * in_w + x) * in_c + ic] *
                         filter[((int64_t)fy * kw + fx) * out_c + oc];
              }
            }
            o[oc] = clampf(total + (bias ? bias[oc] : 0.0f), p->act_min, p->act_max);
          }
      }
}

void eq_depthwise_conv2d_hybrid(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                                const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                                const void *filter, int filter_int4, const float *w_scale, const float *bias,
                                const eq_shape4 *out_shape, float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t mult = p->depth_multiplier;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t ic = 0; ic < in_c; ++ic)
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            int32_t acc = 0;
            for (int32_t fy = 0; fy < kh; ++fy) {
              const int32_t y = y0 + p->dilation_h * fy;
              if (y < 0 || y >= in_h) continue;
              for (int32_t fx = 0; fx < kw; ++fx) {
                const int32_t x = x0 + p->dilation_w * fx;
                if (x < 0 || x >= in_w) continue;
                acc += eq_w_at(filter, filter_int4, ((int64_t)fy * kw + fx) * out_c + oc) *
                       (qin[(((int64_t)b * in_h + y) * in_w + x) * in_c + ic] - in_zp[b]);
              }
            }
            float v = (float)acc;
            v *= w_scale[oc] * in_scale[b];
            if (bias) v += bias[oc];
            o[oc] = clampf(v, p->act_min, p->act_max);
          }
      }
}
