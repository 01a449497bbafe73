/* Hybrid CONV_2D (int8 weights, run-time quantized int8 input, float output) for AVX2, any filter depth.
 * Each output pixel's receptive field is gathered once into an int16 patch of x - zp (0 where the
 * reference skips padding taps, so they add nothing). Two ways to the channel sums, both exact and both
 * the reference's int32 sums (which cannot overflow: 255 * 128 * EQ_MAX_TAPS < 2^31):
 *  - packed (constant filter, one group): the weights interleaved once at prepare as int16 pairs
 *    (w[c][2j], w[c][2j+1]) 8 channels a vector, and each patch pair broadcast: one vpmaddwd adds two
 *    taps to 8 channels' int32 lanes, 4 pixels x 16 channels a tile, no horizontal sums;
 *  - otherwise dot products of the patch with each filter row, 4 channels x 2 pixels a block
 *    (dot_s16x8.h).
 * The float steps after them are the reference's, 8 channels a vector in its operation order (no fused
 * multiply-add), so the bytes are the reference kernel's. Packed INT4 filters, or no scratch, run the
 * reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"

#define TILE 4 /* packed path: pixels a tile (the dot path: EQ_DOT_PIXELS) */

/* Scratch: TILE int16 patches, and for the dot path EQ_DOT_PIXELS rows of int64 channel sums and each
 * filter row's last partial 16 weights zero-padded. */
size_t eq_conv2d_hybrid_avx2_scratch_size(const eq_shape4 *filter_shape) {
  return (size_t)TILE * (size_t)eq_dot_patch_len(filter_shape) * sizeof(int16_t) +
         (size_t)EQ_DOT_PIXELS * (size_t)eq_dot_sum_stride(filter_shape->n) * sizeof(int64_t) +
         (size_t)filter_shape->n * 16u + 64u;
}

/* Packed weights: for each block of 8 output channels and tap pair j, 8 (w[c][2j], w[c][2j+1]) int16
 * pairs (zeros past the taps and the channels). One group only (0 otherwise). */
size_t eq_conv2d_hybrid_avx2_packed_size(const eq_shape4 *in_shape, const eq_shape4 *filter_shape) {
  if (in_shape->c != filter_shape->c) return 0;
  const int32_t K = filter_shape->h * filter_shape->w * filter_shape->c;
  return (size_t)((filter_shape->n + 7) / 8) * (size_t)((K + 1) / 2) * 32u + 64u;
}

void eq_conv2d_hybrid_avx2_pack(const eq_shape4 *filter_shape, const int8_t *filter, void *packed) {
  const int32_t K = filter_shape->h * filter_shape->w * filter_shape->c, n = filter_shape->n;
  const int32_t pairs = (K + 1) / 2, blocks = (n + 7) / 8;
  int16_t *d = EQ_ALIGN64(packed);
  for (int32_t cb = 0; cb < blocks; ++cb)
    for (int32_t j = 0; j < pairs; ++j)
      for (int32_t l = 0; l < 8; ++l, d += 2) {
        const int32_t c = cb * 8 + l;
        d[0] = c < n ? filter[(int64_t)c * K + 2 * j] : 0;
        d[1] = c < n && 2 * j + 1 < K ? filter[(int64_t)c * K + 2 * j + 1] : 0;
      }
}

/* n int8 values less zp as int16, 16 a step, then 8, the rest one by one (no read past s + n). */
EQ_INLINE EQ_AVX2 void widen(const int8_t *s, int32_t n, int32_t zp, __m256i zv, int16_t *d) {
  int32_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(d + i),
                        _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s + i))), zv));
  if (i + 8 <= n) {
    _mm_storeu_si128((__m128i *)(d + i), _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(s + i))),
                                                      _mm256_castsi256_si128(zv)));
    i += 8;
  }
  for (; i < n; ++i) d[i] = (int16_t)(s[i] - zp);
}

/* The receptive field of output pixel `pix` (flattened over batch, rows, columns) for group g, less zp.
 * With one group and no column dilation, a filter row's taps inside the input are one run of bytes. */
