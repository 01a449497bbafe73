/* RESHAPE: the output has the input's bytes under the model's static output shape. The planner
 * normally gives both the same buffer, so eval copies only when they differ. */
#include <string.h>

#include "../op_util.h"

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  EQ_ENSURE(n->n_in >= 1 && n->n_in <= 2 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  EQ_ENSURE(in->type == out->type, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out) && in->bytes == out->bytes, EQ_ERR_SHAPE);
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  if (n->out[0]->data != n->in[0]->data) memcpy(n->out[0]->data, n->in[0]->data, n->in[0]->bytes);
  return EQ_OK;
}

const eq_op_impl eq_op_reshape = {"RESHAPE", prepare, eval};
