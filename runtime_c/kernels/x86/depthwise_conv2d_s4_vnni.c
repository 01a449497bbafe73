/* DEPTHWISE_CONV_2D with packed INT4 weights for AVX-512, reading the model's nibbles in place (no
 * prepare step, nothing in the arena): depthwise_conv2d_s8_vnni.c's loops (depthwise_s8_loop.h) with each
 * tap's 16 nibbles (any nibble phase) spread to int32 lanes by one variable shift and sign-extended as
 * (v ^ 8) - 8. */
#include "depthwise_s8_loop.h"
#include "eq_kernels_lowbit.h"

/* Nibbles [i, i + n) of the filter, n <= 16, as 16 int32 lanes (0 past n); reads only their bytes. */
EQ_INLINE EQ_AVX512 __m512i load_s4x16(const void *w, int64_t i, int32_t n) {
  const int phase = (int)(i & 1);
  uint8_t b[16] = {0};
  memcpy(b, (const uint8_t *)w + (i >> 1), (size_t)((phase + n + 1) >> 1)); /* little-endian: nibble k at bits 4k */
  uint64_t lo, hi;
  memcpy(&lo, b, 8);
  memcpy(&hi, b + 8, 8);
  uint64_t v = phase ? (lo >> 4) | (hi << 60) : lo;
  if (n < 16) v &= (1ull << (4 * n)) - 1;
  const __m512i halves = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int32_t)(uint32_t)v)),
                                            _mm256_set1_epi32((int32_t)(uint32_t)(v >> 32)), 1);
  const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  const __m512i x = _mm512_and_si512(_mm512_srlv_epi32(halves, shifts), _mm512_set1_epi32(0x0F));
  const __m512i eight = _mm512_set1_epi32(8);
  return _mm512_sub_epi32(_mm512_xor_si512(x, eight), eight);
}

EQ_AVX512 void eq_depthwise_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q,
                                                 const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                                                 const uint8_t *filter, const int32_t *bias, const eq_shape4 *os,
                                                 int8_t *out) {
  if (!eq_dw_s8_supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  eq_dw512_run(p, q, is, in, fs, filter, bias, os, out, load_s4x16);
}
