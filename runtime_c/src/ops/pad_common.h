/* PAD and PADV2 share one prepare: constant [rank, 2] paddings (int32 or int64); PAD pads with the
 * output zero point, PADV2 with its constant scalar (which must share the output's quantization).
 * int8 or int16 elements. */
#ifndef EDGEQ_OPS_PAD_COMMON_H
#define EDGEQ_OPS_PAD_COMMON_H

#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  int32_t ndim;
  int32_t dims[EQ_MAX_DIMS], before[EQ_MAX_DIMS], after[EQ_MAX_DIMS];
  int16_t value; /* the pad value of the element type */
} eq_pad_data;

static inline eq_status eq_pad_prepare(eq_ctx *ctx, eq_node *node, int v2) {
  EQ_ENSURE(node->n_in >= 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *pads = node->in[1], *out = node->out[0];
  const int s16 = EQ_IS_INT16(in) && EQ_IS_INT16(out);
  EQ_ENSURE(s16 || (in->type == EQ_INT8 && out->type == EQ_INT8 && eq_is_q8(out)), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(!s16 || (out->nq >= 1 && out->scale > 0.0f), EQ_ERR_QUANT);
  EQ_ENSURE(in->ndim <= EQ_MAX_DIMS && in->ndim == out->ndim, EQ_ERR_SHAPE);
  EQ_ENSURE(pads->ndim == 2 && pads->dims[0] == in->ndim && pads->dims[1] == 2, EQ_ERR_SHAPE);
  EQ_ENSURE(eq_is_const_index(pads, 2 * in->ndim), EQ_ERR_UNSUPPORTED_TYPE);
  eq_pad_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  d->ndim = in->ndim;
  for (int32_t k = 0; k < in->ndim; ++k) {
    const int64_t b = eq_const_index(pads, 2 * k), a = eq_const_index(pads, 2 * k + 1);
    EQ_ENSURE(b >= 0 && a >= 0 && in->dims[k] + b + a == out->dims[k], EQ_ERR_SHAPE);
    d->dims[k] = in->dims[k];
    d->before[k] = (int32_t)b;
    d->after[k] = (int32_t)a;
  }
  EQ_ENSURE(out->zero_point >= (s16 ? INT16_MIN : -128) && out->zero_point <= (s16 ? INT16_MAX : 127), EQ_ERR_QUANT);
  d->value = (int16_t)out->zero_point;
  if (v2 && node->n_in >= 3 && node->in[2]) {
    const eq_tensor *cv = node->in[2];
    EQ_ENSURE(cv->type == out->type && cv->is_const && cv->data && eq_num_elements(cv) == 1, EQ_ERR_UNSUPPORTED_TYPE);
    EQ_ENSURE(cv->nq >= 1 && cv->zero_point == out->zero_point && cv->scale == out->scale, EQ_ERR_QUANT);
    if (s16) {
      int16_t v;
      memcpy(&v, cv->data, sizeof v); /* constants may sit unaligned in the model */
      d->value = v;
    } else {
      d->value = *(const int8_t *)cv->data;
    }
  }
  node->data = d;
  return EQ_OK;
}

static inline eq_status eq_pad_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const eq_pad_data *d = node->data;
  const int16_t v16 = d->value;
  const int8_t v8 = (int8_t)d->value;
  if (EQ_IS_INT16(node->out[0]))
    eq_pad(d->ndim, d->dims, d->before, d->after, 2, &v16, node->in[0]->data, node->out[0]->data);
  else
    eq_pad(d->ndim, d->dims, d->before, d->after, 1, &v8, node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

#endif
