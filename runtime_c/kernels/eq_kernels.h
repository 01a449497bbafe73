/* Compute kernels: pure functions over raw arrays, no knowledge of the model format.
 * The scalar versions in kernels/ref/ are the specification; SIMD twins with the same file names in
 * kernels/<isa>/ must produce identical bytes. Shapes are NHWC; shape comments name every array. */
#ifndef EDGEQ_KERNELS_H
#define EDGEQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int32_t n, h, w, c;
} eq_shape4;

typedef struct {
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;      /* top and left padding */
  int32_t depth_multiplier;  /* depthwise only */
  int32_t input_offset;      /* minus the input zero point */
  int32_t output_offset;     /* the output zero point */
  int32_t act_min, act_max;  /* fused activation clamp in the output's integer domain */
} eq_conv_params;

/* Requantization per output channel: real multiplier = multiplier * 2^(shift - 31). Per-tensor ops
 * pass arrays filled with one value, so one kernel serves both. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
} eq_channel_quant;

typedef struct {
  int32_t input_offset;   /* minus the input zero point */
  int32_t filter_offset;  /* minus the weights zero point (0 for symmetric weights) */
  int32_t output_offset;  /* the output zero point */
  int32_t act_min, act_max;
} eq_fc_params;

/* in [n, h, w, c_in], filter [c_out, kh, kw, c_in], bias [c_out] or NULL, out [n, oh, ow, c_out] */
void eq_conv2d_s8(const eq_conv_params *p, const eq_channel_quant *q,
                  const eq_shape4 *in_shape, const int8_t *in,
                  const eq_shape4 *filter_shape, const int8_t *filter, const int32_t *bias,
                  const eq_shape4 *out_shape, int8_t *out, void *scratch);
size_t eq_conv2d_s8_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,
                                 const eq_shape4 *filter_shape, const eq_shape4 *out_shape);

/* in [n, h, w, c_in], filter [1, kh, kw, c_out] with c_out = c_in * depth_multiplier,
 * bias [c_out] or NULL, out [n, oh, ow, c_out] */
void eq_depthwise_conv2d_s8(const eq_conv_params *p, const eq_channel_quant *q,
                            const eq_shape4 *in_shape, const int8_t *in,
                            const eq_shape4 *filter_shape, const int8_t *filter, const int32_t *bias,
                            const eq_shape4 *out_shape, int8_t *out, void *scratch);
size_t eq_depthwise_conv2d_s8_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,
                                           const eq_shape4 *filter_shape, const eq_shape4 *out_shape);

/* in [batches, in_depth], weights [out_depth, in_depth], bias [out_depth] or NULL, out [batches, out_depth] */
void eq_fully_connected_s8(const eq_fc_params *p, const eq_channel_quant *q,
                           int32_t batches, int32_t in_depth, int32_t out_depth,
                           const int8_t *in, const int8_t *weights, const int32_t *bias, int8_t *out);

/* The variants chosen for this machine: on the host picked once at load time from CPU features
 * (kernels/dispatch.c), on a microcontroller fixed at compile time. Ops call kernels through it. */
typedef struct {
  const char *isa; /* "ref", "avx2", "avx512vnni", "arm_dsp", "arm_mve", "neon" */
  void (*conv2d_s8)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                    const eq_shape4 *, const int8_t *, const int32_t *, const eq_shape4 *, int8_t *, void *);
  void (*depthwise_conv2d_s8)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *,
                              const int8_t *, const eq_shape4 *, const int8_t *, const int32_t *,
                              const eq_shape4 *, int8_t *, void *);
  void (*fully_connected_s8)(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                             const int8_t *, const int8_t *, const int32_t *, int8_t *);
  /* Scratch bytes of this table's conv and depthwise variants: the planner must size scratch with
   * these, since variants need different amounts. */
  size_t (*conv2d_s8_scratch_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *,
                                   const eq_shape4 *);
  size_t (*depthwise_conv2d_s8_scratch_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *,
                                             const eq_shape4 *);
  /* Weights packed once at prepare (NULL: the variant reads the model's weights as they are, as ref
   * does, so the microcontroller arena does not grow). */
  const struct eq_conv_pack *conv2d_s8_pack;
  const struct eq_conv_pack *depthwise_conv2d_s8_pack;
  const struct eq_fc_pack *fully_connected_s8_pack;
  /* The elementwise, activation and pooling kernels (eq_kernels_ew.h). */
  const struct eq_ew_kernels *ew;
} eq_kernel_table;

/* Prepare-time weight packing of a conv or depthwise variant. The op asks packed_size(); when it is
 * nonzero it allocates that many persistent bytes, calls pack() once, sizes scratch with
 * scratch_size() and calls run() at every eval instead of the plain kernel. packed_size() returns 0
 * for shapes the variant does not pack (the plain kernel then runs). The packed bytes hold everything
 * that depends on weights, bias and multipliers alone. */
typedef struct eq_conv_pack {
  size_t (*packed_size)(const eq_conv_params *p, const eq_shape4 *in_shape, const eq_shape4 *filter_shape,
                        const eq_shape4 *out_shape);
  void (*pack)(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
               const eq_shape4 *filter_shape, const int8_t *filter, const int32_t *bias,
               const eq_shape4 *out_shape, void *packed);
  size_t (*scratch_size)(const eq_conv_params *p, const eq_shape4 *in_shape, const eq_shape4 *filter_shape,
                         const eq_shape4 *out_shape);
  void (*run)(const eq_conv_params *p, const eq_shape4 *in_shape, const int8_t *in, const eq_shape4 *filter_shape,
              const void *packed, const eq_shape4 *out_shape, int8_t *out, void *scratch);
} eq_conv_pack;

/* The same for FULLY_CONNECTED (in [batches, in_depth], weights [out_depth, in_depth]). */
typedef struct eq_fc_pack {
  size_t (*packed_size)(const eq_fc_params *p, int32_t in_depth, int32_t out_depth);
  void (*pack)(const eq_fc_params *p, const eq_channel_quant *q, int32_t in_depth, int32_t out_depth,
               const int8_t *weights, const int32_t *bias, void *packed);
  void (*run)(const eq_fc_params *p, int32_t batches, int32_t in_depth, int32_t out_depth, const int8_t *in,
              const void *packed, int8_t *out);
} eq_fc_pack;

const eq_kernel_table *eq_kernels(void);

/* The table of a named variant ("ref", "avx2", "avx512vnni", ...), or NULL when this build or this CPU
 * lacks it. eq_kernels() returns eq_kernels_select(getenv("EDGEQ_ISA")) when that variable names a
 * variant this machine runs, else the best one. */
const eq_kernel_table *eq_kernels_select(const char *isa);

#endif
