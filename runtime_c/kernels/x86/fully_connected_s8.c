/* FULLY_CONNECTED int8 for AVX2, a matrix-vector product per batch row: 8 weight rows at a time,
 * 16 values of the row per vpmaddwd against the input widened to int16 with its offset added.
 * The filter offset is folded out exactly: sum (x + io)(w + fo) = sum (x + io) w + fo * sum (x + io).
 * Requantized with the single rounding of the reference FC (eq_mul_by_quantized_mul_single). */
#include "x86_common.h"
#include "x86_kernels.h"

#define ROWS 8

static int supported(const eq_fc_params *p) {
  return p->act_min >= -128 && p->act_max <= 127 && eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Sums over k in [0, K16) for rows [n0, n0 + nr) (rows past nr repeat the last one and are dropped). */
static EQ_AVX2 __m256i row_sums(const int8_t *x, const int8_t *w, int32_t K, int32_t K16, int32_t n0, int32_t nr,
                                __m256i off) {
  const int8_t *rows[ROWS];
  __m256i acc[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    rows[r] = w + (size_t)(n0 + (r < nr ? r : nr - 1)) * K;
    acc[r] = _mm256_setzero_si256();
  }
  for (int32_t k = 0; k < K16; k += 16) {
    __m256i xv = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + k))), off);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(rows[r] + k)));
      acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(xv, wv));
    }
  }
  return eq256_hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

EQ_AVX2 void eq_fully_connected_s8_avx2(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches, int32_t K,
                                        int32_t N, const int8_t *in, const int8_t *w, const int32_t *bias,
                                        int8_t *out) {
  if (!supported(p) || K <= 0) {
    eq_fully_connected_s8(p, q, batches, K, N, in, w, bias, out);
    return;
  }
  const int32_t K16 = K / 16 * 16;
  const __m256i off = _mm256_set1_epi16((int16_t)p->input_offset);
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + (size_t)b * K;
    uint32_t xs = (uint32_t)K * (uint32_t)p->input_offset; /* sums wrap as the reference's int32 sums */
    for (int32_t k = 0; k < K; k++) xs += (uint32_t)(int32_t)x[k];
    const uint32_t fterm = xs * (uint32_t)p->filter_offset;
    for (int32_t n0 = 0; n0 < N; n0 += ROWS) {
      const int32_t nr = N - n0 < ROWS ? N - n0 : ROWS;
      __m256i s = row_sums(x, w, K, K16, n0, nr, off);
      int32_t extra[ROWS] = {0};
      for (int32_t r = 0; r < nr; r++) {
        uint32_t e = (bias ? (uint32_t)bias[n0 + r] : 0u) + fterm;
        const int8_t *row = w + (size_t)(n0 + r) * K;
        for (int32_t k = K16; k < K; k++) e += (uint32_t)((x[k] + p->input_offset) * row[k]);
        extra[r] = (int32_t)e;
      }
      s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)extra));
      eq256_store_n(out + (size_t)b * N + n0,
                    eq256_finish_single(s, q->multiplier + n0, q->shift + n0, nr, out_off, lo, hi), nr);
    }
  }
}
