/* DEPTHWISE_CONV_2D int8 with AVX2: 8 output channels per vector, int32 lanes (depthwise_s8_loop.h), each
 * tap's 8 weights sign-extended from bytes. Twin of depthwise_conv2d_s8_vnni.c. */
#include "depthwise_s8_loop.h"
#include "x86_kernels.h"

size_t eq_depthwise_conv2d_s8_avx2_scratch_size(const eq_conv_params *p, const eq_shape4 *is,
                                                 const eq_shape4 *fs, const eq_shape4 *os) {
  return eq_depthwise_conv2d_s8_scratch_size(p, is, fs, os); /* only the fallback needs any */
}

EQ_INLINE EQ_AVX2 __m256i load_tap(const void *filter, int64_t first, int32_t n) {
  return _mm256_cvtepi8_epi32(eq_dw256_load8((const int8_t *)filter + first, n));
}

EQ_AVX2 void eq_depthwise_conv2d_s8_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                         const int8_t *in, const eq_shape4 *fs, const int8_t *filter,
                                         const int32_t *bias, const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!eq_dw_s8_supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s8(p, q, is, in, fs, filter, bias, os, out, scratch);
    return;
  }
  eq_dw256_run(p, q, is, in, fs, filter, bias, os, out, load_tap);
}
