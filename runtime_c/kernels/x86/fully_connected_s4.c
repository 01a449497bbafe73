/* FULLY_CONNECTED with packed INT4 weights for AVX2, reading the nibbles in place (no int8 copy):
 * 8 weight rows at a time, 32 values a step from 16 packed bytes, multiplied against the input widened
 * to int16 with its offset as in fully_connected_s8.c. Rows must start on a byte (even in_depth); other shapes, and parameters
 * the int16 lanes cannot hold, run the reference kernel. */
#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define ROWS 8

/* Sums over k in [0, K32) for rows [n0, n0 + nr), 32 values a step. The input's even and odd elements
 * are split once per step for all 8 rows; each row's 16 packed bytes widen to int16 lanes b = 16*hi + lo
 * (hi signed, lo unsigned), from which 16*lo (shift up 12, arithmetic shift down 8) and 16*hi (mask
 * 0xFFF0) come without sign-extension tables. The sums are 16 times the dot products (|sum| < 2^31 for
 * EQ_MAX_TAPS taps) and are shifted back exactly. */
static EQ_AVX2 __m256i row_sums(const int8_t *x, const uint8_t *w, int32_t K, int32_t K32, int32_t n0, int32_t nr,
                                __m256i off) {
  const uint8_t *rows[ROWS];
  __m256i acc[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    rows[r] = w + (size_t)(n0 + (r < nr ? r : nr - 1)) * (size_t)(K / 2);
    acc[r] = _mm256_setzero_si256();
  }
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i high = _mm256_set1_epi16((int16_t)0xFFF0);
  for (int32_t k = 0; k < K32; k += 32) {
    __m256i xv = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(x + k)), split);
    xv = _mm256_permute4x64_epi64(xv, 0xD8); /* even elements in the low half, odd in the high */
    const __m256i xe = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(xv)), off);
    const __m256i xo = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(xv, 1)), off);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(rows[r] + k / 2)));
      const __m256i lo16 = _mm256_srai_epi16(_mm256_slli_epi16(b, 12), 8);
      const __m256i hi16 = _mm256_and_si256(b, high);
      acc[r] = _mm256_add_epi32(acc[r], _mm256_add_epi32(_mm256_madd_epi16(xe, lo16), _mm256_madd_epi16(xo, hi16)));
    }
  }
  return _mm256_srai_epi32(eq256_hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]), 4);
}

EQ_AVX2 void eq_fully_connected_s4_avx2(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches, int32_t K,
                                        int32_t N, const int8_t *in, const uint8_t *w, const int32_t *bias,
                                        int8_t *out) {
  if (K <= 0 || K % 2 || p->act_min < -128 || p->act_max > 127 || !eq_offset_fits_s8_zero_point(p->input_offset)) {
    eq_fully_connected_s4(p, q, batches, K, N, in, w, bias, out);
    return;
  }
  const int32_t K32 = K / 32 * 32;
  const __m256i off = _mm256_set1_epi16((int16_t)p->input_offset);
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + (size_t)b * K;
    uint32_t xs = (uint32_t)K * (uint32_t)p->input_offset; /* wraps as the reference's int32 sums */
    for (int32_t k = 0; k < K; k++) xs += (uint32_t)(int32_t)x[k];
    const uint32_t fterm = xs * (uint32_t)p->filter_offset;
    for (int32_t n0 = 0; n0 < N; n0 += ROWS) {
      const int32_t nr = N - n0 < ROWS ? N - n0 : ROWS;
      __m256i s = row_sums(x, w, K, K32, n0, nr, off);
      int32_t extra[ROWS] = {0};
      for (int32_t r = 0; r < nr; r++) {
        uint32_t e = (bias ? (uint32_t)bias[n0 + r] : 0u) + fterm;
        const int64_t row = (int64_t)(n0 + r) * K;
        for (int32_t k = K32; k < K; k++) e += (uint32_t)((x[k] + p->input_offset) * eq_s4_at(w, row + k));
        extra[r] = (int32_t)e;
      }
      s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)extra));
      eq256_store_n(out + (size_t)b * N + n0,
                    eq256_finish_single(s, q->multiplier + n0, q->shift + n0, nr, out_off, lo, hi), nr);
    }
  }
}
