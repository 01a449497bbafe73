/* SUB (int8, int16): LiteRT's general quantized subtraction, inputs broadcast up to 6-D (SubOptions:
 * activation 0, pot_scale_int16 1). int16 uses 15 bits of headroom instead of 20, or, with power-of-two
 * scales and pot_scale_int16 set (the schema's default), LiteRT's shift-only path. */
#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  eq_sub_params p;
  eq_bcast b;
} sub_data;

/* int16 only: the int8 record stays as it was. */
typedef struct {
  sub_data general;
  eq_pot_params pot;
  int32_t use_pot;
} sub16_data;

static eq_status quantize_below_one(double real, int32_t *m, int32_t *s) {
  eq_status st = eq_quantize_multiplier(real, m, s);
  return st == EQ_OK && *s > 0 ? EQ_ERR_QUANT : st;
}

static eq_status general_params(const eq_tensor *a, const eq_tensor *b, const eq_tensor *out, int32_t act,
                                eq_sub_params *p);

static eq_status sub16_prepare(eq_ctx *ctx, eq_node *node) {
  const eq_tensor *a = node->in[0], *b = node->in[1], *out = node->out[0];
  EQ_ENSURE(eq_is_q16(a) && eq_is_q16(b) && eq_is_q16(out), EQ_ERR_QUANT);
  sub16_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t odims[EQ_MAX_DIMS], ond;
  EQ_ENSURE(eq_bcast_init(&d->general.b, a->dims, a->ndim, b->dims, b->ndim, odims, &ond) == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(ond == out->ndim && memcmp(odims, out->dims, sizeof(int32_t) * (size_t)ond) == 0, EQ_ERR_SHAPE);
  const int32_t act = eq_opt_i32(&node->options, 0, 0);
  int32_t log2[3];
  d->use_pot = eq_pot_int16_applies(node, log2);
  eq_status st =
      d->use_pot ? eq_pot_int16_params(log2, act, out, &d->pot) : general_params(a, b, out, act, &d->general.p);
  if (st != EQ_OK) return st;
  node->data = d;
  return EQ_OK;
}

static eq_status sub_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *a = node->in[0], *b = node->in[1], *out = node->out[0];
  if (EQ_IS_INT16(a) && EQ_IS_INT16(b) && EQ_IS_INT16(out)) return sub16_prepare(ctx, node);
  EQ_ENSURE(eq_is_q8(a) && eq_is_q8(b) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  sub_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t odims[EQ_MAX_DIMS], ond;
  EQ_ENSURE(eq_bcast_init(&d->b, a->dims, a->ndim, b->dims, b->ndim, odims, &ond) == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(ond == out->ndim && memcmp(odims, out->dims, sizeof(int32_t) * (size_t)ond) == 0, EQ_ERR_SHAPE);
  eq_status st = general_params(a, b, out, eq_opt_i32(&node->options, 0, 0), &d->p);
  if (st != EQ_OK) return st;
  node->data = d;
  return EQ_OK;
}

/* Both inputs go to twice the larger input scale, with 20 bits of headroom (15 for int16). */
static eq_status general_params(const eq_tensor *a, const eq_tensor *b, const eq_tensor *out, int32_t act,
                                eq_sub_params *p) {
  p->left_shift = EQ_IS_INT16(out) ? 15 : 20;
  const float twice_max = 2.0f * (a->scale > b->scale ? a->scale : b->scale);
  eq_status st = quantize_below_one((double)a->scale / twice_max, &p->in1_multiplier, &p->in1_shift);
  if (st == EQ_OK) st = quantize_below_one((double)b->scale / twice_max, &p->in2_multiplier, &p->in2_shift);
  if (st == EQ_OK)
    st = eq_quantize_multiplier((double)twice_max / (double)((float)(1 << p->left_shift) * out->scale), &p->out_multiplier,
                                &p->out_shift);
  if (st != EQ_OK) return st;
  p->in1_offset = -a->zero_point;
  p->in2_offset = -b->zero_point;
  p->out_offset = out->zero_point;
  return eq_activation_range(act, out, &p->act_min, &p->act_max);
}

static eq_status sub_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  if (EQ_IS_INT16(node->out[0])) {
    const sub16_data *e = node->data;
    if (e->use_pot) eq_sub_s16_pot(&e->pot, &e->general.b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
    else eq_sub_s16(&e->general.p, &e->general.b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
    return EQ_OK;
  }
  const sub_data *d = node->data;
  eq_kernels()->ew->sub_s8(&d->p, &d->b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_sub = {"SUB", sub_prepare, sub_eval};
