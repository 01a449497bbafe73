/* Shared prepare of AVERAGE_POOL_2D and MAX_POOL_2D, int8, int16 or float32 (Pool2DOptions: padding 0,
 * stride_w 1, stride_h 2, filter_width 3, filter_height 4, activation 5). */
#ifndef EDGEQ_POOL_COMMON_H
#define EDGEQ_POOL_COMMON_H

#include "../op_util.h"
#include "eq_kernels_ew.h"
#include "eq_kernels_f32.h"
#include "int16_common.h"

typedef struct {
  eq_pool_params p;
  eq_shape4 in, out;
} pool_data;

/* float32 adds the fused activation as a float clamp (a separate record: the int8 one stays as it was) */
typedef struct {
  pool_data base;
  float act_min, act_max;
} pool_f32_data;

/* TFLite's CalculateActivationRange for float: the type's finite extremes when there is no bound. */
static inline eq_status pool_f32_activation(int32_t act, float *lo, float *hi) {
  const float big = 3.402823466e38f;
  switch (act) {
    case EQ_ACT_NONE: *lo = -big; *hi = big; return EQ_OK;
    case EQ_ACT_RELU: *lo = 0.0f; *hi = big; return EQ_OK;
    case EQ_ACT_RELU6: *lo = 0.0f; *hi = 6.0f; return EQ_OK;
    case EQ_ACT_RELU_N1_TO_1: *lo = -1.0f; *hi = 1.0f; return EQ_OK;
    default: return EQ_ERR_UNSUPPORTED_TYPE;
  }
}

static inline eq_status pool_prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 1 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  const int f32 = in->type == EQ_FLOAT32;
  EQ_ENSURE((in->type == EQ_INT8 || EQ_IS_INT16(in) || f32) && out->type == in->type, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim == 4 && out->ndim == 4, EQ_ERR_SHAPE);
  if (!f32) {
    EQ_ENSURE(in->nq >= 1 && out->nq >= 1, EQ_ERR_QUANT);
    EQ_ENSURE(in->scale == out->scale && in->zero_point == out->zero_point, EQ_ERR_QUANT);
  }
  pool_data *d = eq_alloc_persistent(ctx, f32 ? sizeof(pool_f32_data) : sizeof(pool_data));
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_shape4_of(in, &d->in);
  eq_shape4_of(out, &d->out);
  const eq_options *o = &n->options;
  const int32_t padding = eq_opt_i32(o, 0, EQ_PAD_SAME);
  eq_pool_params *p = &d->p;
  p->stride_w = eq_opt_i32(o, 1, 0);
  p->stride_h = eq_opt_i32(o, 2, 0);
  p->filter_w = eq_opt_i32(o, 3, 0);
  p->filter_h = eq_opt_i32(o, 4, 0);
  EQ_ENSURE(p->stride_w > 0 && p->stride_h > 0 && p->filter_w > 0 && p->filter_h > 0, EQ_ERR_MODEL);
  EQ_ENSURE(d->out.n == d->in.n && d->out.c == d->in.c, EQ_ERR_SHAPE);
  EQ_ENSURE(eq_conv_out_size(padding, d->in.h, p->filter_h, p->stride_h, 1) == d->out.h &&
                eq_conv_out_size(padding, d->in.w, p->filter_w, p->stride_w, 1) == d->out.w,
            EQ_ERR_SHAPE);
  p->pad_h = eq_conv_padding(p->stride_h, 1, d->in.h, p->filter_h, d->out.h);
  p->pad_w = eq_conv_padding(p->stride_w, 1, d->in.w, p->filter_w, d->out.w);
  /* Every window must overlap the input (TFLite fails such an average pool at run time). */
  for (int32_t y = 0; y < d->out.h; ++y) {
    const int32_t iy = y * p->stride_h - p->pad_h;
    EQ_ENSURE(iy + p->filter_h > 0 && iy < d->in.h, EQ_ERR_SHAPE);
  }
  for (int32_t x = 0; x < d->out.w; ++x) {
    const int32_t ix = x * p->stride_w - p->pad_w;
    EQ_ENSURE(ix + p->filter_w > 0 && ix < d->in.w, EQ_ERR_SHAPE);
  }
  eq_status st;
  if (f32) {
    pool_f32_data *e = (pool_f32_data *)d;
    p->act_min = p->act_max = 0; /* unused: the float clamp below applies */
    st = pool_f32_activation(eq_opt_i32(o, 5, EQ_ACT_NONE), &e->act_min, &e->act_max);
  } else {
    st = eq_activation_range(eq_opt_i32(o, 5, EQ_ACT_NONE), out, &p->act_min, &p->act_max);
  }
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

#endif
