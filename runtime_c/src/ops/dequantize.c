/* DEQUANTIZE: int8/uint8/int16 -> float32, (float)(scale * (q - zero_point)) with the scale in double. */
#include "../op_util.h"
#include "eq_kernels_core.h"
#include "eq_kernels_s16.h"
#include "int16_common.h"

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  EQ_ENSURE(n->n_in == 1 && n->n_out == 1 && n->in[0], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *out = n->out[0];
  EQ_ENSURE((in->type == EQ_INT8 || in->type == EQ_UINT8 || EQ_IS_INT16(in)) && out->type == EQ_FLOAT32,
            EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_same_shape(in, out), EQ_ERR_SHAPE);
  EQ_ENSURE(in->nq == 1, EQ_ERR_QUANT);
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  const eq_tensor *in = n->in[0];
  if (EQ_IS_INT16(in)) {
    eq_dequantize_s16(in->data, eq_num_elements(in), (double)in->scale, in->zero_point, n->out[0]->data);
    return EQ_OK;
  }
  eq_dequantize_8(in->data, in->type == EQ_INT8, eq_num_elements(in), (double)in->scale, in->zero_point,
                  n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_dequantize = {"DEQUANTIZE", prepare, eval};