static EQ_AVX2 void gather(const eq_conv_fparams *p, const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                           const eq_shape4 *os, int64_t pix, int32_t g, int32_t zp, int16_t *dst) {
  const int32_t ox = (int32_t)(pix % os->w), oy = (int32_t)(pix / os->w % os->h);
  const int32_t b = (int32_t)(pix / ((int64_t)os->w * os->h));
  const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w, fc = fs->c, kw = fs->w;
  const int run = is->c == fc && p->dilation_w == 1;
  const __m256i zv = _mm256_set1_epi16((int16_t)zp);
  int16_t *d = dst;
  for (int32_t fy = 0; fy < fs->h; ++fy, d += kw * fc) {
    const int32_t y = y0 + p->dilation_h * fy;
    if (y < 0 || y >= is->h) {
      memset(d, 0, (size_t)(kw * fc) * sizeof *d);
      continue;
    }
    const int8_t *row = in + (((int64_t)b * is->h + y) * is->w) * is->c + (int64_t)g * fc;
    if (run) {
      const int32_t lo = x0 < 0 ? -x0 : 0, hi = is->w - x0 < kw ? is->w - x0 : kw;
      if (lo >= hi) {
        memset(d, 0, (size_t)(kw * fc) * sizeof *d);
        continue;
      }
      if (lo) memset(d, 0, (size_t)(lo * fc) * sizeof *d);
      widen(row + (int64_t)(x0 + lo) * fc, (hi - lo) * fc, zp, zv, d + lo * fc);
      if (hi < kw) memset(d + hi * fc, 0, (size_t)((kw - hi) * fc) * sizeof *d);
      continue;
    }
    for (int32_t fx = 0; fx < kw; ++fx) {
      const int32_t x = x0 + p->dilation_w * fx;
      if (x < 0 || x >= is->w) memset(d + fx * fc, 0, (size_t)fc * sizeof *d);
      else widen(row + (int64_t)x * is->c, fc, zp, zv, d + fx * fc);
    }
  }
  const int32_t rest = eq_dot_patch_len(fs) - (int32_t)(d - dst);
  if (rest) memset(d, 0, (size_t)rest * sizeof *d);
}

/* The float steps of 8 channels' int32 sums from c0 (n of them valid, n <= 8), stored to out + c0. */
EQ_INLINE EQ_AVX2 void finish8(__m256i acc, int32_t c0, int32_t n, const float *w_scale, __m256 scale,
                               const float *bias, __m256 lo, __m256 hi, float *out) {
  __m256 v = _mm256_cvtepi32_ps(acc);
  if (n == 8) {
    if (w_scale) v = _mm256_mul_ps(v, _mm256_loadu_ps(w_scale + c0));
    v = _mm256_mul_ps(v, scale);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c0));
    _mm256_storeu_ps(out + c0, _mm256_min_ps(hi, _mm256_max_ps(lo, v)));
    return;
  }
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  if (w_scale) v = _mm256_mul_ps(v, _mm256_maskload_ps(w_scale + c0, m));
  v = _mm256_mul_ps(v, scale);
  if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + c0, m));
  _mm256_maskstore_ps(out + c0, m, _mm256_min_ps(hi, _mm256_max_ps(lo, v)));
}

EQ_INLINE EQ_AVX2 __m256i pair_at(const int16_t *patch, int32_t j) {
  int32_t v;
  memcpy(&v, patch + 2 * j, 4);
  return _mm256_set1_epi32(v);
}

/* The packed path over np <= TILE pixels from pix (one batch row), patches gathered. B channel blocks
 * from cb (B 1 or 2, a constant at the call). */
EQ_INLINE EQ_AVX2 void packed_tile(const int16_t *const *patch, int np, const int16_t *w, int32_t pairs, int32_t cb,
                                   int B, int32_t out_c, const float *w_scale, __m256 scale, const float *bias,
                                   __m256 lo, __m256 hi, float *const *o) {
  __m256i acc[TILE][2];
#pragma GCC unroll 4
  for (int t = 0; t < TILE; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
  const int16_t *w0 = w + (size_t)cb * pairs * 16, *w1 = w0 + (size_t)pairs * 16;
  for (int32_t j = 0; j < pairs; ++j) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)(w0 + (size_t)j * 16));
    const __m256i b = B > 1 ? _mm256_loadu_si256((const __m256i *)(w1 + (size_t)j * 16)) : a;
#pragma GCC unroll 4
    for (int t = 0; t < TILE; ++t) {
      const __m256i x = pair_at(patch[t], j);
      acc[t][0] = _mm256_add_epi32(acc[t][0], _mm256_madd_epi16(x, a));
      if (B > 1) acc[t][1] = _mm256_add_epi32(acc[t][1], _mm256_madd_epi16(x, b));
    }
  }
  for (int t = 0; t < np; ++t)
    for (int k = 0; k < B; ++k) {
      const int32_t c0 = (cb + k) * 8, n = out_c - c0 < 8 ? out_c - c0 : 8;
      finish8(acc[t][k], c0, n, w_scale, scale, bias, lo, hi, o[t]);
    }
}

/* out[c] = clamp((float)acc[c] * w_scale[c] * scale + bias[c]) (w_scale NULL: (float)acc[c] * scale),
 * each step rounded as the reference rounds it. */
