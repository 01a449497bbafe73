/* AVERAGE_POOL_2D, int8, int16 or float32. */
#include "eq_kernels_s16.h"
#include "pool_common.h"
#include "int16_common.h"

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  (void)ctx;
  const pool_data *d = n->data;
  if (n->out[0]->type == EQ_FLOAT32) {
    const pool_f32_data *e = n->data;
    eq_average_pool_f32(&d->p, e->act_min, e->act_max, &d->in, n->in[0]->data, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  if (EQ_IS_INT16(n->out[0])) {
    eq_average_pool_s16(&d->p, &d->in, n->in[0]->data, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  eq_kernels()->ew->average_pool_s8(&d->p, &d->in, n->in[0]->data, &d->out, n->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_average_pool_2d = {"AVERAGE_POOL_2D", pool_prepare, eval};
