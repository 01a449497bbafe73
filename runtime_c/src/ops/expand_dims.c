/* EXPAND_DIMS: only the shape changes. The planner may alias output and input; otherwise copy. */
#include "elementwise_common.h"

static eq_status expand_dims_prepare(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  EQ_ENSURE(node->n_in >= 1 && node->n_out == 1 && node->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *out = node->out[0];
  EQ_ENSURE(in->type == out->type, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out) && in->bytes == out->bytes, EQ_ERR_SHAPE);
  return EQ_OK;
}

static eq_status expand_dims_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (node->out[0]->data != node->in[0]->data) memcpy(node->out[0]->data, node->in[0]->data, node->in[0]->bytes);
  return EQ_OK;
}

const eq_op_impl eq_op_expand_dims = {"EXPAND_DIMS", expand_dims_prepare, expand_dims_eval};
