/* TRANSPOSE (int8, int16, float32): a constant int32 permutation of up to 6 axes (negative entries count from the end). */
#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  int32_t ndim, elem_bytes;
  int32_t dims[EQ_MAX_DIMS], perm[EQ_MAX_DIMS];
} transpose_data;

static eq_status transpose_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 2 && node->n_out == 1 && node->in[0] && node->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *perm = node->in[1], *out = node->out[0];
  /* pure data movement: float32 islands of mixed-precision and dynamic-range models move the same way */
  EQ_ENSURE((in->type == EQ_INT8 || EQ_IS_INT16(in) || in->type == EQ_FLOAT32) && out->type == in->type,
            EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim <= EQ_MAX_DIMS && out->ndim == in->ndim, EQ_ERR_SHAPE);
  EQ_ENSURE(perm->ndim == 1 && perm->dims[0] == in->ndim, EQ_ERR_SHAPE);
  EQ_ENSURE(eq_is_const_index(perm, in->ndim), EQ_ERR_UNSUPPORTED_TYPE);
  transpose_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  uint32_t seen = 0;
  d->ndim = in->ndim;
  d->elem_bytes = in->type == EQ_FLOAT32 ? 4 : EQ_IS_INT16(in) ? 2 : 1;
  for (int32_t k = 0; k < in->ndim; ++k) {
    int64_t p = eq_const_index(perm, k);
    if (p < 0) p += in->ndim;
    EQ_ENSURE(p >= 0 && p < in->ndim && !(seen & (1u << p)), EQ_ERR_SHAPE);
    seen |= 1u << p;
    d->perm[k] = (int32_t)p;
    d->dims[k] = in->dims[k];
    EQ_ENSURE(out->dims[k] == in->dims[p], EQ_ERR_SHAPE);
  }
  node->data = d;
  return EQ_OK;
}

static eq_status transpose_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const transpose_data *d = node->data;
  eq_transpose(d->ndim, d->dims, d->perm, (size_t)d->elem_bytes, node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_transpose = {"TRANSPOSE", transpose_prepare, transpose_eval};
