/* CONV_2D 16x8: int16 input and output (zero point 0), int8 or packed INT4 weights, int64 or int32 bias, grouped
 * when the filter's depth divides the input's. LiteRT's reference: no input offset; int64 accumulator
 * with the 48-bit requantization, or int32 (wrapping) with the two-step one; no output offset. */
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

void eq_conv2d_s16(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                   const int16_t *in, const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                   const void *bias, int acc32, const eq_shape4 *out_shape, int16_t *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w, f_c = filter_shape->c;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t per_group = out_c / (in_c / f_c);
  for (int32_t b = 0; b < in_shape->n; ++b) {
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int16_t *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t g = oc / per_group;
          int64_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t y = y0 + p->dilation_h * fy;
            if (y < 0 || y >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t x = x0 + p->dilation_w * fx;
              if (x < 0 || x >= in_w) continue;
              const int16_t *ip = in + (((int64_t)b * in_h + y) * in_w + x) * in_c + (int64_t)g * f_c;
              const int64_t fi = (((int64_t)oc * kh + fy) * kw + fx) * f_c;
              if (filter_int4) {
                for (int32_t ic = 0; ic < f_c; ++ic) acc += eq_s4_at(filter, fi + ic) * ip[ic];
              } else {
                const int8_t *fp = (const int8_t *)filter + fi;
                for (int32_t ic = 0; ic < f_c; ++ic) acc += fp[ic] * ip[ic];
              }
            }
          }
          int32_t v;
          if (acc32) { /* wraps as TFLite's int32 accumulator does */
            const uint32_t a = (uint32_t)acc + (bias ? (uint32_t)((const int32_t *)bias)[oc] : 0u);
            v = eq_mul_by_quantized_mul((int32_t)a, q->multiplier[oc], q->shift[oc]);
          } else {
            if (bias) acc += eq_bias64(((const int64_t *)bias)[oc]);
            v = eq_mul_by_quantized_mul_64(acc, q->multiplier[oc], q->shift[oc]);
          }
          o[oc] = (int16_t)eq_clamp32(v, p->act_min, p->act_max);
        }
      }
    }
  }
}
