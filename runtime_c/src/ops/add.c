/* ADD: int8 or int16 with numpy broadcasting up to 6-D and a fused activation (AddOptions: activation 0,
 * pot_scale_int16 1). Multipliers as TFLite computes them: both inputs to twice the larger input scale,
 * 20 bits of headroom (15 for int16), then back to the output scale. int16 with power-of-two scales and
 * pot_scale_int16 set (the schema's default) takes LiteRT's shift-only path instead. */
#include "../op_util.h"
#include "eq_kernels_ew.h"
#include "eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  eq_add_params p;
  eq_broadcast bc;
} add_data;

/* int16 keeps its own record so that the int8 one (and the int8 arena) does not grow. */
typedef struct {
  add_data general;
  eq_pot_params pot;
  int32_t use_pot;
} add16_data;

static eq_status general_params(const eq_tensor *a, const eq_tensor *b, const eq_tensor *out, int32_t act,
                                int32_t left_shift, eq_add_params *p) {
  p->left_shift = left_shift;
  p->in1_offset = -a->zero_point;
  p->in2_offset = -b->zero_point;
  p->out_offset = out->zero_point;
  const double twice_max = (double)(2.0f * (a->scale > b->scale ? a->scale : b->scale));
  const double real_out = twice_max / (double)((float)(1 << p->left_shift) * out->scale);
  eq_status st = eq_quantize_multiplier((double)a->scale / twice_max, &p->in1_multiplier, &p->in1_shift);
  if (st == EQ_OK) st = eq_quantize_multiplier((double)b->scale / twice_max, &p->in2_multiplier, &p->in2_shift);
  if (st == EQ_OK) st = eq_quantize_multiplier(real_out, &p->out_multiplier, &p->out_shift);
  if (st != EQ_OK) return st;
  EQ_ENSURE(p->in1_shift <= 0 && p->in2_shift <= 0 && p->out_shift <= 0, EQ_ERR_QUANT);
  p->in1_table = p->in2_table = NULL;
  return eq_activation_range(act, out, &p->act_min, &p->act_max);
}

static eq_status prepare16(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
  EQ_ENSURE(eq_is_q16(a) && eq_is_q16(b) && eq_is_q16(out), EQ_ERR_QUANT);
  add16_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = eq_broadcast_prepare(a, b, out, &d->general.bc);
  if (st != EQ_OK) return st;
  const int32_t act = eq_opt_i32(&n->options, 0, EQ_ACT_NONE);
  int32_t log2[3];
  d->use_pot = eq_pot_int16_applies(n, log2);
  if (!d->use_pot) {
    st = general_params(a, b, out, act, 15, &d->general.p);
  } else {
    /* LiteRT runs this path elementwise only; it has no broadcasting form. */
    EQ_ENSURE(eq_same_shape(a, b) && eq_same_shape(a, out), EQ_ERR_UNSUPPORTED_TYPE);
    st = eq_pot_int16_params(log2, act, out, &d->pot);
  }
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 2 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
  if (EQ_IS_INT16(a) && EQ_IS_INT16(b) && EQ_IS_INT16(out)) return prepare16(ctx, n);
  EQ_ENSURE(a->type == EQ_INT8 && b->type == EQ_INT8 && out->type == EQ_INT8, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(a->nq >= 1 && b->nq >= 1 && out->nq >= 1, EQ_ERR_QUANT);
  EQ_ENSURE(a->scale > 0.0f && b->scale > 0.0f && out->scale > 0.0f, EQ_ERR_QUANT);
  add_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = eq_broadcast_prepare(a, b, out, &d->bc);
  if (st != EQ_OK) return st;
  /* No rescale tables: 2 kB of persistent memory per ADD (6 kB, a tenth of ResNet's arena) buys the
   * scalar kernel about 2x on ADD alone; the SIMD variants compute the rescale in lanes anyway. */
  st = general_params(a, b, out, eq_opt_i32(&n->options, 0, EQ_ACT_NONE), 20, &d->p);
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  if (EQ_IS_INT16(n->out[0])) {
    const add16_data *e = n->data;
    if (e->use_pot)
      eq_add_s16_pot(&e->pot, eq_num_elements(n->out[0]), n->in[0]->data, n->in[1]->data, n->out[0]->data);
    else
      eq_add_s16(&e->general.p, e->general.bc.dims, e->general.bc.stride_a, e->general.bc.stride_b, n->in[0]->data,
                 n->in[1]->data, n->out[0]->data);
    return EQ_OK;
  }
  const add_data *d = n->data;
  eq_kernels()->ew->add_s8(&d->p, d->bc.dims, d->bc.stride_a, d->bc.stride_b, n->in[0]->data, n->in[1]->data, n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_add = {"ADD", prepare, eval};
