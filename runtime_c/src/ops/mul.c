/* MUL (int8, int16): one output multiplier in_scale1 * in_scale2 / out_scale, inputs broadcast up to 6-D.
 * int16 must be symmetric: LiteRT forms the product of raw values in 32 bits. */
#include "../../kernels/eq_kernels_ew.h"
#include "../../kernels/eq_kernels_s16.h"
#include "int16_common.h"
#include "elementwise_common.h"

typedef struct {
  eq_mul_params p;
  eq_bcast b;
} mul_data;

static eq_status mul_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *a = node->in[0], *b = node->in[1], *out = node->out[0];
  const int s16 = EQ_IS_INT16(a) && EQ_IS_INT16(b) && EQ_IS_INT16(out);
  if (s16) EQ_ENSURE(eq_is_q16(a) && eq_is_q16(b) && eq_is_q16(out), EQ_ERR_QUANT);
  else EQ_ENSURE(eq_is_q8(a) && eq_is_q8(b) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  mul_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t odims[EQ_MAX_DIMS], ond;
  EQ_ENSURE(eq_bcast_init(&d->b, a->dims, a->ndim, b->dims, b->ndim, odims, &ond) == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(ond == out->ndim && memcmp(odims, out->dims, sizeof(int32_t) * (size_t)ond) == 0, EQ_ERR_SHAPE);
  eq_mul_params *p = &d->p;
  /* The product of scales is formed in float, as LiteRT's prepare does. */
  const float real = a->scale * b->scale / out->scale;
  eq_status st = eq_quantize_multiplier((double)real, &p->out_multiplier, &p->out_shift);
  if (st != EQ_OK) return st;
  p->in1_offset = -a->zero_point;
  p->in2_offset = -b->zero_point;
  p->out_offset = out->zero_point;
  st = eq_activation_range(eq_opt_i32(&node->options, 0, 0), out, &p->act_min, &p->act_max);
  if (st != EQ_OK) return st;
  node->data = d;
  return EQ_OK;
}

static eq_status mul_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const mul_data *d = node->data;
  if (EQ_IS_INT16(node->out[0])) {
    eq_mul_s16(&d->p, &d->b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->mul_s8(&d->p, &d->b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_mul = {"MUL", mul_prepare, mul_eval};
