/* LOGISTIC (int8): a 256-entry table built at prepare time with LiteRT's float formula. */
#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

static eq_status logistic_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 1 && node->n_out == 1 && node->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *out = node->out[0];
  if (EQ_IS_INT16(in) && EQ_IS_INT16(out)) return eq_sigmoid_s16_prepare(ctx, node, 0);
  EQ_ENSURE(eq_is_q8(in) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out), EQ_ERR_SHAPE);
  /* LiteRT accepts only the fixed output scale 1/256 for int8 LOGISTIC. */
  EQ_ENSURE(out->scale == 1.0f / 256.0f, EQ_ERR_QUANT);
  int8_t *table = eq_alloc_persistent(ctx, 256);
  EQ_ENSURE(table, EQ_ERR_ARENA_TOO_SMALL);
  eq_logistic_s8_table(in->scale, in->zero_point, out->scale, out->zero_point, table);
  node->data = table;
  return EQ_OK;
}

static eq_status logistic_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (EQ_IS_INT16(node->out[0])) {
    eq_logistic_s16(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->lut_s8(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_logistic = {"LOGISTIC", logistic_prepare, logistic_eval};
