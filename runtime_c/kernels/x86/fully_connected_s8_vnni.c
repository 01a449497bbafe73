/* FULLY_CONNECTED int8 with AVX-512 VNNI, a matrix-vector product per batch row: 8 weight rows at a
 * time, 64 bytes of the row per vpdpbusd against the input as unsigned bytes (x + 128). The true sum
 * of (x + input_offset) * (w + filter_offset) is restored exactly:
 *   sum (x + 128) w  -  (128 - input_offset) sum w  +  filter_offset * sum (x + input_offset),
 * the middle term by a second vpdpbusd, skipped for the usual input zero point of -128. Requantized
 * with the single rounding of the reference FC (eq_mul_by_quantized_mul_single). */
#include "x86_common.h"
#include "x86_kernels.h"

#define ROWS 8

static int supported(const eq_fc_params *p) {
  return p->act_min >= -128 && p->act_max <= 127 && eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Sums for rows [n0, n0 + nr) of the weights (rows past nr repeat the last one and are dropped). */
EQ_INLINE EQ_AVX512 __m256i row_sums(const int8_t *x, const int8_t *w, int32_t K, int32_t n0, int32_t nr,
                                     int with_wsum, __m512i cfac) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const int8_t *rows[ROWS];
  __m512i acc[ROWS], neg[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    rows[r] = w + (size_t)(n0 + (r < nr ? r : nr - 1)) * K;
    acc[r] = neg[r] = _mm512_setzero_si512();
  }
  for (int32_t k = 0; k < K; k += 64) {
    __mmask64 m = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
    __m512i xu = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + k), flip);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      __m512i wv = _mm512_maskz_loadu_epi8(m, rows[r] + k);
      acc[r] = _mm512_dpbusd_epi32(acc[r], xu, wv);
      if (with_wsum) neg[r] = _mm512_dpbusd_epi32(neg[r], cfac, wv);
    }
  }
  __m256i h[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    __m512i v = with_wsum ? _mm512_sub_epi32(acc[r], neg[r]) : acc[r];
    h[r] = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  }
  return eq256_hsum8(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
}

static EQ_AVX512 void rows_wsum(const int8_t *x, const int8_t *w, int32_t K, int32_t n0, int32_t nr, __m512i cfac,
                                __m256i *s) {
  *s = row_sums(x, w, K, n0, nr, 1, cfac);
}

static EQ_AVX512 void rows_plain(const int8_t *x, const int8_t *w, int32_t K, int32_t n0, int32_t nr, __m256i *s) {
  *s = row_sums(x, w, K, n0, nr, 0, _mm512_setzero_si512());
}

EQ_AVX512 void eq_fully_connected_s8_avx512vnni(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches,
                                                int32_t K, int32_t N, const int8_t *in, const int8_t *w,
                                                const int32_t *bias, int8_t *out) {
  if (!supported(p) || K <= 0) {
    eq_fully_connected_s8(p, q, batches, K, N, in, w, bias, out);
    return;
  }
  const int with_wsum = p->input_offset != 128;
  const __m512i cfac = _mm512_set1_epi8((char)(uint8_t)(128 - p->input_offset));
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + (size_t)b * K;
    uint32_t fterm = 0; /* filter_offset * sum(x + input_offset), wrapping as the reference's int32 sums */
    if (p->filter_offset != 0) {
      uint32_t xs = (uint32_t)K * (uint32_t)p->input_offset;
      for (int32_t k = 0; k < K; k++) xs += (uint32_t)(int32_t)x[k];
      fterm = xs * (uint32_t)p->filter_offset;
    }
    for (int32_t n0 = 0; n0 < N; n0 += ROWS) {
      const int32_t nr = N - n0 < ROWS ? N - n0 : ROWS;
      __m256i s;
      if (with_wsum)
        rows_wsum(x, w, K, n0, nr, cfac, &s);
      else
        rows_plain(x, w, K, n0, nr, &s);
      int32_t extra[ROWS] = {0};
      for (int32_t r = 0; r < nr; r++) extra[r] = (int32_t)((bias ? (uint32_t)bias[n0 + r] : 0u) + fterm);
      s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)extra));
      eq256_store_n(out + (size_t)b * N + n0,
                    eq256_finish_single(s, q->multiplier + n0, q->shift + n0, nr, out_off, lo, hi), nr);
    }
  }
}
