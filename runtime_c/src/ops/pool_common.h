/* Shared prepare of AVERAGE_POOL_2D and MAX_POOL_2D, int8 or int16 (Pool2DOptions: padding 0,
 * stride_w 1, stride_h 2, filter_width 3, filter_height 4, activation 5). */
#ifndef EDGEQ_POOL_COMMON_H
#define EDGEQ_POOL_COMMON_H

#include "../op_util.h"
#include "eq_kernels_ew.h"
#include "int16_common.h"

typedef struct {
  eq_pool_params p;
  eq_shape4 in, out;
} pool_data;

static inline eq_status pool_prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 1 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  EQ_ENSURE((in->type == EQ_INT8 || EQ_IS_INT16(in)) && out->type == in->type, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim == 4 && out->ndim == 4, EQ_ERR_SHAPE);
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1, EQ_ERR_QUANT);
  EQ_ENSURE(in->scale == out->scale && in->zero_point == out->zero_point, EQ_ERR_QUANT);
  pool_data *d = eq_alloc_persistent(ctx, sizeof *d);
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
  eq_status st = eq_activation_range(eq_opt_i32(o, 5, EQ_ACT_NONE), out, &p->act_min, &p->act_max);
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

#endif
