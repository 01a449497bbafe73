/* CONV_2D 16x8 for AVX2: each output pixel's receptive field is gathered once into an int16 patch
 * (zeros where the reference skips padding taps: the input zero point is 0, so they add nothing), then
 * every output channel is a dot product of that patch with its filter row, 4 channels x 2 pixels a
 * block (dot_s16x8.h: exact int64 sums for any depth). The requantization is the reference's arithmetic
 * lane by lane (int64 bias and the 48-bit form on 4 int64 lanes, or the wrapping int32 accumulator with
 * the two-step form on 8 lanes), so the bytes are the reference kernel's. Packed INT4 filters run the
 * reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"
#include "ref/fixedpoint.h"

/* Scratch: EQ_DOT_PIXELS patches, as many rows of int64 channel sums, the requantization constants, each
 * filter row's last partial 16 weights zero-padded. */
size_t eq_conv2d_s16_avx2_scratch_size(const eq_shape4 *filter_shape) {
  return (size_t)EQ_DOT_PIXELS * (size_t)eq_dot_patch_len(filter_shape) * sizeof(int16_t) +
         (size_t)EQ_DOT_PIXELS * (size_t)eq_dot_sum_stride(filter_shape->n) * sizeof(int64_t) +
         eq_rq48_bytes(filter_shape->n) + (size_t)filter_shape->n * 16u + 64u;
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
      const int inside = y >= 0 && y < is->h && x >= 0 && x < is->w;
      const int16_t *s = inside ? in + (((int64_t)b * is->h + y) * is->w + x) * is->c + (int64_t)g * fc : NULL;
      if (fc >= 8) {
        if (inside) memcpy(d, s, (size_t)fc * sizeof *d);
        else memset(d, 0, (size_t)fc * sizeof *d);
      } else { /* shallow taps: a loop beats a library call */
        for (int32_t i = 0; i < fc; ++i) d[i] = inside ? s[i] : 0;
      }
    }
  }
  memset(d, 0, (size_t)(eq_dot_patch_len(fs) - (d - dst)) * sizeof *d);
}

/* The int32-accumulator form: the sums wrap to int32 (as the reference's accumulator), + int32 bias,
 * the two-step requantization, clamp; 8 channels a vector, the tail in scalar. */
static EQ_AVX2 void requant_acc32(const int64_t *acc, const eq_conv_params *p, const eq_channel_quant *q,
                                  const int32_t *bias, int32_t n, int16_t *out) {
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  int32_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256i a0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(acc + c)), low_halves);
    const __m256i a1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(acc + c + 4)), low_halves);
    __m256i a = _mm256_permute2x128_si256(a0, a1, 0x20);
    if (bias) a = _mm256_add_epi32(a, _mm256_loadu_si256((const __m256i *)(bias + c)));
    const eq256_quant qq = eq256_load_quant(q->multiplier + c, q->shift + c);
    __m256i v = eq256_requant(a, qq.mult, qq.left, qq.right);
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    _mm_storeu_si128((__m128i *)(out + c), _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
  }
  for (; c < n; ++c) {
    const uint32_t a = (uint32_t)acc[c] + (bias ? (uint32_t)bias[c] : 0u);
    out[c] = (int16_t)eq_clamp32(eq_mul_by_quantized_mul((int32_t)a, q->multiplier[c], q->shift[c]), p->act_min,
                                 p->act_max);
  }
}

EQ_AVX2 void eq_conv2d_s16_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                                const int16_t *in, const eq_shape4 *filter_shape, const void *filter,
                                int filter_int4, const void *bias, int acc32, const eq_shape4 *out_shape,
                                int16_t *out, void *scratch) {
  if (filter_int4 || !scratch) {
    eq_conv2d_s16(p, q, in_shape, in, filter_shape, filter, filter_int4, bias, acc32, out_shape, out);
    return;
  }
  const int32_t K = filter_shape->h * filter_shape->w * filter_shape->c, Kp = eq_dot_patch_len(filter_shape);
  const int32_t out_c = out_shape->c, groups = in_shape->c / filter_shape->c, per_group = out_c / groups;
  const int64_t pixels = (int64_t)out_shape->n * out_shape->h * out_shape->w;
  int16_t *patch = EQ_ALIGN64(scratch);
  const int32_t stride = eq_dot_sum_stride(out_c);
  int64_t *sums = (int64_t *)(patch + (size_t)EQ_DOT_PIXELS * Kp);
  const eq_rq48 rq = eq_rq48_setup(q, acc32 ? NULL : bias, out_c, sums + (size_t)EQ_DOT_PIXELS * stride);
  const int8_t *f8 = filter;
  int8_t *tails = (int8_t *)(sums + (size_t)EQ_DOT_PIXELS * stride) + eq_rq48_bytes(out_c);
  eq_dot_pad_tails(f8, out_c, K, tails);
  eq_dot_src src = {{patch, patch + Kp}, 0, 1, 0};
  for (int64_t pix = 0; pix < pixels; pix += EQ_DOT_PIXELS) {
    const int np = pixels - pix < EQ_DOT_PIXELS ? (int)(pixels - pix) : EQ_DOT_PIXELS;
    src.x[1] = np > 1 ? patch + Kp : patch;
    for (int32_t g = 0; g < groups; ++g) {
      for (int j = 0; j < np; ++j) gather(p, in_shape, in, filter_shape, out_shape, pix + j, g, patch + (size_t)j * Kp);
      eq_dot_channels(&src, f8, tails, K, g * per_group, (g + 1) * per_group, sums, stride);
    }
    for (int j = 0; j < np; ++j) {
      int16_t *o = out + (pix + j) * out_c;
      if (acc32) {
        requant_acc32(sums + (size_t)j * stride, p, q, bias, out_c, o);
      } else {
        eq_rq48_row(sums + (size_t)j * stride, NULL, &rq, q, out_c, p->act_min, p->act_max, o);
      }
    }
  }
}
