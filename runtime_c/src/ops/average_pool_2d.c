/* AVERAGE_POOL_2D, int8 or int16. */
#include "eq_kernels_s16.h"
#include "pool_common.h"
#include "int16_common.h"

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  const pool_data *d = n->data;
  if (EQ_IS_INT16(n->out[0])) {
    eq_average_pool_s16(&d->p, &d->in, n->in[0]->data, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->average_pool_s8(&d->p, &d->in, n->in[0]->data, &d->out, n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_average_pool_2d = {"AVERAGE_POOL_2D", pool_prepare, eval};
