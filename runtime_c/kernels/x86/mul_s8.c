/* MUL int8 for AVX2 and AVX-512: the product of the offset operands (|.| <= 255 * 255, exact in int32
 * lanes) requantized with the exact lane arithmetic of x86_common.h. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

static int supported(const eq_mul_params *p) {
  return p->out_shift < 32 && p->out_shift > -32 && eq_offset_fits_s8_zero_point(p->in1_offset) &&
         eq_offset_fits_s8_zero_point(p->in2_offset) && p->act_min <= p->act_max;
}

static EQ_AVX2 void mul_row_avx2(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb,
                                 int8_t *out) {
  const eq_mul_params *p = pv;
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const __m256i out_off = _mm256_set1_epi32(p->out_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const eq256_quant q = eq256_quant_splat(p->out_multiplier, p->out_shift);
  const __m256i xa = _mm256_set1_epi32(a[0]), xb = _mm256_set1_epi32(b[0]);
  for (int32_t i = 0; i < n; i += 8) {
    const int32_t m = n - i;
    const __m256i x = _mm256_add_epi32(sa ? eq256_load_s8(a + i, m) : xa, off1);
    const __m256i y = _mm256_add_epi32(sb ? eq256_load_s8(b + i, m) : xb, off2);
    __m256i r = _mm256_add_epi32(eq256_requant_q(_mm256_mullo_epi32(x, y), &q), out_off);
    eq256_store_s8(out + i, _mm256_min_epi32(_mm256_max_epi32(r, lo), hi), m);
  }
}

static EQ_AVX512 void mul_row_avx512(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb,
                                     int8_t *out) {
  const eq_mul_params *p = pv;
  const __m512i off1 = _mm512_set1_epi32(p->in1_offset), off2 = _mm512_set1_epi32(p->in2_offset);
  const __m512i out_off = _mm512_set1_epi32(p->out_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  const eq512_quant q = eq512_quant_splat(p->out_multiplier, p->out_shift);
  const __m512i xa = _mm512_set1_epi32(a[0]), xb = _mm512_set1_epi32(b[0]);
  for (int32_t i = 0; i < n; i += 16) {
    const __mmask16 k = eq512_mask(n - i);
    const __m512i x = _mm512_add_epi32(sa ? eq512_load_s8(a + i, k) : xa, off1);
    const __m512i y = _mm512_add_epi32(sb ? eq512_load_s8(b + i, k) : xb, off2);
    __m512i r = _mm512_add_epi32(eq512_requant_q(_mm512_mullo_epi32(x, y), &q), out_off);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, _mm512_min_epi32(_mm512_max_epi32(r, lo), hi));
  }
}

void eq_mul_s8_avx2(const eq_mul_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
  if (!supported(p) || eq_x86_broadcast_rows(b->dims, b->stride1, b->stride2, in1, in2, out, p, mul_row_avx2))
    eq_mul_s8(p, b, in1, in2, out);
}

void eq_mul_s8_avx512vnni(const eq_mul_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
                          int8_t *out) {
  if (!supported(p) || eq_x86_broadcast_rows(b->dims, b->stride1, b->stride2, in1, in2, out, p, mul_row_avx512))
    eq_mul_s8(p, b, in1, in2, out);
}
