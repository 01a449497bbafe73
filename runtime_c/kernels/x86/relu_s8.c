/* RELU / RELU6 int8 for AVX2 and AVX-512: the requantization of kernels/ref/relu_s8.c on 8 or 16 int32
 * lanes, then the clamp. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

static int supported(const eq_relu_params *p) {
  return p->shift < 32 && p->shift > -32 && p->in_zp >= -128 && p->in_zp <= 127 && p->act_min <= p->act_max;
}

EQ_AVX2 void eq_relu_s8_avx2(const eq_relu_params *p, int32_t n, const int8_t *in, int8_t *out) {
  if (!supported(p)) {
    eq_relu_s8(p, n, in, out);
    return;
  }
  const __m256i zp = _mm256_set1_epi32(p->in_zp), out_zp = _mm256_set1_epi32(p->out_zp);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const eq256_quant q = eq256_quant_splat(p->multiplier, p->shift);
  for (int32_t i = 0; i < n; i += 8) {
    const __m256i x = _mm256_sub_epi32(eq256_load_s8(in + i, n - i), zp);
    const __m256i r = _mm256_add_epi32(eq256_requant_q(x, &q), out_zp);
    eq256_store_s8(out + i, _mm256_min_epi32(_mm256_max_epi32(r, lo), hi), n - i);
  }
}

EQ_AVX512 void eq_relu_s8_avx512vnni(const eq_relu_params *p, int32_t n, const int8_t *in, int8_t *out) {
  if (!supported(p)) {
    eq_relu_s8(p, n, in, out);
    return;
  }
  const __m512i zp = _mm512_set1_epi32(p->in_zp), out_zp = _mm512_set1_epi32(p->out_zp);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  const eq512_quant q = eq512_quant_splat(p->multiplier, p->shift);
  for (int32_t i = 0; i < n; i += 16) {
    const __mmask16 k = eq512_mask(n - i);
    const __m512i x = _mm512_sub_epi32(eq512_load_s8(in + i, k), zp);
    const __m512i r = _mm512_add_epi32(eq512_requant_q(x, &q), out_zp);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, _mm512_min_epi32(_mm512_max_epi32(r, lo), hi));
  }
}
