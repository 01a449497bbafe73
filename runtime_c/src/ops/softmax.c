/* SOFTMAX over the last axis, int8 -> int8 (output scale 1/256, zero point -128, as TFLite requires).
 * SoftmaxOptions: beta 0. beta * input_scale is turned into a Q5.26 multiplier capped at 2^31 - 1, and
 * differences below -floor(31 * 2^26 / 2^shift) are treated as exp = 0 (TFLite's input radius).
 * int16 -> int16 (symmetric, output scale 2^-15): LiteRT's table-based kernel, with beta * input_scale
 * mapped so that a difference of -10.0 becomes -65535. float32 -> float32: exp(beta * (x - max)) / sum. */
#include "../op_util.h"
#include "eq_kernels_core.h"
#include "eq_kernels_f32.h"
#include "eq_kernels_s16.h"
#include "int16_common.h"

typedef struct {
  float beta;
  int32_t rows, depth;
} softmax_f32_data;

/* Softmax runs over the last axis: depth is its length, rows the count of such vectors. */
static void rows_depth(const eq_tensor *in, int32_t *rows, int32_t *depth) {
  *depth = in->dims[in->ndim - 1];
  *rows = *depth ? eq_num_elements(in) / *depth : 0;
}

static eq_status prepare_f32(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *in = n->in[0], *out = n->out[0];
  EQ_ENSURE(in->ndim >= 1 && eq_same_shape(in, out), EQ_ERR_SHAPE);
  softmax_f32_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  d->beta = eq_opt_f32(&n->options, 0, 0.0f);
  rows_depth(in, &d->rows, &d->depth);
  n->data = d;
  return EQ_OK;
}

typedef struct {
  eq_softmax_s16_params p;
  int32_t rows, depth;
} softmax16_data;

static eq_status prepare16(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *in = n->in[0], *out = n->out[0];
  EQ_ENSURE(in->ndim >= 1 && eq_same_shape(in, out), EQ_ERR_SHAPE);
  EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  const float near = 1.0f / 32768, tol = 0.001f * 1.0f / 32768;
  EQ_ENSURE(out->scale >= near - tol && out->scale <= near + tol, EQ_ERR_QUANT);
  softmax16_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  rows_depth(in, &d->rows, &d->depth);
  /* the product in float, the division by 10/65535 in double, as LiteRT's prepare */
  const float scaled_beta = in->scale * eq_opt_f32(&n->options, 0, 0.0f);
  eq_status st = eq_quantize_multiplier((double)scaled_beta / (10.0 / 65535.0), &d->p.input_multiplier,
                                        &d->p.input_shift);
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

typedef struct {
  eq_softmax_params p;
  int32_t rows, depth;
} softmax_data;

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 1 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  if (EQ_IS_INT16(in) && EQ_IS_INT16(out)) return prepare16(ctx, n);
  if (in->type == EQ_FLOAT32 && out->type == EQ_FLOAT32) return prepare_f32(ctx, n);
  EQ_ENSURE(in->type == EQ_INT8 && out->type == EQ_INT8, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim >= 1 && eq_same_shape(in, out), EQ_ERR_SHAPE);
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1 && in->scale > 0.0f, EQ_ERR_QUANT);
  EQ_ENSURE(out->zero_point == -128 && out->scale > 0.99f / 256 && out->scale < 1.01f / 256, EQ_ERR_QUANT);
  softmax_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  rows_depth(in, &d->rows, &d->depth);
  const double beta = (double)eq_opt_f32(&n->options, 0, 0.0f);
  double real = beta * (double)in->scale * (double)(1 << (31 - 5));
  if (real > 2147483647.0) real = 2147483647.0;
  EQ_ENSURE(real > 1.0, EQ_ERR_QUANT);
  int32_t shift;
  eq_status st = eq_quantize_multiplier(real, &d->p.input_multiplier, &shift);
  if (st != EQ_OK) return st;
  EQ_ENSURE(shift >= 0, EQ_ERR_QUANT);
  d->p.input_left_shift = shift;
  const double radius = 31.0 * (double)(1 << 26) / (double)((int64_t)1 << shift);
  d->p.diff_min = -(int32_t)eq_floor_f64(radius);
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  if (n->out[0]->type == EQ_FLOAT32) {
    const softmax_f32_data *f = n->data;
    eq_softmax_f32(f->beta, f->rows, f->depth, n->in[0]->data, n->out[0]->data);
    return EQ_OK;
  }
  if (EQ_IS_INT16(n->out[0])) {
    const softmax16_data *e = n->data;
    eq_softmax_s16(&e->p, e->rows, e->depth, n->in[0]->data, n->out[0]->data);
    return EQ_OK;
  }
  const softmax_data *d = n->data;
  eq_softmax_s8(&d->p, d->rows, d->depth, n->in[0]->data, n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_softmax = {"SOFTMAX", prepare, eval};
