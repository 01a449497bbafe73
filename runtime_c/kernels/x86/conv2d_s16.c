/* CONV_2D 16x8 for AVX2: each output pixel's receptive field is gathered once into an int16 patch
 * (zeros where the reference skips padding taps: the input zero point is 0, so they add nothing), then
 * every output channel is a dot product of that patch with its filter row, 4 channels x 2 pixels a
 * block (dot_s16x8.h: exact int64 sums for any depth). Requantization stays scalar per output, the
 * reference's own code (int64 bias and the 48-bit form, or the wrapping int32 accumulator), so the bytes
 * are the reference kernel's. Packed INT4 filters run the reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

#define PIXELS 2
#define ROWS 4

static int32_t patch_len(const eq_shape4 *fs) { return EQ_ROUND_UP(fs->h * fs->w * fs->c, 16); }

size_t eq_conv2d_s16_avx2_scratch_size(const eq_shape4 *filter_shape) {
  return (size_t)PIXELS * (size_t)patch_len(filter_shape) * sizeof(int16_t) + 64u;
}

/* The receptive field of output pixel `pix` (flattened over batch, rows, columns) for group g. */
static void gather(const eq_conv_params *p, const eq_shape4 *is, const int16_t *in, const eq_shape4 *fs,
                   const eq_shape4 *os, int64_t pix, int32_t g, int16_t *dst) {
  const int32_t ox = (int32_t)(pix % os->w), oy = (int32_t)(pix / os->w % os->h);
  const int32_t b = (int32_t)(pix / ((int64_t)os->w * os->h));
  const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w, fc = fs->c;
  int16_t *d = dst;
  for (int32_t fy = 0; fy < fs->h; ++fy) {
    const int32_t y = y0 + p->dilation_h * fy;
    for (int32_t fx = 0; fx < fs->w; ++fx, d += fc) {
      const int32_t x = x0 + p->dilation_w * fx;
      if (y < 0 || y >= is->h || x < 0 || x >= is->w) {
        memset(d, 0, (size_t)fc * sizeof *d);
      } else {
        memcpy(d, in + (((int64_t)b * is->h + y) * is->w + x) * is->c + (int64_t)g * fc, (size_t)fc * sizeof *d);
      }
    }
  }
  memset(d, 0, (size_t)(patch_len(fs) - (d - dst)) * sizeof *d);
}

static int16_t requant(int64_t acc, const eq_conv_params *p, const eq_channel_quant *q, const void *bias, int acc32,
                       int32_t oc) {
  int32_t v;
  if (acc32) { /* wraps as the reference's int32 accumulator */
    const uint32_t a = (uint32_t)acc + (bias ? (uint32_t)((const int32_t *)bias)[oc] : 0u);
    v = eq_mul_by_quantized_mul((int32_t)a, q->multiplier[oc], q->shift[oc]);
  } else {
    if (bias) acc += eq_bias64(((const int64_t *)bias)[oc]);
    v = eq_mul_by_quantized_mul_64(acc, q->multiplier[oc], q->shift[oc]);
  }
  return (int16_t)eq_clamp32(v, p->act_min, p->act_max);
}

EQ_AVX2 void eq_conv2d_s16_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                                const int16_t *in, const eq_shape4 *filter_shape, const void *filter,
                                int filter_int4, const void *bias, int acc32, const eq_shape4 *out_shape,
                                int16_t *out, void *scratch) {
  if (filter_int4 || !scratch) {
    eq_conv2d_s16(p, q, in_shape, in, filter_shape, filter, filter_int4, bias, acc32, out_shape, out);
    return;
  }
  const int32_t K = filter_shape->h * filter_shape->w * filter_shape->c, Kp = patch_len(filter_shape);
  const int32_t out_c = out_shape->c, groups = in_shape->c / filter_shape->c, per_group = out_c / groups;
  const int64_t pixels = (int64_t)out_shape->n * out_shape->h * out_shape->w;
  int16_t *patch = EQ_ALIGN64(scratch);
  const int8_t *f8 = filter;
  eq_dot_src src = {{patch, patch + Kp}, 0, 0};
  for (int64_t pix = 0; pix < pixels; pix += PIXELS) {
    const int np = pixels - pix < PIXELS ? (int)(pixels - pix) : PIXELS;
    src.x[1] = np > 1 ? patch + Kp : patch;
    for (int32_t g = 0; g < groups; ++g) {
      for (int j = 0; j < np; ++j) gather(p, in_shape, in, filter_shape, out_shape, pix + j, g, patch + (size_t)j * Kp);
      const int32_t end = (g + 1) * per_group;
      for (int32_t oc0 = g * per_group; oc0 < end; oc0 += ROWS) {
        const int nr = end - oc0 < ROWS ? end - oc0 : ROWS;
        const int8_t *rows[ROWS];
        for (int r = 0; r < ROWS; ++r) rows[r] = f8 + (int64_t)(oc0 + (r < nr ? r : nr - 1)) * K;
        int64_t sums[8];
        eq_dot8(&src, PIXELS, rows, ROWS, K, sums);
        for (int j = 0; j < np; ++j) {
          int16_t *o = out + (pix + j) * out_c;
          for (int r = 0; r < nr; ++r) o[oc0 + r] = requant(sums[r * PIXELS + j], p, q, bias, acc32, oc0 + r);
        }
      }
    }
  }
}
