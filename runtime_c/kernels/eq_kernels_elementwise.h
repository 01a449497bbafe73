/* Compute kernels for the elementwise, activation and data-movement ops (int8 activations).
 * Pure functions over raw arrays with the rounding of TFLite's reference kernels; every multiplier is
 * precomputed by the op's prepare() (real multiplier = multiplier * 2^(shift - 31)). */
#ifndef EDGEQ_KERNELS_ELEMENTWISE_H
#define EDGEQ_KERNELS_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#define EQ_BCAST_MAX_DIMS 6

/* Two operands broadcast (numpy rules) into an output of up to 6 dims, right-aligned and padded to 6
 * with leading 1s. stride1/stride2: each operand's element stride along each output axis, 0 where it is
 * broadcast. */
typedef struct {
  int32_t dims[EQ_BCAST_MAX_DIMS];
  int32_t stride1[EQ_BCAST_MAX_DIMS];
  int32_t stride2[EQ_BCAST_MAX_DIMS];
} eq_bcast;

/* Fills b from the operand shapes. Returns 0, or -1 when the shapes do not broadcast or exceed 6 dims.
 * out_dims (may be NULL) receives the broadcast shape, right-aligned to max(n1, n2) dims. */
int eq_bcast_init(eq_bcast *b, const int32_t *dims1, int32_t n1, const int32_t *dims2, int32_t n2,
                      int32_t *out_dims, int32_t *out_ndim);

/* ---- binary ops: in1, in2 per b, out [b->dims] ---- */

typedef struct {
  int32_t left_shift;                       /* 20 for 8-bit operands */
  int32_t in1_offset, in1_multiplier, in1_shift;   /* offset = minus the zero point */
  int32_t in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift;   /* offset = the output zero point */
  int32_t act_min, act_max;
} eq_sub_params;
void eq_sub_s8(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out);

typedef struct {
  int32_t in1_offset, in2_offset; /* minus the zero points */
  int32_t out_offset;             /* the output zero point */
  int32_t out_multiplier, out_shift;
  int32_t act_min, act_max;
} eq_mul_params;
void eq_mul_s8(const eq_mul_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out);

/* Raw int8 comparison, quantization ignored (as TFLite does). */
void eq_maximum_s8(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void eq_minimum_s8(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);

typedef struct {
  int32_t in_offset, alpha_offset; /* minus the zero points */
  int32_t out_offset;
  int32_t multiplier_pos, shift_pos; /* in_scale / out_scale */
  int32_t multiplier_neg, shift_neg; /* in_scale * alpha_scale / out_scale */
} eq_prelu_params;
/* in1 = input, in2 = alpha */
void eq_prelu_s8(const eq_prelu_params *p, const eq_bcast *b, const int8_t *in, const int8_t *alpha,
                 int8_t *out);

/* ---- unary ops over n elements ---- */

/* out[i] = table[(uint8_t)in[i]]: LOGISTIC and TANH evaluate through a 256-entry table. */
void eq_lut_s8(const int8_t *table, int32_t n, const int8_t *in, int8_t *out);
/* Tables with LiteRT's float formula, rounding and clamping; they need <math.h> (expf, tanhf). */
void eq_logistic_s8_table(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t *table);
void eq_tanh_s8_table(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t *table);

typedef struct {
  int32_t in_zp, out_zp;
  int32_t multiplier, shift; /* in_scale / out_scale */
  int32_t act_min, act_max;  /* the clamp in the output domain (RELU: [zp, 127], RELU6: [zp, zp + 6/s]) */
} eq_relu_params;
void eq_relu_s8(const eq_relu_params *p, int32_t n, const int8_t *in, int8_t *out);

typedef struct {
  int32_t in_zp, out_zp;
  int32_t multiplier_alpha, shift_alpha;       /* in_scale * alpha / out_scale */
  int32_t multiplier_identity, shift_identity; /* in_scale / out_scale */
} eq_leaky_relu_params;
void eq_leaky_relu_s8(const eq_leaky_relu_params *p, int32_t n, const int8_t *in, int8_t *out);

typedef struct {
  int32_t in_zp, out_zp;
  int16_t out_multiplier;     /* Q15 */
  int32_t out_exponent;       /* <= 0 */
  int16_t reluish_multiplier; /* Q15 */
  int32_t reluish_exponent;
} eq_hard_swish_params;
void eq_hard_swish_s8(const eq_hard_swish_params *p, int32_t n, const int8_t *in, int8_t *out);

/* ---- data movement (any element size: elem_bytes per element; int8 and int16 share these) ---- */

/* in [dims], out [dims + before + after] filled with *pad_value (one element) outside the copy; ndim <= 6. */
void eq_pad(int32_t ndim, const int32_t *dims, const int32_t *before, const int32_t *after, size_t elem_bytes,
            const void *pad_value, const void *in, void *out);

/* Concatenates n_in tensors viewed as [outer, inner_i] elements; out is [outer, sum inner_i]. */
void eq_concatenation(int32_t n_in, const void *const *in, const int32_t *inner, int32_t outer,
                      size_t elem_bytes, void *out);

/* in [dims] (ndim <= 6), out[i_perm...] with out dims[k] = dims[perm[k]] */
void eq_transpose(int32_t ndim, const int32_t *dims, const int32_t *perm, size_t elem_bytes, const void *in,
                  void *out);

/* Walks in [dims] (ndim <= 8) from start with stride until stop on every axis, writing in order. */
#define EQ_SLICE_MAX_DIMS 8
void eq_strided_slice(int32_t ndim, const int32_t *dims, const int32_t *start, const int32_t *stop,
                      const int32_t *stride, size_t elem_bytes, const void *in, void *out);

/* ---- reductions ---- */

typedef struct {
  int32_t in_zp, out_zp;
  int32_t multiplier, shift; /* in_scale / out_scale, before dividing by the reduced count */
} eq_mean_params;
/* in [dims] (ndim <= 6) of int8 (elem_bytes 1) or int16 (2); reduced: nonzero for each axis averaged;
 * out: the kept axes in order. */
void eq_mean(const eq_mean_params *p, int32_t ndim, const int32_t *dims, const uint8_t *reduced,
             size_t elem_bytes, const void *in, void *out);

#endif
