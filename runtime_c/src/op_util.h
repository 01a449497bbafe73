/* Helpers shared by op implementations: TFLite's requantization multipliers, fused-activation ranges,
 * SAME/VALID padding and numpy-style broadcasting. Every function here reproduces the arithmetic of
 * TFLite's prepare code exactly (including where it computes in float vs double), because a one-ulp
 * difference in a multiplier changes output bytes. */
#ifndef EDGEQ_OP_UTIL_H
#define EDGEQ_OP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "../kernels/eq_kernels.h"

/* Values of TFLite's ActivationFunctionType and Padding enums. */
enum { EQ_ACT_NONE = 0, EQ_ACT_RELU = 1, EQ_ACT_RELU_N1_TO_1 = 2, EQ_ACT_RELU6 = 3, EQ_ACT_TANH = 4 };
enum { EQ_PAD_SAME = 0, EQ_PAD_VALID = 1 };

/* TFLite builtin operator codes used by the core. */
enum {
  EQ_OP_ADD = 0, EQ_OP_AVERAGE_POOL_2D = 1, EQ_OP_CONCATENATION = 2, EQ_OP_CONV_2D = 3,
  EQ_OP_DEPTHWISE_CONV_2D = 4, EQ_OP_DEQUANTIZE = 6, EQ_OP_FULLY_CONNECTED = 9, EQ_OP_LOGISTIC = 14,
  EQ_OP_MAX_POOL_2D = 17, EQ_OP_MUL = 18, EQ_OP_RELU = 19, EQ_OP_RELU6 = 21, EQ_OP_RESHAPE = 22,
  EQ_OP_SOFTMAX = 25, EQ_OP_TANH = 28, EQ_OP_PAD = 34, EQ_OP_TRANSPOSE = 39, EQ_OP_MEAN = 40,
  EQ_OP_SUB = 41, EQ_OP_SQUEEZE = 43, EQ_OP_STRIDED_SLICE = 45, EQ_OP_PRELU = 54, EQ_OP_MAXIMUM = 55,
  EQ_OP_MINIMUM = 57, EQ_OP_PADV2 = 60, EQ_OP_EXPAND_DIMS = 70, EQ_OP_LEAKY_RELU = 98,
  EQ_OP_QUANTIZE = 114, EQ_OP_HARD_SWISH = 117
};

/* Most multiply-accumulate taps per output of conv/depthwise/FC: 32768 * 255 * 128 < 2^30, so the
 * int32 accumulator (plus a bias, added with wrap-around) can never overflow. */
#define EQ_MAX_TAPS 32768

/* std::round semantics (half away from zero), written without libm. Saturates to +-2^62. */
int64_t eq_round_f32(float x);
int64_t eq_round_f64(double x);
/* std::floor for doubles, without libm. */
double eq_floor_f64(double x);
/* std::frexp without libm: x = m * 2^e with 0.5 <= |m| < 1 (m = 0, e = 0 for x = 0). */
double eq_frexp(double x, int32_t *e);

/* TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).
 * Returns EQ_ERR_QUANT for a negative, NaN or infinite real multiplier. */
eq_status eq_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift);

/* Integer range of a quantized type (INT8, UINT8, INT16, INT32); 0 for others. */
int32_t eq_type_min(eq_type t);
int32_t eq_type_max(eq_type t);
/* Bytes per element (INT4: 1, packed storage is computed by eq_tensor_bytes). */
size_t eq_type_size(eq_type t);

/* TFLite's CalculateActivationRangeQuantized for the output tensor's type, scale and zero point.
 * TANH and SIGN_BIT fused activations are rejected (EQ_ERR_UNSUPPORTED_TYPE). */
eq_status eq_activation_range(int32_t fused_activation, const eq_tensor *out, int32_t *act_min,
                              int32_t *act_max);

/* Output size and leading padding of a windowed op (conv, depthwise, pool), as TFLite computes them:
 * SAME: out = ceil(in / stride); VALID: out = ceil((in - effective_filter + 1) / stride). */
int32_t eq_conv_out_size(int32_t padding, int32_t in, int32_t filter, int32_t stride, int32_t dilation);
int32_t eq_conv_padding(int32_t stride, int32_t dilation, int32_t in, int32_t filter, int32_t out);

/* A 4-D NHWC view of a tensor of rank <= 4 (missing leading dims are 1). EQ_ERR_SHAPE for rank > 4. */
eq_status eq_shape4_of(const eq_tensor *t, eq_shape4 *s);
int eq_same_shape(const eq_tensor *a, const eq_tensor *b);

/* Per-output-channel requantization for conv-like ops (TFLite's PopulateConvolutionQuantizationParams:
 * input_scale * filter_scale[c] / output_scale in double). `channels` arrays are allocated with
 * eq_alloc_persistent; a per-tensor filter fills every channel with the same value. */
eq_status eq_conv_channel_quant(eq_ctx *ctx, const eq_tensor *in, const eq_tensor *filter,
                                const eq_tensor *out, int32_t channels, eq_channel_quant *q);

/* Numpy broadcasting of two inputs onto an output, padded to EQ_MAX_DIMS (leading dims 1).
 * stride_a/stride_b are element strides of each input per output dim (0 where it is broadcast). */
typedef struct {
  int32_t dims[EQ_MAX_DIMS];
  int32_t stride_a[EQ_MAX_DIMS];
  int32_t stride_b[EQ_MAX_DIMS];
  int32_t count; /* output elements */
} eq_broadcast;

/* EQ_ERR_SHAPE when the shapes do not broadcast to the output's shape. */
eq_status eq_broadcast_prepare(const eq_tensor *a, const eq_tensor *b, const eq_tensor *out,
                               eq_broadcast *bc);
/* Calls fn(user, out_index, a_index, b_index) for every output element in row-major order. */
typedef void (*eq_broadcast_fn)(void *user, int32_t out_i, int32_t a_i, int32_t b_i);
void eq_broadcast_each(const eq_broadcast *bc, eq_broadcast_fn fn, void *user);

/* Status shorthand for prepare(): return `st` from the enclosing function when `cond` is false. */
#define EQ_ENSURE(cond, st) \
  do {                      \
    if (!(cond)) return (st); \
  } while (0)

#endif
