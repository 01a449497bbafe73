/* The row kernels of MAXIMUM and MINIMUM (maximum_s8.c, minimum_s8.c): raw byte comparisons, 32 (AVX2)
 * or 64 (AVX-512) per step. */
#ifndef EDGEQ_X86_MINMAX_ROWS_H
#define EDGEQ_X86_MINMAX_ROWS_H

#include "x86_elementwise.h"
#include "x86_kernels.h"

/* greater: 1 for MAXIMUM (keep x when x > y), 0 for MINIMUM; op the matching vector instruction. */
#define ROW_AVX2(name, op, greater)                                                                                \
  static EQ_AVX2 void name(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb,     \
                           int8_t *out) {                                                                   \
    (void)pv;                                                                                               \
    const __m256i xa = _mm256_set1_epi8(a[0]), xb = _mm256_set1_epi8(b[0]);                                 \
    int32_t i = 0;                                                                                          \
    for (; i + 32 <= n; i += 32) {                                                                          \
      const __m256i x = sa ? _mm256_loadu_si256((const __m256i *)(a + i)) : xa;                             \
      const __m256i y = sb ? _mm256_loadu_si256((const __m256i *)(b + i)) : xb;                             \
      _mm256_storeu_si256((__m256i *)(out + i), op(x, y));                                                  \
    }                                                                                                       \
    for (; i < n; ++i) {                                                                                    \
      const int8_t x = a[sa ? i : 0], y = b[sb ? i : 0];                                                    \
      out[i] = (x > y) == greater ? x : y;                                                                   \
    }                                                                                                       \
  }

#define ROW_AVX512(name, op)                                                                                \
  static EQ_AVX512 void name(const void *pv, int32_t n, const int8_t *a, int sa, const int8_t *b, int sb,   \
                             int8_t *out) {                                                                 \
    (void)pv;                                                                                               \
    const __m512i xa = _mm512_set1_epi8(a[0]), xb = _mm512_set1_epi8(b[0]);                                 \
    for (int32_t i = 0; i < n; i += 64) {                                                                   \
      const __mmask64 k = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);                   \
      const __m512i x = sa ? _mm512_maskz_loadu_epi8(k, a + i) : xa;                                        \
      const __m512i y = sb ? _mm512_maskz_loadu_epi8(k, b + i) : xb;                                        \
      _mm512_mask_storeu_epi8(out + i, k, op(x, y));                                                        \
    }                                                                                                       \
  }

/* The kernel: the rows through the broadcast walk, the reference when the walk declines. */
#define ENTRY(name, ref, row)                                                                               \
  void name(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {                         \
    if (eq_x86_broadcast_rows(b->dims, b->stride1, b->stride2, in1, in2, out, NULL, row)) ref(b, in1, in2, out); \
  }

#endif
