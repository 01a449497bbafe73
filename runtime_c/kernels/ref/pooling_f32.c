/* AVERAGE_POOL_2D and MAX_POOL_2D in float (LiteRT's reference: the window clipped to the input). */
#include "eq_kernels_f32.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

static void pool(int average, const eq_pool_params *p, float act_min, float act_max, const eq_shape4 *in_shape,
                 const float *in, const eq_shape4 *out_shape, float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, c = in_shape->c;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        const int32_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
        const int32_t fy1 = p->filter_h < in_h - y0 ? p->filter_h : in_h - y0;
        const int32_t fx1 = p->filter_w < in_w - x0 ? p->filter_w : in_w - x0;
        float *o = out + (((int64_t)b * out_shape->h + oy) * out_shape->w + ox) * c;
        for (int32_t ch = 0; ch < c; ++ch) {
          float acc = average ? 0.0f : -3.402823466e38f;
          int32_t count = 0;
          for (int32_t fy = fy0; fy < fy1; ++fy)
            for (int32_t fx = fx0; fx < fx1; ++fx) {
              const float v = in[(((int64_t)b * in_h + y0 + fy) * in_w + x0 + fx) * c + ch];
              if (average) acc += v;
              else if (v > acc) acc = v;
              ++count;
            }
          if (average) acc = count ? acc / (float)count : 0.0f;
          o[ch] = clampf(acc, act_min, act_max);
        }
      }
}

void eq_average_pool_f32(const eq_pool_params *p, float act_min, float act_max, const eq_shape4 *in_shape,
                         const float *in, const eq_shape4 *out_shape, float *out) {
  pool(1, p, act_min, act_max, in_shape, in, out_shape, out);
}

void eq_max_pool_f32(const eq_pool_params *p, float act_min, float act_max, const eq_shape4 *in_shape,
                     const float *in, const eq_shape4 *out_shape, float *out) {
  pool(0, p, act_min, act_max, in_shape, in, out_shape, out);
}
