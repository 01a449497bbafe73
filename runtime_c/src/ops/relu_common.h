/* RELU and RELU6 share one prepare: requantize by in_scale / out_scale, clamp to [0, max] in the output
 * domain (max = +inf for RELU, 6 for RELU6), as LiteRT's QuantizedReluX; int8 or symmetric int16. */
#ifndef EDGEQ_OPS_RELU_COMMON_H
#define EDGEQ_OPS_RELU_COMMON_H

#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

static inline eq_status eq_relu_prepare(eq_ctx *ctx, eq_node *node, int relu6) {
  EQ_ENSURE(node->n_in == 1 && node->n_out == 1 && node->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *out = node->out[0];
  const int s16 = EQ_IS_INT16(in) && EQ_IS_INT16(out);
  if (s16) EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  else EQ_ENSURE(eq_is_q8(in) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out), EQ_ERR_SHAPE);
  const int32_t qmin = s16 ? INT16_MIN : -128, qmax = s16 ? INT16_MAX : 127;
  eq_relu_params *p = eq_alloc_persistent(ctx, sizeof *p);
  EQ_ENSURE(p, EQ_ERR_ARENA_TOO_SMALL);
  const float real = in->scale / out->scale;
  eq_status st = eq_quantize_multiplier((double)real, &p->multiplier, &p->shift);
  if (st != EQ_OK) return st;
  p->in_zp = in->zero_point;
  p->out_zp = out->zero_point;
  const int64_t lo = out->zero_point + eq_round_f32(0.0f / out->scale);
  p->act_min = lo > qmin ? (int32_t)lo : qmin;
  p->act_max = qmax;
  if (relu6) {
    const int64_t hi = out->zero_point + eq_round_f32(6.0f / out->scale);
    p->act_max = hi < qmax ? (int32_t)hi : qmax;
  }
  node->data = p;
  return EQ_OK;
}

static inline eq_status eq_relu_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (EQ_IS_INT16(node->out[0])) {
    eq_relu_s16(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->relu_s8(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

#endif
