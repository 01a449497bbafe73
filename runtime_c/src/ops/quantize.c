/* QUANTIZE: float32 -> int8/uint8/int16 (per-tensor), and integer requantization with multiplier
 * input_scale / output_scale (double), as TFLite's reference: int8/uint8 -> int8/uint8, and the int16
 * forms LiteRT has (int8 -> int16, int16 -> int8/int16/int32, int32 -> int8/int16). */
#include "../op_util.h"
#include "eq_kernels_core.h"
#include "eq_kernels_s16.h"
#include "int16_common.h"

typedef struct {
  int32_t multiplier, shift;
  int32_t count;
} quantize_data;

static int is8(eq_type t) { return t == EQ_INT8 || t == EQ_UINT8; }

/* The integer requantizations LiteRT supports that involve int16 or int32. */
static int wide_pair(eq_type in, eq_type out) {
  if (!EQ_WITH_INT16) return 0;
  if (in == EQ_INT16) return out == EQ_INT8 || out == EQ_INT16 || out == EQ_INT32;
  if (in == EQ_INT32) return out == EQ_INT8 || out == EQ_INT16;
  return (in == EQ_INT8 || in == EQ_UINT8) && out == EQ_INT16;
}

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in == 1 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  const int from_float = in->type == EQ_FLOAT32 && (is8(out->type) || EQ_IS_INT16(out));
  EQ_ENSURE(from_float || (is8(in->type) && is8(out->type)) || wide_pair(in->type, out->type),
            EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_same_shape(in, out), EQ_ERR_SHAPE);
  EQ_ENSURE(out->nq == 1 && out->scale > 0.0f, EQ_ERR_QUANT);
  if (EQ_IS_INT16(in) && EQ_IS_INT16(out)) EQ_ENSURE(in->zero_point == 0 && out->zero_point == 0, EQ_ERR_QUANT);
  quantize_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  d->count = eq_num_elements(in);
  if (!from_float) {
    EQ_ENSURE(in->nq == 1 && in->scale > 0.0f, EQ_ERR_QUANT);
    eq_status st = eq_quantize_multiplier((double)in->scale / (double)out->scale, &d->multiplier, &d->shift);
    if (st != EQ_OK) return st;
  }
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  const quantize_data *d = n->data;
  const eq_tensor *in = n->in[0], *out = n->out[0];
  if (in->type == EQ_FLOAT32) {
    if (out->type == EQ_INT8) eq_quantize_f32_s8(in->data, d->count, out->scale, out->zero_point, out->data);
    else if (out->type == EQ_UINT8) eq_quantize_f32_u8(in->data, d->count, out->scale, out->zero_point, out->data);
    else if (EQ_IS_INT16(out)) eq_quantize_f32_s16(in->data, d->count, out->scale, out->zero_point, out->data);
  } else if (is8(in->type) && is8(out->type)) {
    eq_requantize_8(in->data, in->type == EQ_INT8, d->count, in->zero_point, d->multiplier, d->shift,
                    out->zero_point, out->data, out->type == EQ_INT8);
  } else if (EQ_WITH_INT16) {
    eq_requantize_int(in->data, in->type, d->count, in->zero_point, d->multiplier, d->shift, out->zero_point,
                      out->data, out->type);
  }
  return EQ_OK;
}

const eq_op_impl eq_op_quantize = {"QUANTIZE", prepare, eval};
