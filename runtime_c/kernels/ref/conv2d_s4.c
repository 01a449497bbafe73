/* CONV_2D with packed INT4 weights and int8 activations: conv2d_s8.c's arithmetic on the weights
 * read nibble by nibble from the model's packed bytes (LiteRT unpacks to int8 and runs the int8
 * kernel: same values, same result). */
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

void eq_conv2d_s4(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                  const int8_t *in, const eq_shape4 *filter_shape, const uint8_t *filter,
                  const int32_t *bias, const eq_shape4 *out_shape, int8_t *out) {
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
              acc += eq_s4_dot(filter, fi, ip, f_c, p->input_offset, 0);
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
