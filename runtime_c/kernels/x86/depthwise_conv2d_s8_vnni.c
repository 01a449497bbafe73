/* DEPTHWISE_CONV_2D int8 with AVX-512: 16 output channels per vector, int32 lanes (depthwise_s8_loop.h),
 * each tap's 16 weights sign-extended from bytes; narrow layers share a vector between pixels. */
#include "depthwise_s8_loop.h"
#include "x86_kernels.h"

size_t eq_depthwise_conv2d_s8_avx512vnni_scratch_size(const eq_conv_params *p, const eq_shape4 *is,
                                                       const eq_shape4 *fs, const eq_shape4 *os) {
  return eq_depthwise_conv2d_s8_scratch_size(p, is, fs, os); /* only the fallback needs any */
}

EQ_INLINE EQ_AVX512 __m512i load_tap(const void *filter, int64_t first, int32_t n) {
  return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(eq512_mask(n), (const int8_t *)filter + first));
}

EQ_AVX512 void eq_depthwise_conv2d_s8_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q,
                                                 const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                                                 const int8_t *filter, const int32_t *bias, const eq_shape4 *os,
                                                 int8_t *out, void *scratch) {
  if (!eq_dw_s8_supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s8(p, q, is, in, fs, filter, bias, os, out, scratch);
    return;
  }
  eq_dw512_run(p, q, is, in, fs, filter, bias, os, out, load_tap);
}
