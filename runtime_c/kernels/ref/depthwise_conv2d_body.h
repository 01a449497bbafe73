/* The one DEPTHWISE_CONV_2D loop of the int8-activation reference kernels, any depth multiplier:
 * output channel ic * multiplier + m reads input channel ic (TFLite reference semantics, same
 * requantization as conv). The filter [1, kh, kw, c_out] is int8 or packed INT4; each kernel file
 * passes a literal int4 so the compiler keeps only that tap read (no per-tap branch). */
#ifndef EDGEQ_REF_DEPTHWISE_CONV2D_BODY_H
#define EDGEQ_REF_DEPTHWISE_CONV2D_BODY_H

#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

/* always_inline for the same reason as ref/conv2d_body.h's: the int8 tap loop stays as tight. */
static inline __attribute__((always_inline)) void eq_depthwise_conv2d_body(
    const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape, const int8_t *in,
    const eq_shape4 *filter_shape, const void *filter, int int4, const int32_t *bias, const eq_shape4 *out_shape,
    int8_t *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t mult = p->depth_multiplier;
  for (int32_t b = 0; b < in_shape->n; ++b) {
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            int32_t acc = 0;
            for (int32_t fy = 0; fy < kh; ++fy) {
              const int32_t y = y0 + p->dilation_h * fy;
              if (y < 0 || y >= in_h) continue;
              for (int32_t fx = 0; fx < kw; ++fx) {
                const int32_t x = x0 + p->dilation_w * fx;
                if (x < 0 || x >= in_w) continue;
                const int32_t iv = in[(((int64_t)b * in_h + y) * in_w + x) * in_c + ic];
                const int32_t fv = eq_w_at(filter, int4, ((int64_t)fy * kw + fx) * out_c + oc);
                acc += fv * (iv + p->input_offset);
              }
            }
            if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[oc]); /* wraps as TFLite's int32 does */
            acc = eq_mul_by_quantized_mul(acc, q->multiplier[oc], q->shift[oc]) + p->output_offset;
            o[oc] = (int8_t)eq_clamp32(acc, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

#endif
