/* AVERAGE_POOL_2D and MAX_POOL_2D int8 for AVX2 and AVX-512: channels across lanes (8 or 16 int32 sums for
 * the average, 32 or 64 bytes for the max), the in-bounds taps of each window walked as the reference
 * does. The average's division, round half away from zero, is exact in double lanes: |sum| <= 128 * count
 * keeps the quotient's distance to the next integer far above double precision. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

typedef struct {
  int32_t y0, y1, x0, x1;
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

/* Activation ranges outside int8 (never produced by prepare) go to the reference. */
static int supported(const eq_pool_params *p) { return p->act_min >= -128 && p->act_max <= 127 && p->act_min <= p->act_max; }

/* trunc((acc +- count / 2) / count) on 8 lanes via two 4-lane double divisions */
EQ_INLINE EQ_AVX2 __m256i round_div_avx2(__m256i acc, int32_t count) {
  const __m256i half = _mm256_set1_epi32(count / 2);
  const __m256i pos = _mm256_cmpgt_epi32(acc, _mm256_setzero_si256());
  const __m256i num = _mm256_blendv_epi8(_mm256_sub_epi32(acc, half), _mm256_add_epi32(acc, half), pos);
  const __m256d c = _mm256_set1_pd((double)count);
  const __m128i q0 = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(num)), c));
  const __m128i q1 = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(num, 1)), c));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
}

EQ_AVX2 void eq_average_pool_s8_avx2(const eq_pool_params *p, const eq_shape4 *is, const int8_t *in,
                                     const eq_shape4 *os, int8_t *out) {
  if (!supported(p)) {
    eq_average_pool_s8(p, is, in, os, out);
    return;
  }
  const int32_t C = is->c;
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t b = 0; b < is->n; ++b)
    for (int32_t oy = 0; oy < os->h; ++oy)
      for (int32_t ox = 0; ox < os->w; ++ox) {
        const window w = window_at(p, is, oy, ox);
        const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        int8_t *o = out + (((int64_t)b * os->h + oy) * os->w + ox) * C;
        for (int32_t c = 0; c < C; c += 8) {
          __m256i acc = _mm256_setzero_si256();
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x)
              acc = _mm256_add_epi32(acc, eq256_load_s8(in + (((int64_t)b * is->h + y) * is->w + x) * C + c, C - c));
          const __m256i r = count > 0 ? round_div_avx2(acc, count) : _mm256_setzero_si256();
          eq256_store_s8(o + c, _mm256_min_epi32(_mm256_max_epi32(r, lo), hi), C - c);
        }
      }
}

EQ_INLINE EQ_AVX512 __m512i round_div_avx512(__m512i acc, int32_t count) {
  const __m512i half = _mm512_set1_epi32(count / 2);
  const __mmask16 pos = _mm512_cmpgt_epi32_mask(acc, _mm512_setzero_si512());
  const __m512i num = _mm512_mask_add_epi32(_mm512_sub_epi32(acc, half), pos, acc, half);
  const __m512d c = _mm512_set1_pd((double)count);
  const __m256i q0 = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(num)), c));
  const __m256i q1 = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(num, 1)), c));
  return _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
}

