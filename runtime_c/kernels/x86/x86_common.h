/* Shared pieces of the x86 kernels: target attributes (so the library still loads on CPUs without
 * these extensions; kernels/dispatch.c only calls a variant the CPU supports) and the vectorized
 * requantization, the exact integer math of kernels/ref/fixedpoint.h lane by lane. */
#ifndef EDGEQ_X86_COMMON_H
#define EDGEQ_X86_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../eq_kernels.h"

#define EQ_AVX2 __attribute__((target("avx2,fma")))
#define EQ_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define EQ_INLINE static inline __attribute__((always_inline))

/* Scratch handed to kernels may be only 16-byte aligned; kernels round up inside it. */
#define EQ_ALIGN64(p) ((void *)(((uintptr_t)(p) + 63u) & ~(uintptr_t)63u))
#define EQ_ROUND_UP(x, m) ((((x) + (m) - 1) / (m)) * (m))

/* Vector kernels keep (input + input_offset) in int16 lanes; the offset is minus an int8 zero point,
 * so anything else is handed to the reference kernel. */
static inline int eq_offset_fits_s8_zero_point(int32_t offset) { return offset >= -127 && offset <= 128; }

/* eq_mul_by_quantized_mul on 8 lanes. left = max(shift, 0), right = max(-shift, 0).
 * The saturating rounding doubling high multiply is floor((a*b + 2^30) / 2^31) for every sign
 * (gemmlowp's nudge plus truncating division reduce to that), saturated for a == b == INT32_MIN. */
EQ_INLINE EQ_AVX2 __m256i eq256_requant(__m256i acc, __m256i mult, __m256i left, __m256i right) {
  const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i int_min = _mm256_set1_epi32(INT32_MIN);
  __m256i x = _mm256_sllv_epi32(acc, left);
  __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(x, mult), nudge);
  __m256i po = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32)), nudge);
  __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(pe, 31), _mm256_slli_epi64(po, 1), 0xAA);
  __m256i sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, int_min), _mm256_cmpeq_epi32(mult, int_min));
  h = _mm256_blendv_epi8(h, _mm256_set1_epi32(INT32_MAX), sat);
  /* rounding divide by 2^right: round half away from zero */
  __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  __m256i rem = _mm256_and_si256(h, mask);
  __m256i thr = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_srli_epi32(h, 31));
  __m256i r = _mm256_srav_epi32(h, right);
  return _mm256_sub_epi32(r, _mm256_cmpgt_epi32(rem, thr));
}

/* Per-channel requantization constants for 8 channels from the caller's arrays. */
typedef struct {
  __m256i mult, left, right;
} eq256_quant;

EQ_INLINE EQ_AVX2 eq256_quant eq256_load_quant(const int32_t *mult, const int32_t *shift) {
  eq256_quant r;
  __m256i s = _mm256_loadu_si256((const __m256i *)shift);
  r.mult = _mm256_loadu_si256((const __m256i *)mult);
  r.left = _mm256_max_epi32(s, _mm256_setzero_si256());
  r.right = _mm256_max_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), s), _mm256_setzero_si256());
  return r;
}

/* The last partial group of channels: copy through a stack buffer so no lane reads past the arrays. */
EQ_INLINE EQ_AVX2 eq256_quant eq256_load_quant_n(const int32_t *mult, const int32_t *shift, int n) {
  int32_t m[8] = {0}, s[8] = {0};
  for (int i = 0; i < n; i++) m[i] = mult[i], s[i] = shift[i];
  return eq256_load_quant(m, s);
}

/* acc (+ output offset, clamp) -> 8 int8 in the low 8 bytes. */
EQ_INLINE EQ_AVX2 __m128i eq256_finish(__m256i acc, eq256_quant q, __m256i out_off, __m256i lo, __m256i hi) {
  __m256i v = _mm256_add_epi32(eq256_requant(acc, q.mult, q.left, q.right), out_off);
  v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
  __m256i t = _mm256_packs_epi32(v, v);
  t = _mm256_packs_epi16(t, t);
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

EQ_INLINE EQ_AVX2 void eq256_store_n(int8_t *dst, __m128i v, int n) {
  if (n >= 8) {
    _mm_storel_epi64((__m128i *)dst, v);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, v);
    for (int i = 0; i < n; i++) dst[i] = tmp[i];
  }
}

/* eq_mul_by_quantized_mul_single on 8 lanes (the FULLY_CONNECTED requantization): 64-bit
 * (x * multiplier + 2^(total - 1)) >> total with total = 31 - shift, truncated to 32 bits. AVX2 has no
 * 64-bit arithmetic shift, so it is done as a logical shift of the one's complement for negatives. */
EQ_INLINE EQ_AVX2 __m256i eq256_sra64(__m256i v, __m256i n) {
  __m256i s = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, s), n), s);
}

