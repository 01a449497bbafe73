/* LEAKY_RELU (int8, symmetric int16): identity and alpha multipliers, each from float products as LiteRT's prepare. */
#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

static eq_status leaky_relu_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 1 && node->n_out == 1 && node->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *out = node->out[0];
  if (EQ_IS_INT16(in) && EQ_IS_INT16(out)) EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  else EQ_ENSURE(eq_is_q8(in) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out), EQ_ERR_SHAPE);
  eq_leaky_relu_params *p = eq_alloc_persistent(ctx, sizeof *p);
  EQ_ENSURE(p, EQ_ERR_ARENA_TOO_SMALL);
  const float alpha = eq_opt_f32(&node->options, 0, 0.0f);
  const float real_alpha = in->scale * alpha / out->scale;
  const float real_identity = in->scale / out->scale;
  /* A negative alpha gives a negative multiplier: quantize its magnitude and negate, which is what
   * frexp/round produce for the negative value. */
  const float mag = real_alpha < 0.0f ? -real_alpha : real_alpha;
  eq_status st = eq_quantize_multiplier((double)mag, &p->multiplier_alpha, &p->shift_alpha);
  if (st == EQ_OK) st = eq_quantize_multiplier((double)real_identity, &p->multiplier_identity, &p->shift_identity);
  if (st != EQ_OK) return st;
  if (real_alpha < 0.0f) p->multiplier_alpha = -p->multiplier_alpha;
  p->in_zp = in->zero_point;
  p->out_zp = out->zero_point;
  node->data = p;
  return EQ_OK;
}

static eq_status leaky_relu_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (EQ_IS_INT16(node->out[0])) {
    eq_leaky_relu_s16(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->leaky_relu_s8(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_leaky_relu = {"LEAKY_RELU", leaky_relu_prepare, leaky_relu_eval};
