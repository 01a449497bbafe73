/* MEAN (int8, symmetric int16): LiteRT's reference QuantizedMeanOrSum: int32 sum over the (deduplicated) axes, one
 * multiplier in_scale / out_scale in double with 1/count folded in by the kernel. */
#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  eq_mean_params p;
  int32_t ndim;
  int32_t dims[EQ_MAX_DIMS];
  uint8_t reduced[EQ_MAX_DIMS];
} mean_data;

static eq_status mean_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *axis = node->in[1], *out = node->out[0];
  if (EQ_IS_INT16(in) && EQ_IS_INT16(out)) EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  else EQ_ENSURE(eq_is_q8(in) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim <= EQ_MAX_DIMS, EQ_ERR_SHAPE);
  const int32_t n_axis = eq_num_elements(axis);
  EQ_ENSURE(eq_is_const_index(axis, n_axis), EQ_ERR_UNSUPPORTED_TYPE);
  mean_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  d->ndim = in->ndim;
  for (int32_t k = 0; k < in->ndim; ++k) {
    d->dims[k] = in->dims[k];
    d->reduced[k] = 0;
  }
  for (int32_t i = 0; i < n_axis; ++i) {
    int64_t a = eq_const_index(axis, i);
    if (a < 0) a += in->ndim;
    EQ_ENSURE(a >= 0 && a < in->ndim, EQ_ERR_SHAPE);
    d->reduced[a] = 1;
  }
  int32_t kept = 1;
  for (int32_t k = 0; k < in->ndim; ++k) kept *= d->reduced[k] ? 1 : in->dims[k];
  EQ_ENSURE(kept == eq_num_elements(out), EQ_ERR_SHAPE);
  eq_status st = eq_quantize_multiplier((double)in->scale / (double)out->scale, &d->p.multiplier, &d->p.shift);
  if (st != EQ_OK) return st;
  d->p.in_zp = in->zero_point;
  d->p.out_zp = out->zero_point;
  node->data = d;
  return EQ_OK;
}

static eq_status mean_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const mean_data *d = node->data;
  eq_mean(&d->p, d->ndim, d->dims, d->reduced, EQ_IS_INT16(node->out[0]) ? 2 : 1, node->in[0]->data,
          node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_mean = {"MEAN", mean_prepare, mean_eval};