EQ_AVX512 void eq_average_pool_s8_avx512vnni(const eq_pool_params *p, const eq_shape4 *is, const int8_t *in,
                                             const eq_shape4 *os, int8_t *out) {
  if (!supported(p)) {
    eq_average_pool_s8(p, is, in, os, out);
    return;
  }
  const int32_t C = is->c;
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  for (int32_t b = 0; b < is->n; ++b)
    for (int32_t oy = 0; oy < os->h; ++oy)
      for (int32_t ox = 0; ox < os->w; ++ox) {
        const window w = window_at(p, is, oy, ox);
        const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        int8_t *o = out + (((int64_t)b * os->h + oy) * os->w + ox) * C;
        for (int32_t c = 0; c < C; c += 64) { /* four accumulators: 64 channels per pass over the window */
          const __mmask16 k0 = eq512_mask(C - c), k1 = eq512_mask(C - c - 16 > 0 ? C - c - 16 : 0);
          const __mmask16 k2 = eq512_mask(C - c - 32 > 0 ? C - c - 32 : 0);
          const __mmask16 k3 = eq512_mask(C - c - 48 > 0 ? C - c - 48 : 0);
          __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) {
              const int8_t *px = in + (((int64_t)b * is->h + y) * is->w + x) * C + c;
              a0 = _mm512_add_epi32(a0, eq512_load_s8(px, k0));
              a1 = _mm512_add_epi32(a1, eq512_load_s8(px + 16, k1));
              a2 = _mm512_add_epi32(a2, eq512_load_s8(px + 32, k2));
              a3 = _mm512_add_epi32(a3, eq512_load_s8(px + 48, k3));
            }
          const __m512i acc[4] = {a0, a1, a2, a3};
          const __mmask16 ks[4] = {k0, k1, k2, k3};
          for (int v = 0; v < 4 && ks[v]; ++v) {
            const __m512i r = count > 0 ? round_div_avx512(acc[v], count) : _mm512_setzero_si512();
            _mm512_mask_cvtepi32_storeu_epi8(o + c + 16 * v, ks[v], _mm512_min_epi32(_mm512_max_epi32(r, lo), hi));
          }
        }
      }
}

EQ_AVX2 void eq_max_pool_s8_avx2(const eq_pool_params *p, const eq_shape4 *is, const int8_t *in,
                                 const eq_shape4 *os, int8_t *out) {
  if (!supported(p)) {
    eq_max_pool_s8(p, is, in, os, out);
    return;
  }
  const int32_t C = is->c;
  const __m256i lo = _mm256_set1_epi8((char)p->act_min), hi = _mm256_set1_epi8((char)p->act_max);
  for (int32_t b = 0; b < is->n; ++b)
    for (int32_t oy = 0; oy < os->h; ++oy)
      for (int32_t ox = 0; ox < os->w; ++ox) {
        const window w = window_at(p, is, oy, ox);
        int8_t *o = out + (((int64_t)b * os->h + oy) * os->w + ox) * C;
        int32_t c = 0;
        for (; c + 32 <= C; c += 32) {
          __m256i m = _mm256_set1_epi8(-128);
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x)
              m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)(in + (((int64_t)b * is->h + y) * is->w + x) * C + c)));
          _mm256_storeu_si256((__m256i *)(o + c), _mm256_min_epi8(_mm256_max_epi8(m, lo), hi));
        }
        for (; c < C; ++c) { /* the last channels, as the reference */
          int32_t m = -128;
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x) {
              const int32_t v = in[(((int64_t)b * is->h + y) * is->w + x) * C + c];
              if (v > m) m = v;
            }
          o[c] = (int8_t)(m < p->act_min ? p->act_min : (m > p->act_max ? p->act_max : m));
        }
      }
}

EQ_AVX512 void eq_max_pool_s8_avx512vnni(const eq_pool_params *p, const eq_shape4 *is, const int8_t *in,
                                         const eq_shape4 *os, int8_t *out) {
  if (!supported(p)) {
    eq_max_pool_s8(p, is, in, os, out);
    return;
  }
  const int32_t C = is->c;
  const __m512i lo = _mm512_set1_epi8((char)p->act_min), hi = _mm512_set1_epi8((char)p->act_max);
  for (int32_t b = 0; b < is->n; ++b)
    for (int32_t oy = 0; oy < os->h; ++oy)
      for (int32_t ox = 0; ox < os->w; ++ox) {
        const window w = window_at(p, is, oy, ox);
        int8_t *o = out + (((int64_t)b * os->h + oy) * os->w + ox) * C;
        for (int32_t c = 0; c < C; c += 64) {
          const __mmask64 k = C - c >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (C - c)) - 1);
          __m512i m = _mm512_set1_epi8(-128);
          for (int32_t y = w.y0; y < w.y1; ++y)
            for (int32_t x = w.x0; x < w.x1; ++x)
              m = _mm512_max_epi8(m, _mm512_maskz_loadu_epi8(k, in + (((int64_t)b * is->h + y) * is->w + x) * C + c));
          _mm512_mask_storeu_epi8(o + c, k, _mm512_min_epi8(_mm512_max_epi8(m, lo), hi));
        }
      }
}
