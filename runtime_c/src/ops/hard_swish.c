/* HARD_SWISH (int8): LiteRT's 16-bit fixed-point formulation; multipliers from float scales, rounded
 * down to Q15. */
#include "../../kernels/eq_kernels_ew.h"
#include "elementwise_common.h"

static int16_t q15_of(int32_t m) { /* TFLite's DownScaleInt32ToInt16Multiplier */
  if (m >= INT32_MAX - (1 << 15)) return INT16_MAX;
  return (int16_t)((m + (1 << 15)) >> 16);
}

static eq_status hard_swish_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 1 && node->n_out == 1 && node->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *out = node->out[0];
  EQ_ENSURE(eq_is_q8(in) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out), EQ_ERR_SHAPE);
  eq_hard_swish_params *p = eq_alloc_persistent(ctx, sizeof *p);
  EQ_ENSURE(p, EQ_ERR_ARENA_TOO_SMALL);
  const float hires_in_scale = (1.0f / 128.0f) * in->scale;
  const float reluish_scale = 3.0f / 32768.0f;
  const float out_real = hires_in_scale / out->scale;
  const float reluish_real = hires_in_scale / reluish_scale;
  int32_t m, e;
  eq_status st = eq_quantize_multiplier((double)out_real, &m, &e);
  if (st != EQ_OK) return st;
  EQ_ENSURE(e <= 0, EQ_ERR_QUANT); /* LiteRT rejects an output multiplier >= 1 too */
  p->out_multiplier = q15_of(m);
  p->out_exponent = e;
  st = eq_quantize_multiplier((double)reluish_real, &m, &e);
  if (st != EQ_OK) return st;
  p->reluish_multiplier = q15_of(m);
  p->reluish_exponent = e;
  p->in_zp = in->zero_point;
  p->out_zp = out->zero_point;
  node->data = p;
  return EQ_OK;
}

static eq_status hard_swish_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  eq_kernels()->ew->hard_swish_s8(node->data, eq_num_elements(node->in[0]), node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_hard_swish = {"HARD_SWISH", hard_swish_prepare, hard_swish_eval};
