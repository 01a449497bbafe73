/* CONV_2D in float, and hybrid (int8 weights, input quantized per batch at run time, float output).
 * Float: LiteRT's reference loop order (taps fy, fx, ic summed in float, then + bias, then clamp).
 * Hybrid: see eq_kernels_lowbit.h; padding taps are skipped (they would add (zp - zp) * w = 0). */
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

void eq_conv2d_f32(const eq_conv_fparams *p, const eq_shape4 *in_shape, const float *in,
                   const eq_shape4 *filter_shape, const float *filter, const float *bias,
                   const eq_shape4 *out_shape, float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w, f_c = filter_shape->c;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t per_group = out_c / (in_c / f_c);
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t g = oc / per_group;
          float total = 0.0f;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t y = y0 + p->dilation_h * fy;
            if (y < 0 || y >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t x = x0 + p->dilation_w * fx;
              if (x < 0 || x >= in_w) continue;
              const float *ip = in + (((int64_t)b * in_h + y) * in_w + x) * in_c + (int64_t)g * f_c;
              const float *fp = filter + (((int64_t)oc * kh + fy) * kw + fx) * f_c;
              for (int32_t ic = 0; ic < f_c; ++ic) total += ip[ic] * fp[ic];
            }
          }
          o[oc] = clampf(total + (bias ? bias[oc] : 0.0f), p->act_min, p->act_max);
        }
      }
}

void eq_conv2d_hybrid(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                      const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                      const void *filter, int filter_int4, const float *w_scale, const float *bias, const eq_shape4 *out_shape,
                      float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w, f_c = filter_shape->c;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t per_group = out_c / (in_c / f_c);
  for (int32_t b = 0; b < in_shape->n; ++b) {
    const int32_t zp = in_zp[b];
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t g = oc / per_group;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t y = y0 + p->dilation_h * fy;
            if (y < 0 || y >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t x = x0 + p->dilation_w * fx;
              if (x < 0 || x >= in_w) continue;
              const int8_t *ip = qin + (((int64_t)b * in_h + y) * in_w + x) * in_c + (int64_t)g * f_c;
              const int64_t fi = (((int64_t)oc * kh + fy) * kw + fx) * f_c;
              if (filter_int4) {
                acc += eq_s4_dot(filter, fi, ip, f_c, -zp, 0);
              } else {
                const int8_t *fp = (const int8_t *)filter + fi;
                for (int32_t ic = 0; ic < f_c; ++ic) acc += fp[ic] * (ip[ic] - zp);
              }
            }
          }
          /* Per-tensor: 0 + acc * scale, then + bias (LiteRT's GEMM path); per-channel: one expression. */
          float v = w_scale ? (float)acc * w_scale[oc] * in_scale[b] : (float)acc * in_scale[b];
          if (bias) v += bias[oc];
          o[oc] = clampf(v, p->act_min, p->act_max);
        }
      }
  }
}
