/* The x86 variants of the kernels in ../eq_kernels.h, same signatures, bit-exact with kernels/ref/.
 * Call one only on a CPU that has its extension (eq_kernels() does the checking). Each falls back to the
 * reference kernel for cases it does not vectorize (grouped conv, activation range outside int8,
 * input offsets that are not minus an int8 zero point). */
#ifndef EDGEQ_X86_KERNELS_H
#define EDGEQ_X86_KERNELS_H

#include "../eq_kernels.h"
#include "../eq_kernels_ew.h"

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

/* Elementwise kernels with the reference signatures (eq_kernels_ew.h); their table is eq_ew_kernels_<isa>. */
#define EQ_DECLARE_X86_EW_VARIANT(isa)                                                                    \
  void eq_add_s8_##isa(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],            \
                       const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out);      \
  void eq_sub_s8_##isa(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,   \
                       int8_t *out);                                                                       \
  void eq_mul_s8_##isa(const eq_mul_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,   \
                       int8_t *out);                                                                       \
  void eq_maximum_s8_##isa(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);         \
  void eq_minimum_s8_##isa(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);         \
  void eq_relu_s8_##isa(const eq_relu_params *p, int32_t n, const int8_t *in, int8_t *out);               \
  void eq_average_pool_s8_##isa(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,     \
                                const eq_shape4 *out_shape, int8_t *out);                                 \
  void eq_max_pool_s8_##isa(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,         \
                            const eq_shape4 *out_shape, int8_t *out);                                     \
  extern const struct eq_ew_kernels eq_ew_kernels_##isa;

EQ_DECLARE_X86_VARIANT(avx2)
EQ_DECLARE_X86_VARIANT(avx512vnni)

/* Prepare-time packing of the conv variants (eq_conv_pack in eq_kernels.h). */
extern const eq_conv_pack eq_conv2d_s8_avx2_pack;
extern const eq_conv_pack eq_conv2d_s8_avx512vnni_pack;
EQ_DECLARE_X86_EW_VARIANT(avx2)
EQ_DECLARE_X86_EW_VARIANT(avx512vnni)

#endif