EQ_INLINE EQ_AVX2 __m256i eq256_requant_single(__m256i x, __m256i mult, __m256i shift) {
  const __m256i one = _mm256_set1_epi64x(1);
  __m256i total = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
  __m256i te = _mm256_and_si256(total, _mm256_set1_epi64x(0xFFFFFFFF)), to = _mm256_srli_epi64(total, 32);
  __m256i pe = _mm256_mul_epi32(x, mult);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
  /* + half, less one where the product is negative: ties round away from zero, as the scalar form */
  const __m256i zero = _mm256_setzero_si256();
  pe = _mm256_add_epi64(_mm256_add_epi64(pe, _mm256_sllv_epi64(one, _mm256_sub_epi64(te, one))),
                        _mm256_cmpgt_epi64(zero, pe));
  po = _mm256_add_epi64(_mm256_add_epi64(po, _mm256_sllv_epi64(one, _mm256_sub_epi64(to, one))),
                        _mm256_cmpgt_epi64(zero, po));
  pe = eq256_sra64(pe, te);
  po = eq256_sra64(po, to);
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

/* FULLY_CONNECTED's finish: single-rounding requantization, output offset, clamp -> 8 int8. */
EQ_INLINE EQ_AVX2 __m128i eq256_finish_single(__m256i acc, const int32_t *mult, const int32_t *shift, int n,
                                              __m256i out_off, __m256i lo, __m256i hi) {
  int32_t m[8] = {0}, s[8] = {0};
  const int32_t *mp = mult, *sp = shift;
  if (n < 8) {
    for (int i = 0; i < n; i++) m[i] = mult[i], s[i] = shift[i];
    mp = m, sp = s;
  }
  __m256i v = eq256_requant_single(acc, _mm256_loadu_si256((const __m256i *)mp),
                                   _mm256_loadu_si256((const __m256i *)sp));
  v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, out_off), lo), hi);
  __m256i t = _mm256_packs_epi32(v, v);
  t = _mm256_packs_epi16(t, t);
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* Horizontal sums of 8 vectors: lane i of the result is the sum of v[i]'s lanes. */
EQ_INLINE EQ_AVX2 __m256i eq256_hsum8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4, __m256i v5,
                                      __m256i v6, __m256i v7) {
  __m256i s01 = _mm256_hadd_epi32(v0, v1), s23 = _mm256_hadd_epi32(v2, v3);
  __m256i s45 = _mm256_hadd_epi32(v4, v5), s67 = _mm256_hadd_epi32(v6, v7);
  __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                          _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

/* The same requantization on 16 lanes. */
EQ_INLINE EQ_AVX512 __m512i eq512_requant(__m512i acc, __m512i mult, __m512i left, __m512i right) {
  const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i int_min = _mm512_set1_epi32(INT32_MIN);
  __m512i x = _mm512_sllv_epi32(acc, left);
  __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(x, mult), nudge);
  __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32)), nudge);
  __m512i h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 31), _mm512_slli_epi64(po, 1));
  __mmask16 sat = _mm512_cmpeq_epi32_mask(x, int_min) & _mm512_cmpeq_epi32_mask(mult, int_min);
  h = _mm512_mask_mov_epi32(h, sat, _mm512_set1_epi32(INT32_MAX));
  __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
  __m512i rem = _mm512_and_si512(h, mask);
  __m512i thr = _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(h, 31));
  __m512i r = _mm512_srav_epi32(h, right);
  return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, one);
}

typedef struct {
  __m512i mult, left, right;
} eq512_quant;

/* Channels [0, n) of the arrays, n <= 16; other lanes get zeros. */
EQ_INLINE EQ_AVX512 eq512_quant eq512_load_quant(const int32_t *mult, const int32_t *shift, int n) {
  __mmask16 k = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
  eq512_quant r;
  __m512i s = _mm512_maskz_loadu_epi32(k, shift);
  r.mult = _mm512_maskz_loadu_epi32(k, mult);
  r.left = _mm512_max_epi32(s, _mm512_setzero_si512());
  r.right = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), s), _mm512_setzero_si512());
  return r;
}

EQ_INLINE EQ_AVX512 __mmask16 eq512_mask(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* requantize, add the output offset, clamp and store lanes [0, n) as int8 */
EQ_INLINE EQ_AVX512 void eq512_finish_store(int8_t *dst, __m512i acc, const eq512_quant *q, __m512i out_off,
                                            __m512i lo, __m512i hi, __mmask16 k) {
  __m512i v = _mm512_add_epi32(eq512_requant(acc, q->mult, q->left, q->right), out_off);
  v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
  _mm512_mask_cvtepi32_storeu_epi8(dst, k, v);
}

#endif
