/* The one CONV_2D loop of the int8-activation reference kernels (TFLite reference semantics:
 * acc = sum filter * (input - zp_in) over in-bounds taps, + bias, requantize, + zp_out, clamp;
 * grouped when the filter's depth divides the input's). The filter is int8 or packed INT4; each
 * kernel file passes a literal int4 so the compiler keeps only that tap read (no per-tap branch). */
#ifndef EDGEQ_REF_CONV2D_BODY_H
#define EDGEQ_REF_CONV2D_BODY_H

#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

/* always_inline: left to gcc -O2, the body is inlined only after being optimised as a loop for both
 * filter kinds, and the Cortex-M4 int8 tap loop then reloads input_offset from the stack every tap;
 * inlined early, each kernel gets the same tap loop as a hand-written copy. */
static inline __attribute__((always_inline)) void eq_conv2d_body(
    const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape, const int8_t *in,
    const eq_shape4 *filter_shape, const void *filter, int int4, const int32_t *bias, const eq_shape4 *out_shape,
    int8_t *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w, f_c = filter_shape->c;
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t groups = in_c / f_c;
  const int32_t per_group = out_c / groups;
  for (int32_t b = 0; b < in_shape->n; ++b) {
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t g = oc / per_group;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t y = y0 + p->dilation_h * fy;
            if (y < 0 || y >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t x = x0 + p->dilation_w * fx;
              if (x < 0 || x >= in_w) continue;
              const int8_t *ip = in + (((int64_t)b * in_h + y) * in_w + x) * in_c + (int64_t)g * f_c;
              const int64_t fi = (((int64_t)oc * kh + fy) * kw + fx) * f_c;
              if (int4) {
                acc += eq_s4_dot((const uint8_t *)filter, fi, ip, f_c, p->input_offset, 0);
              } else {
                const int8_t *fp = (const int8_t *)filter + fi;
                for (int32_t ic = 0; ic < f_c; ++ic) acc += fp[ic] * (ip[ic] + p->input_offset);
              }
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

#endif
