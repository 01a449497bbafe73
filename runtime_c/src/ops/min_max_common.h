/* MAXIMUM and MINIMUM share prepare and eval: both compare raw values of same-typed operands (int8 or
 * int16), broadcast up to 6-D; only the kernel differs, and each op file passes its own so a per-model
 * image links just the kernels of the ops it has. */
#ifndef EDGEQ_OPS_MIN_MAX_COMMON_H
#define EDGEQ_OPS_MIN_MAX_COMMON_H

#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

static inline eq_status eq_min_max_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *a = node->in[0], *b = node->in[1], *out = node->out[0];
  EQ_ENSURE((a->type == EQ_INT8 || EQ_IS_INT16(a)) && b->type == a->type && out->type == a->type,
            EQ_ERR_UNSUPPORTED_TYPE);
  eq_bcast *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t odims[EQ_MAX_DIMS], ond;
  EQ_ENSURE(eq_bcast_init(d, a->dims, a->ndim, b->dims, b->ndim, odims, &ond) == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(ond == out->ndim && memcmp(odims, out->dims, sizeof(int32_t) * (size_t)ond) == 0, EQ_ERR_SHAPE);
  node->data = d;
  return EQ_OK;
}

static inline eq_status eq_min_max_eval(const eq_node *node,
                                        void (*s16)(const eq_bcast *, const int16_t *, const int16_t *, int16_t *),
                                        void (*s8)(const eq_bcast *, const int8_t *, const int8_t *, int8_t *)) {
  if (EQ_IS_INT16(node->out[0])) s16(node->data, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  else s8(node->data, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  return EQ_OK;
}

#endif
