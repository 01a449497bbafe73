/* The x86 variants of the kernels in ../eq_kernels.h, same signatures, bit-exact with kernels/ref/.
 * Call one only on a CPU that has its extension (eq_kernels() does the checking). Each falls back to the
 * reference kernel for cases it does not vectorize (grouped conv, activation range outside int8,
 * input offsets that are not minus an int8 zero point). */
#ifndef EDGEQ_X86_KERNELS_H
#define EDGEQ_X86_KERNELS_H

#include "../eq_kernels.h"

#define EQ_DECLARE_X86_VARIANT(isa)                                                                       \
  void eq_conv2d_s8_##isa(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,  \
                          const int8_t *in, const eq_shape4 *filter_shape, const int8_t *filter,           \
                          const int32_t *bias, const eq_shape4 *out_shape, int8_t *out, void *scratch);     \
  size_t eq_conv2d_s8_##isa##_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,            \
                                           const eq_shape4 *filter_shape, const eq_shape4 *out_shape);     \
  void eq_depthwise_conv2d_s8_##isa(const eq_conv_params *p, const eq_channel_quant *q,                   \
                                    const eq_shape4 *in_shape, const int8_t *in,                          \
                                    const eq_shape4 *filter_shape, const int8_t *filter,                  \
                                    const int32_t *bias, const eq_shape4 *out_shape, int8_t *out,         \
                                    void *scratch);                                                        \
  size_t eq_depthwise_conv2d_s8_##isa##_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,  \
                                                     const eq_shape4 *filter_shape,                       \
                                                     const eq_shape4 *out_shape);                         \
  void eq_fully_connected_s8_##isa(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches,     \
                                   int32_t in_depth, int32_t out_depth, const int8_t *in,                 \
                                   const int8_t *weights, const int32_t *bias, int8_t *out);

EQ_DECLARE_X86_VARIANT(avx2)
EQ_DECLARE_X86_VARIANT(avx512vnni)

#endif
