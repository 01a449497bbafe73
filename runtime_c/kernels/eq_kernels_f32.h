/* Float kernels of the ops a float or hybrid (dynamic-range) model needs besides conv / depthwise /
 * fully connected (those are in eq_kernels_lowbit.h): average and max pooling and softmax, as in
 * LiteRT's reference kernels. No libm (microcontroller builds link none): exp is eq_expf. */
#ifndef EDGEQ_KERNELS_F32_H
#define EDGEQ_KERNELS_F32_H

#include <stdint.h>

#include "eq_kernels.h"
#include "eq_kernels_ew.h"

/* in [n, h, w, c] -> out [n, oh, ow, c]; p's strides, filter and padding (its int act range unused),
 * the fused activation as a float clamp. Average: the window clipped to the input, summed in float in
 * window order, divided by the clipped count. */
void eq_average_pool_f32(const eq_pool_params *p, float act_min, float act_max, const eq_shape4 *in_shape,
                         const float *in, const eq_shape4 *out_shape, float *out);
void eq_max_pool_f32(const eq_pool_params *p, float act_min, float act_max, const eq_shape4 *in_shape,
                     const float *in, const eq_shape4 *out_shape, float *out);

/* Softmax over the last axis of [rows, depth]: exp(beta * (x - max)) / sum, the sum in float in order. */
void eq_softmax_f32(float beta, int32_t rows, int32_t depth, const float *in, float *out);

/* e^x correctly rounded to float except within ~1e-15 of a rounding boundary (0 below about -103.97,
 * +inf above about 88.72). */
float eq_expf(float x);

#endif
