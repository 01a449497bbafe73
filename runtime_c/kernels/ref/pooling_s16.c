/* AVERAGE_POOL_2D and MAX_POOL_2D, int16 (input and output share the scale). Only in-bounds taps count;
 * the average divides with rounding half away from zero, as LiteRT's int16 reference. */
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

typedef struct {
  int32_t y0, y1, x0, x1; /* in-bounds taps [y0, y1) x [x0, x1) in input coordinates */
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

static int64_t at(const eq_shape4 *s, int32_t b, int32_t y, int32_t x) {
  return (((int64_t)b * s->h + y) * s->w + x) * s->c;
}

void eq_average_pool_s16(const eq_pool_params *p, const eq_shape4 *in_shape, const int16_t *in,
                         const eq_shape4 *out_shape, int16_t *out) {
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        const window w = window_at(p, in_shape, oy, ox);
        const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        int16_t *o = out + at(out_shape, b, oy, ox);
        for (int32_t c = 0; c < in_shape->c; ++c) {
          int32_t acc = 0;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) acc += in[at(in_shape, b, y, x) + c];
          if (count <= 0) { /* prepare rejects windows entirely in the padding */
            o[c] = (int16_t)eq_clamp32(0, p->act_min, p->act_max);
            continue;
          }
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          o[c] = (int16_t)eq_clamp32(acc, p->act_min, p->act_max);
        }
      }
}

void eq_max_pool_s16(const eq_pool_params *p, const eq_shape4 *in_shape, const int16_t *in,
                     const eq_shape4 *out_shape, int16_t *out) {
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_shape->h; ++oy)
      for (int32_t ox = 0; ox < out_shape->w; ++ox) {
        const window w = window_at(p, in_shape, oy, ox);
        int16_t *o = out + at(out_shape, b, oy, ox);
        for (int32_t c = 0; c < in_shape->c; ++c) {
          int32_t m = INT16_MIN;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) {
              const int32_t v = in[at(in_shape, b, y, x) + c];
              if (v > m) m = v;
            }
          o[c] = (int16_t)eq_clamp32(m, p->act_min, p->act_max);
        }
      }
}
