/* Shared pieces of the x86 elementwise kernels: int8 <-> int32-lane loads and stores with tails, splatted
 * requantization constants, and the walk that turns a broadcast into rows a vector loop can run. */
#ifndef EDGEQ_X86_ELEMENTWISE_H
#define EDGEQ_X86_ELEMENTWISE_H

#include <string.h>

#include "../eq_kernels_ew.h"
#include "x86_common.h"

/* One row of a binary op: out[i] = f(a[i * sa], b[i * sb]) for i < n, with sa, sb in {0, 1} (0: that
 * operand is one broadcast value). p is the kernel's parameters. */
typedef void eq_x86_row_fn(const void *p, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb, int8_t *out);

/* Runs row over a 6-D broadcast (dims, per-operand element strides, 0 = broadcast), in output order,
 * after merging axes that are contiguous for both operands so that rows are as long as possible.
 * Returns 0, or -1 (nothing written) when an innermost stride is neither 0 nor 1: run the reference. */
int eq_x86_broadcast_rows(const int32_t dims[6], const int32_t stride1[6], const int32_t stride2[6],
                          const int8_t *in1, const int8_t *in2, int8_t *out, const void *p, eq_x86_row_fn *row);

/* ---- 8 int32 lanes (AVX2) ---- */

/* n (<= 8, may be less at a row's end) int8 values widened to int32 lanes; lanes past n are 0. */
EQ_INLINE EQ_AVX2 __m256i eq256_load_s8(const int8_t *src, int32_t n) {
  if (n >= 8) return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)src));
  int8_t tmp[8] = {0};
  memcpy(tmp, src, (size_t)n);
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)tmp));
}

/* Stores lanes [0, n) of v, already within [-128, 127], as int8. */
EQ_INLINE EQ_AVX2 void eq256_store_s8(int8_t *dst, __m256i v, int32_t n) {
  __m256i t = _mm256_packs_epi32(v, v);
  t = _mm256_packs_epi16(t, t);
  eq256_store_n(dst, _mm_unpacklo_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)), n);
}

EQ_INLINE EQ_AVX2 eq256_quant eq256_quant_splat(int32_t multiplier, int32_t shift) {
  eq256_quant q;
  q.mult = _mm256_set1_epi32(multiplier);
  q.left = _mm256_set1_epi32(shift > 0 ? shift : 0);
  q.right = _mm256_set1_epi32(shift > 0 ? 0 : -shift);
  return q;
}

EQ_INLINE EQ_AVX2 __m256i eq256_requant_q(__m256i x, const eq256_quant *q) {
  return eq256_requant(x, q->mult, q->left, q->right);
}

/* ---- 16 int32 lanes (AVX-512) ---- */

EQ_INLINE EQ_AVX512 __m512i eq512_load_s8(const int8_t *src, __mmask16 k) {
  return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, src));
}

EQ_INLINE EQ_AVX512 eq512_quant eq512_quant_splat(int32_t multiplier, int32_t shift) {
  eq512_quant q;
  q.mult = _mm512_set1_epi32(multiplier);
  q.left = _mm512_set1_epi32(shift > 0 ? shift : 0);
  q.right = _mm512_set1_epi32(shift > 0 ? 0 : -shift);
  return q;
}

EQ_INLINE EQ_AVX512 __m512i eq512_requant_q(__m512i x, const eq512_quant *q) {
  return eq512_requant(x, q->mult, q->left, q->right);
}

/* ---- ADD and SUB share their arithmetic: both inputs rescaled to a common finer scale ---- */

typedef struct {
  int32_t left_shift;
  int32_t in1_offset, in1_multiplier, in1_shift;
  int32_t in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift;
  int32_t act_min, act_max;
  int32_t negate;                       /* SUB */
  const int32_t *in1_table, *in2_table; /* optional rescale tables (ADD), NULL: computed */
} eq_x86_addsub;

/* Nonzero when every shift is one the lane shifts take (else the caller runs the reference). */
int eq_x86_addsub_supported(const eq_x86_addsub *p);

/* The broadcast walk with add_s8.c's row kernels (AVX-512 ones when avx512 is nonzero); SUB uses it
 * with negate = 1. Returns as eq_x86_broadcast_rows. */
int eq_x86_addsub_rows(const eq_x86_addsub *p, int avx512, const int32_t dims[6], const int32_t stride1[6],
                       const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out);

#endif
