/* PRELU (int8; int16 input with int8 alpha, as LiteRT's 16x8 kernel reads alpha): alpha (usually a
 * constant per channel) broadcast against the input. */
#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "int16_common.h"
#include "elementwise_common.h"

typedef struct {
  eq_prelu_params p;
  eq_bcast b;
} prelu_data;

static eq_status prelu_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *alpha = node->in[1], *out = node->out[0];
  if (EQ_IS_INT16(in) || EQ_IS_INT16(out)) {
    /* LiteRT accepts an int16 alpha here but reads its bytes as int8: only int8 alpha is meaningful. */
    EQ_ENSURE(EQ_IS_INT16(in) && EQ_IS_INT16(out) && eq_is_q8(alpha), EQ_ERR_UNSUPPORTED_TYPE);
    EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  } else {
    EQ_ENSURE(eq_is_q8(in) && eq_is_q8(alpha) && eq_is_q8(out), EQ_ERR_UNSUPPORTED_TYPE);
  }
  prelu_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t odims[EQ_MAX_DIMS], ond;
  EQ_ENSURE(eq_bcast_init(&d->b, in->dims, in->ndim, alpha->dims, alpha->ndim, odims, &ond) == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(ond == out->ndim && memcmp(odims, out->dims, sizeof(int32_t) * (size_t)ond) == 0 &&
                eq_same_shape(in, out),
            EQ_ERR_SHAPE);
  eq_prelu_params *p = &d->p;
  const float real_pos = in->scale / out->scale;
  const float real_neg = in->scale * alpha->scale / out->scale;
  eq_status st = eq_quantize_multiplier((double)real_pos, &p->multiplier_pos, &p->shift_pos);
  if (st == EQ_OK) st = eq_quantize_multiplier((double)real_neg, &p->multiplier_neg, &p->shift_neg);
  if (st != EQ_OK) return st;
  p->in_offset = -in->zero_point;
  p->alpha_offset = -alpha->zero_point;
  p->out_offset = out->zero_point;
  node->data = d;
  return EQ_OK;
}

static eq_status prelu_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const prelu_data *d = node->data;
  if (EQ_IS_INT16(node->out[0])) {
    eq_prelu_s16(&d->p, &d->b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
    return EQ_OK;
  }
  eq_prelu_s8(&d->p, &d->b, node->in[0]->data, node->in[1]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_prelu = {"PRELU", prelu_prepare, prelu_eval};
