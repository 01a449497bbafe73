/* FULLY_CONNECTED with packed INT4 weights for AVX-512 VNNI, reading the nibbles in place. Each batch
 * row's input is split once into its even and odd elements as unsigned bytes (x + 128, on the stack:
 * depths up to 8192, deeper rows take the AVX2 kernel); each row's packed bytes then give 16*low and
 * 16*high nibbles as signed bytes (shift and mask, no sign extension), and two vpdpbusd per 64 bytes
 * accumulate 16 times sum (x + 128) w. As in fully_connected_s8_vnni.c the true sum is
 *   sum (x + 128) w  -  (128 - input_offset) sum w  +  filter_offset * sum (x + input_offset),
 * shifted back by 4 exactly (|16 * sum| < 2^31 for EQ_MAX_TAPS taps). */
#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define ROWS 8
#define MAX_DEPTH 8192

EQ_INLINE EQ_AVX512 __m256i row_sums(const uint8_t *xe, const uint8_t *xo, const uint8_t *w, int32_t half, int32_t n0,
                                     int32_t nr, int with_wsum, __m512i cfac) {
  const __m512i high = _mm512_set1_epi8((char)0xF0);
  const uint8_t *rows[ROWS];
  __m512i acc[ROWS], neg[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    rows[r] = w + (size_t)(n0 + (r < nr ? r : nr - 1)) * (size_t)half;
    acc[r] = neg[r] = _mm512_setzero_si512();
  }
  for (int32_t j = 0; j < half; j += 64) {
    const __mmask64 m = half - j >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (half - j)) - 1);
    const __m512i ve = _mm512_maskz_loadu_epi8(m, xe + j), vo = _mm512_maskz_loadu_epi8(m, xo + j);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      const __m512i b = _mm512_maskz_loadu_epi8(m, rows[r] + j);
      const __m512i lo16 = _mm512_and_si512(_mm512_slli_epi16(b, 4), high);
      const __m512i hi16 = _mm512_and_si512(b, high);
      acc[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[r], ve, lo16), vo, hi16);
      if (with_wsum) neg[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(neg[r], cfac, lo16), cfac, hi16);
    }
  }
  __m256i h[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    const __m512i v = with_wsum ? _mm512_sub_epi32(acc[r], neg[r]) : acc[r];
    h[r] = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  }
  return _mm256_srai_epi32(eq256_hsum8(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]), 4);
}

static EQ_AVX512 __m256i rows_wsum(const uint8_t *xe, const uint8_t *xo, const uint8_t *w, int32_t half, int32_t n0,
                                   int32_t nr, __m512i cfac) {
  return row_sums(xe, xo, w, half, n0, nr, 1, cfac);
}

static EQ_AVX512 __m256i rows_plain(const uint8_t *xe, const uint8_t *xo, const uint8_t *w, int32_t half, int32_t n0,
                                    int32_t nr) {
  return row_sums(xe, xo, w, half, n0, nr, 0, _mm512_setzero_si512());
}

EQ_AVX512 void eq_fully_connected_s4_avx512vnni(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches,
                                                int32_t K, int32_t N, const int8_t *in, const uint8_t *w,
                                                const int32_t *bias, int8_t *out) {
  if (K <= 0 || K % 2 || K > MAX_DEPTH || p->act_min < -128 || p->act_max > 127 ||
      !eq_offset_fits_s8_zero_point(p->input_offset)) {
    eq_fully_connected_s4_avx2(p, q, batches, K, N, in, w, bias, out);
    return;
  }
  uint8_t xe[MAX_DEPTH / 2], xo[MAX_DEPTH / 2];
  const int32_t half = K / 2;
  const int with_wsum = p->input_offset != 128;
  const __m512i cfac = _mm512_set1_epi8((char)(uint8_t)(128 - p->input_offset));
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + (size_t)b * K;
    for (int32_t j = 0; j < half; j++) {
      xe[j] = (uint8_t)(x[2 * j] + 128);
      xo[j] = (uint8_t)(x[2 * j + 1] + 128);
    }
    uint32_t fterm = 0; /* filter_offset * sum(x + input_offset), wrapping as the reference's int32 sums */
    if (p->filter_offset != 0) {
      uint32_t xs = (uint32_t)K * (uint32_t)p->input_offset;
      for (int32_t k = 0; k < K; k++) xs += (uint32_t)(int32_t)x[k];
      fterm = xs * (uint32_t)p->filter_offset;
    }
    for (int32_t n0 = 0; n0 < N; n0 += ROWS) {
      const int32_t nr = N - n0 < ROWS ? N - n0 : ROWS;
      __m256i s = with_wsum ? rows_wsum(xe, xo, w, half, n0, nr, cfac) : rows_plain(xe, xo, w, half, n0, nr);
      int32_t extra[ROWS] = {0};
      for (int32_t r = 0; r < nr; r++) extra[r] = (int32_t)((bias ? (uint32_t)bias[n0 + r] : 0u) + fterm);
      s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)extra));
      eq256_store_n(out + (size_t)b * N + n0,
                    eq256_finish_single(s, q->multiplier + n0, q->shift + n0, nr, out_off, lo, hi), nr);
    }
  }
}