static EQ_AVX2 void finish(const int64_t *acc, const float *w_scale, float scale, const float *bias, int32_t n,
                           float act_min, float act_max, float *out) {
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(act_min), hi = _mm256_set1_ps(act_max);
  int32_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256i a0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(acc + c)), low_halves);
    const __m256i a1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(acc + c + 4)), low_halves);
    __m256 v = _mm256_cvtepi32_ps(_mm256_permute2x128_si256(a0, a1, 0x20));
    if (w_scale) v = _mm256_mul_ps(v, _mm256_loadu_ps(w_scale + c));
    v = _mm256_mul_ps(v, s);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
    /* x < lo ? lo : (x > hi ? hi : x), NaN kept: max/min return their second operand when unordered */
    v = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    _mm256_storeu_ps(out + c, v);
  }
  for (; c < n; ++c) {
    float v = w_scale ? (float)(int32_t)acc[c] * w_scale[c] * scale : (float)(int32_t)acc[c] * scale;
    if (bias) v += bias[c];
    out[c] = v < act_min ? act_min : (v > act_max ? act_max : v);
  }
}

EQ_AVX2 void eq_conv2d_hybrid_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                                   const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                                   const void *filter, int filter_int4, const float *w_scale, const float *bias,
                                   const eq_shape4 *out_shape, float *out, const void *packed, void *scratch) {
  if (filter_int4 || !scratch) {
    eq_conv2d_hybrid(p, in_shape, qin, in_scale, in_zp, filter_shape, filter, filter_int4, w_scale, bias, out_shape,
                     out);
    return;
  }
  const int32_t K = filter_shape->h * filter_shape->w * filter_shape->c, Kp = eq_dot_patch_len(filter_shape);
  const int32_t out_c = out_shape->c, groups = in_shape->c / filter_shape->c, per_group = out_c / groups;
  const int64_t per_batch = (int64_t)out_shape->h * out_shape->w, pixels = (int64_t)out_shape->n * per_batch;
  int16_t *patch = EQ_ALIGN64(scratch);
  if (packed && groups == 1) {
    const int16_t *w = EQ_ALIGN64(packed);
    const int32_t pairs = (K + 1) / 2, blocks = (out_c + 7) / 8;
    const __m256 lo = _mm256_set1_ps(p->act_min), hi = _mm256_set1_ps(p->act_max);
    int np;
    for (int64_t pix = 0; pix < pixels; pix += np) {
      const int32_t b = (int32_t)(pix / per_batch);
      const int64_t row_end = (b + 1) * per_batch;
      np = row_end - pix < TILE ? (int)(row_end - pix) : TILE;
      const int16_t *pt[TILE];
      float *o[TILE];
      for (int t = 0; t < TILE; ++t) {
        pt[t] = patch + (size_t)(t < np ? t : np - 1) * Kp;
        o[t] = out + (pix + (t < np ? t : np - 1)) * out_c;
      }
      for (int t = 0; t < np; ++t)
        gather(p, in_shape, qin, filter_shape, out_shape, pix + t, 0, in_zp[b], patch + (size_t)t * Kp);
      const __m256 sc = _mm256_set1_ps(in_scale[b]);
      int32_t cb = 0;
      for (; cb + 2 <= blocks; cb += 2) packed_tile(pt, np, w, pairs, cb, 2, out_c, w_scale, sc, bias, lo, hi, o);
      if (cb < blocks) packed_tile(pt, np, w, pairs, cb, 1, out_c, w_scale, sc, bias, lo, hi, o);
    }
    return;
  }
  const int32_t stride = eq_dot_sum_stride(out_c);
  int64_t *sums = (int64_t *)(patch + (size_t)EQ_DOT_PIXELS * Kp);
  const int8_t *f8 = filter;
  int8_t *tails = (int8_t *)(sums + (size_t)EQ_DOT_PIXELS * stride);
  eq_dot_pad_tails(f8, out_c, K, tails);
  eq_dot_src src = {{patch, patch + Kp}, 0, 1, 0};
  int np;
  for (int64_t pix = 0; pix < pixels; pix += np) {
    /* both pixels of a block in one batch row (each row has its own zero point and scale) */
    const int32_t b = (int32_t)(pix / per_batch);
    const int64_t row_end = (b + 1) * per_batch;
    np = row_end - pix < EQ_DOT_PIXELS ? (int)(row_end - pix) : EQ_DOT_PIXELS;
    src.x[1] = np > 1 ? patch + Kp : patch;
    for (int32_t g = 0; g < groups; ++g) {
      for (int j = 0; j < np; ++j)
        gather(p, in_shape, qin, filter_shape, out_shape, pix + j, g, in_zp[b], patch + (size_t)j * Kp);
      eq_dot_channels(&src, f8, tails, K, g * per_group, (g + 1) * per_group, sums, stride);
    }
    for (int j = 0; j < np; ++j)
      finish(sums + (size_t)j * stride, w_scale, in_scale[b], bias, out_c, p->act_min, p->act_max,
             out + (pix + j) * out_c);
  }
}
