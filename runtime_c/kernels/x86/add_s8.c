/* ADD (and, through eq_x86_addsub_rows, SUB) int8 for AVX2 and AVX-512: 8 or 16 elements per step in
 * int32 lanes, each input rescaled with the exact requantization of kernels/ref/fixedpoint.h (or read
 * from the 256-entry tables when the op built them), summed, requantized, clamped. A broadcast operand
 * is one value splatted across the row. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

static EQ_AVX2 void addsub_row_avx2(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb,
                                    int8_t *out) {
  const eq_x86_addsub *p = pv;
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const __m256i ls = _mm256_set1_epi32(p->left_shift), out_off = _mm256_set1_epi32(p->out_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const eq256_quant q1 = eq256_quant_splat(p->in1_multiplier, p->in1_shift);
  const eq256_quant q2 = eq256_quant_splat(p->in2_multiplier, p->in2_shift);
  const eq256_quant qo = eq256_quant_splat(p->out_multiplier, p->out_shift);
  const __m256i xa = _mm256_set1_epi32(a[0]), xb = _mm256_set1_epi32(b[0]);
  for (int32_t i = 0; i < n; i += 8) {
    const int32_t m = n - i;
    const __m256i x = sa ? eq256_load_s8(a + i, m) : xa;
    const __m256i y = sb ? eq256_load_s8(b + i, m) : xb;
    const __m256i s1 = eq256_requant_q(_mm256_sllv_epi32(_mm256_add_epi32(x, off1), ls), &q1);
    const __m256i s2 = eq256_requant_q(_mm256_sllv_epi32(_mm256_add_epi32(y, off2), ls), &q2);
    const __m256i s = p->negate ? _mm256_sub_epi32(s1, s2) : _mm256_add_epi32(s1, s2);
    __m256i r = _mm256_add_epi32(eq256_requant_q(s, &qo), out_off);
    eq256_store_s8(out + i, _mm256_min_epi32(_mm256_max_epi32(r, lo), hi), m);
  }
}

/* The rescale of one input: from its table when there is one, else computed. */
EQ_INLINE EQ_AVX512 __m512i rescale512(__m512i x, const int32_t *table, __m512i off, __m512i ls,
                                       const eq512_quant *q) {
  if (table) return _mm512_i32gather_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(128)), table, 4);
  return eq512_requant_q(_mm512_sllv_epi32(_mm512_add_epi32(x, off), ls), q);
}

static EQ_AVX512 void addsub_row_avx512(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b,
                                        int sb, int8_t *out) {
  const eq_x86_addsub *p = pv;
  const __m512i off1 = _mm512_set1_epi32(p->in1_offset), off2 = _mm512_set1_epi32(p->in2_offset);
  const __m512i ls = _mm512_set1_epi32(p->left_shift), out_off = _mm512_set1_epi32(p->out_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  const eq512_quant q1 = eq512_quant_splat(p->in1_multiplier, p->in1_shift);
  const eq512_quant q2 = eq512_quant_splat(p->in2_multiplier, p->in2_shift);
  const eq512_quant qo = eq512_quant_splat(p->out_multiplier, p->out_shift);
  /* a broadcast operand's rescaled value is the same for the whole row */
  const __m512i ca = rescale512(_mm512_set1_epi32(a[0]), p->in1_table, off1, ls, &q1);
  const __m512i cb = rescale512(_mm512_set1_epi32(b[0]), p->in2_table, off2, ls, &q2);
  for (int32_t i = 0; i < n; i += 16) {
    const __mmask16 k = eq512_mask(n - i);
    const __m512i s1 = sa ? rescale512(eq512_load_s8(a + i, k), p->in1_table, off1, ls, &q1) : ca;
    const __m512i s2 = sb ? rescale512(eq512_load_s8(b + i, k), p->in2_table, off2, ls, &q2) : cb;
    const __m512i s = p->negate ? _mm512_sub_epi32(s1, s2) : _mm512_add_epi32(s1, s2);
    __m512i r = _mm512_add_epi32(eq512_requant_q(s, &qo), out_off);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, _mm512_min_epi32(_mm512_max_epi32(r, lo), hi));
  }
}

int eq_x86_addsub_rows(const eq_x86_addsub *p, int avx512, const int32_t dims[6], const int32_t stride1[6],
                       const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out) {
  return eq_x86_broadcast_rows(dims, stride1, stride2, in1, in2, out, p, avx512 ? addsub_row_avx512 : addsub_row_avx2);
}

static eq_x86_addsub from_add(const eq_add_params *p) {
  eq_x86_addsub q = {p->left_shift, p->in1_offset, p->in1_multiplier, p->in1_shift, p->in2_offset,
                     p->in2_multiplier, p->in2_shift, p->out_offset, p->out_multiplier, p->out_shift,
                     p->act_min, p->act_max, 0, p->in1_table, p->in2_table};
  return q;
}

/* Shifts the vector code cannot take as lane shift counts go to the reference. */
int eq_x86_addsub_supported(const eq_x86_addsub *p) {
  return p->left_shift >= 0 && p->left_shift < 32 && p->in1_shift < 32 && p->in1_shift > -32 &&
         p->in2_shift < 32 && p->in2_shift > -32 && p->out_shift < 32 && p->out_shift > -32 &&
         p->act_min <= p->act_max;
}

void eq_add_s8_avx2(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
                    const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out) {
  eq_x86_addsub q = from_add(p);
  q.in1_table = q.in2_table = NULL; /* AVX2 gathers lose to the computed rescale */
  if (!eq_x86_addsub_supported(&q) || eq_x86_addsub_rows(&q, 0, dims, stride1, stride2, in1, in2, out) != 0)
    eq_add_s8(p, dims, stride1, stride2, in1, in2, out);
}

void eq_add_s8_avx512vnni(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
                          const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out) {
  eq_x86_addsub q = from_add(p);
  if (!eq_x86_addsub_supported(&q) || eq_x86_addsub_rows(&q, 1, dims, stride1, stride2, in1, in2, out) != 0)
    eq_add_s8(p, dims, stride1, stride2, in1, in2, out);
}
