/* CONCATENATION (int8, int16): LiteRT requires every int8 input to share the output's scale and zero
 * point, so this is a copy of [outer, inner_i] blocks. For int16 LiteRT copies raw values whatever the
 * scales; edgeq asks for the same shared quantization rather than give silently rescaled results. */
#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  int32_t outer;
  int32_t inner[EQ_MAX_OP_IO];
} concat_data;

static eq_status concatenation_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in >= 1 && node->n_in <= EQ_MAX_OP_IO && node->n_out == 1, EQ_ERR_MODEL);
  const eq_tensor *out = node->out[0];
  const int s16 = EQ_IS_INT16(out);
  EQ_ENSURE(s16 ? (out->nq >= 1 && out->scale > 0.0f) : eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_opt_i32(&node->options, 1, 0) == EQ_ACT_NONE, EQ_ERR_UNSUPPORTED_TYPE);
  int32_t axis = eq_opt_i32(&node->options, 0, 0);
  if (axis < 0) axis += out->ndim;
  EQ_ENSURE(axis >= 0 && axis < out->ndim, EQ_ERR_SHAPE);
  concat_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t inner_tail = 1, axis_sum = 0;
  d->outer = 1;
  for (int32_t k = 0; k < out->ndim; ++k) {
    if (k < axis) d->outer *= out->dims[k];
    if (k > axis) inner_tail *= out->dims[k];
  }
  for (int32_t i = 0; i < node->n_in; ++i) {
    const eq_tensor *t = node->in[i];
    EQ_ENSURE(t && t->type == out->type && (s16 ? t->nq >= 1 : eq_is_q8(t)), EQ_ERR_UNSUPPORTED_TYPE);
    EQ_ENSURE(t->scale == out->scale && t->zero_point == out->zero_point,
              s16 ? EQ_ERR_UNSUPPORTED_TYPE : EQ_ERR_QUANT);
    EQ_ENSURE(t->ndim == out->ndim, EQ_ERR_SHAPE);
    for (int32_t k = 0; k < out->ndim; ++k) EQ_ENSURE(k == axis || t->dims[k] == out->dims[k], EQ_ERR_SHAPE);
    axis_sum += t->dims[axis];
    d->inner[i] = t->dims[axis] * inner_tail;
  }
  EQ_ENSURE(axis_sum == out->dims[axis], EQ_ERR_SHAPE);
  node->data = d;
  return EQ_OK;
}

static eq_status concatenation_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const concat_data *d = node->data;
  const void *ins[EQ_MAX_OP_IO];
  for (int32_t i = 0; i < node->n_in; ++i) ins[i] = node->in[i]->data;
  eq_concatenation(node->n_in, ins, d->inner, d->outer, EQ_IS_INT16(node->out[0]) ? 2 : 1, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_concatenation = {"CONCATENATION", concatenation_prepare, concatenation_eval};
