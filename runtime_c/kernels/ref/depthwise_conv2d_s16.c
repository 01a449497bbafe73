/* DEPTHWISE_CONV_2D 16x8: int16 input/output (zero point 0), int8 weights, int64 bias, int64
 * accumulator and the 48-bit requantization (LiteRT's reference; it has no int32-bias form). Packed
 * INT4 weights (W4A16) get the same arithmetic on the nibbles: an edgeq extension, since LiteRT 2.3's
 * 16x8 depthwise reads INT4 filters as if they were int8 bytes (see kernels/README.md). */
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

void eq_depthwise_conv2d_s16(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                             const int16_t *in, const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                             const int64_t *bias, const eq_shape4 *out_shape, int16_t *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t mult = p->depth_multiplier;
  for (int32_t b = 0; b < in_shape->n; ++b) {
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int16_t *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            int64_t acc = 0;
            for (int32_t fy = 0; fy < kh; ++fy) {
              const int32_t y = y0 + p->dilation_h * fy;
              if (y < 0 || y >= in_h) continue;
              for (int32_t fx = 0; fx < kw; ++fx) {
                const int32_t x = x0 + p->dilation_w * fx;
                if (x < 0 || x >= in_w) continue;
                acc += (int64_t)eq_w_at(filter, filter_int4, ((int64_t)fy * kw + fx) * out_c + oc) *
                       in[(((int64_t)b * in_h + y) * in_w + x) * in_c + ic];
              }
            }
            if (bias) acc += eq_bias64(bias[oc]);
            const int32_t v = eq_mul_by_quantized_mul_64(acc, q->multiplier[oc], q->shift[oc]);
            o[oc] = (int16_t)eq_clamp32(v, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}
