/* ADD: int8 with numpy broadcasting up to 6-D and a fused activation (AddOptions: activation 0).
 * Multipliers as TFLite computes them: both inputs to twice the larger input scale, 20 bits of
 * headroom, then back to the output scale. */
#include "../op_util.h"
#include "eq_kernels_ew.h"

typedef struct {
  eq_add_params p;
  eq_broadcast bc;
} add_data;

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 2 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
  EQ_ENSURE(a->type == EQ_INT8 && b->type == EQ_INT8 && out->type == EQ_INT8, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(a->nq >= 1 && b->nq >= 1 && out->nq >= 1, EQ_ERR_QUANT);
  EQ_ENSURE(a->scale > 0.0f && b->scale > 0.0f && out->scale > 0.0f, EQ_ERR_QUANT);
  add_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = eq_broadcast_prepare(a, b, out, &d->bc);
  if (st != EQ_OK) return st;
  eq_add_params *p = &d->p;
  p->left_shift = 20;
  p->in1_offset = -a->zero_point;
  p->in2_offset = -b->zero_point;
  p->out_offset = out->zero_point;
  const double twice_max = (double)(2.0f * (a->scale > b->scale ? a->scale : b->scale));
  const double real_out = twice_max / (double)((float)(1 << p->left_shift) * out->scale);
  st = eq_quantize_multiplier((double)a->scale / twice_max, &p->in1_multiplier, &p->in1_shift);
  if (st == EQ_OK) st = eq_quantize_multiplier((double)b->scale / twice_max, &p->in2_multiplier, &p->in2_shift);
  if (st == EQ_OK) st = eq_quantize_multiplier(real_out, &p->out_multiplier, &p->out_shift);
  if (st != EQ_OK) return st;
  EQ_ENSURE(p->in1_shift <= 0 && p->in2_shift <= 0 && p->out_shift <= 0, EQ_ERR_QUANT);
  st = eq_activation_range(eq_opt_i32(&n->options, 0, EQ_ACT_NONE), out, &p->act_min, &p->act_max);
  if (st != EQ_OK) return st;
  /* No rescale tables: 2 kB of persistent memory per ADD (6 kB, a tenth of ResNet's arena) buys the
   * scalar kernel about 2x on ADD alone; the SIMD variants compute the rescale in lanes anyway. */
  p->in1_table = p->in2_table = NULL;
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  const add_data *d = n->data;
  eq_kernels()->ew->add_s8(&d->p, d->bc.dims, d->bc.stride_a, d->bc.stride_b, n->in[0]->data, n->in[1]->data, n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_add = {"ADD", prepare, eval};
