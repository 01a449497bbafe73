/* Compute kernels of the core ops besides conv/depthwise/FC (those are in eq_kernels.h): ADD, the
 * pools, SOFTMAX and the QUANTIZE/DEQUANTIZE family. Pure functions with TFLite's reference rounding. */
#ifndef EDGEQ_KERNELS_CORE_H
#define EDGEQ_KERNELS_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "eq_kernels.h"

/* ADD: each input is rescaled to a common scale with 20 bits of headroom, summed, requantized. */
typedef struct {
  int32_t left_shift;
  int32_t in1_offset, in1_multiplier, in1_shift; /* offset = minus the zero point; shift <= 0 */
  int32_t in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift;
  int32_t act_min, act_max;
  /* Optional: each input's rescaled value for every int8 code (index = value + 128), which is all
   * that depends on one input alone; eq_add_s8_tables() fills them. NULL: computed per element. */
  const int32_t *in1_table, *in2_table;
} eq_add_params;

/* Fills two 256-entry tables for p (p's table pointers are not read). */
void eq_add_s8_tables(const eq_add_params *p, int32_t *in1_table, int32_t *in2_table);

/* out[i] over a 6-D output shape dims; in1/in2 indexed with per-dim element strides (0 = broadcast). */
void eq_add_s8(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
               const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out);

typedef struct {
  int32_t stride_h, stride_w;
  int32_t filter_h, filter_w;
  int32_t pad_h, pad_w;
  int32_t act_min, act_max;
} eq_pool_params;

/* in [n, h, w, c], out [n, oh, ow, c]. Average rounds half away from zero over the in-bounds taps. */
void eq_average_pool_s8(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                        const eq_shape4 *out_shape, int8_t *out);
void eq_max_pool_s8(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                    const eq_shape4 *out_shape, int8_t *out);

typedef struct {
  int32_t input_multiplier;  /* beta * input_scale in Q5.26, see softmax_s8.c */
  int32_t input_left_shift;
  int32_t diff_min;          /* differences below this give exp = 0 */
} eq_softmax_params;

/* in, out [rows, depth]; output scale 1/256, zero point -128. */
void eq_softmax_s8(const eq_softmax_params *p, int32_t rows, int32_t depth, const int8_t *in, int8_t *out);

/* float -> int8/uint8: round(x / scale) + zero_point (division in float), clamped to [qmin, qmax]. */
void eq_quantize_f32_s8(const float *in, int32_t n, float scale, int32_t zero_point, int8_t *out);
void eq_quantize_f32_u8(const float *in, int32_t n, float scale, int32_t zero_point, uint8_t *out);

/* 8-bit -> 8-bit requantization: (x - in_zp) * multiplier 2^shift + out_zp, clamped to the output type.
 * Signedness of each side is given by in_signed / out_signed. */
void eq_requantize_8(const void *in, int in_signed, int32_t n, int32_t in_zp, int32_t multiplier,
                     int32_t shift, int32_t out_zp, void *out, int out_signed);

/* int8/uint8 -> float: (float)(scale * (x - zero_point)) with scale in double, as TFLite's reference. */
void eq_dequantize_8(const void *in, int in_signed, int32_t n, double scale, int32_t zero_point, float *out);

#endif
