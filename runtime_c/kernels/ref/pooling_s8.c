/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 (input and output share scale and zero point). Only in-bounds
 * taps count; the average divides with rounding half away from zero, as TFLite's reference. */
#include "eq_kernels_core.h"
#include "ref/fixedpoint.h"

typedef struct {
  int32_t y0, y1, x0, x1; /* in-bounds tap range, in input coordinates [y0, y1) x [x0, x1) */
} window;

static window window_at(const eq_pool_params *p, const eq_shape4 *in, int32_t oy, int32_t ox) {
  window w;
  const int32_t iy = oy * p->stride_h - p->pad_h, ix = ox * p->stride_w - p->pad_w;
  w.y0 = iy < 0 ? 0 : iy;
  w.x0 = ix < 0 ? 0 : ix;
  w.y1 = iy + p->filter_h < in->h ? iy + p->filter_h : in->h;
  w.x1 = ix + p->filter_w < in->w ? ix + p->filter_w : in->w;
  return w;
}

void eq_average_pool_s8(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                        const eq_shape4 *out_shape, int8_t *out) {
  const int32_t c_n = in_shape->c;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        const window w = window_at(p, in_shape, oy, ox);
        const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        int8_t *o = out + (((int64_t)b * out_shape->h + oy) * out_shape->w + ox) * c_n;
        for (int32_t c = 0; c < c_n; ++c) {
          int32_t acc = 0;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) acc += in[(((int64_t)b * in_shape->h + y) * in_shape->w + x) * c_n + c];
          if (count <= 0) { /* a window entirely in the padding: prepare rejects such shapes */
            o[c] = (int8_t)eq_clamp32(0, p->act_min, p->act_max);
            continue;
          }
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          o[c] = (int8_t)eq_clamp32(acc, p->act_min, p->act_max);
        }
      }
}

void eq_max_pool_s8(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                    const eq_shape4 *out_shape, int8_t *out) {
  const int32_t c_n = in_shape->c;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        const window w = window_at(p, in_shape, oy, ox);
        int8_t *o = out + (((int64_t)b * out_shape->h + oy) * out_shape->w + ox) * c_n;
        for (int32_t c = 0; c < c_n; ++c) {
          int32_t m = -128;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) {
              const int32_t v = in[(((int64_t)b * in_shape->h + y) * in_shape->w + x) * c_n + c];
              if (v > m) m = v;
            }
          o[c] = (int8_t)eq_clamp32(m, p->act_min, p->act_max);
        }
      }
}
