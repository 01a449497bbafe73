/* DEPTHWISE_CONV_2D with packed INT4 weights for AVX2, reading the model's nibbles in place (no prepare
 * step, no copy in the arena): depthwise_conv2d_s8.c's loops (depthwise_s8_loop.h) with each tap's 8
 * nibbles (any nibble phase: 5 bytes shifted by 4 when the tap's first channel sits in a high nibble) spread
 * to int32 lanes by one variable shift and sign-extended as (v ^ 8) - 8. Offsets the int32 lanes would need
 * the reference for are handed to it as there. */
#include "depthwise_s8_loop.h"
#include "eq_kernels_lowbit.h"

/* Nibbles [i, i + n) of the filter, n <= 8, as 8 int32 lanes (0 past n); reads only their bytes. */
EQ_INLINE EQ_AVX2 __m256i load_s4x8(const void *w, int64_t i, int32_t n) {
  const int phase = (int)(i & 1);
  uint64_t v = 0;
  memcpy(&v, (const uint8_t *)w + (i >> 1), (size_t)((phase + n + 1) >> 1)); /* little-endian: nibble k at bits 4k */
  v >>= 4 * phase;
  const uint32_t lanes = (uint32_t)(n >= 8 ? v : v & ((1ull << (4 * n)) - 1));
  const __m256i x = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int32_t)lanes),
                                                       _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                     _mm256_set1_epi32(0x0F));
  const __m256i eight = _mm256_set1_epi32(8);
  /* lanes past n hold nibble 0 -> 0 already; (0 ^ 8) - 8 = 0 */
  return _mm256_sub_epi32(_mm256_xor_si256(x, eight), eight);
}

EQ_AVX2 void eq_depthwise_conv2d_s4_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                         const int8_t *in, const eq_shape4 *fs, const uint8_t *filter,
                                         const int32_t *bias, const eq_shape4 *os, int8_t *out) {
  if (!eq_dw_s8_supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  eq_dw256_run(p, q, is, in, fs, filter, bias, os, out, load_s4x8);
}
