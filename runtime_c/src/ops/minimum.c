/* MINIMUM (int8, int16): raw comparison of the operands, broadcast up to 6-D. */
#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

static eq_status minimum_prepare(eq_ctx *ctx, eq_node *node) {
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

static eq_status minimum_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (EQ_IS_INT16(node->out[0])) {
    eq_minimum_s16(node->data, node->in[0]->data, node->in[1]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->minimum_s8(node->data, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_minimum = {"MINIMUM", minimum_prepare, minimum_eval};
