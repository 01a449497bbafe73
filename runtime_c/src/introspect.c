/* Read-only views of an initialised interpreter (edgeq_introspect.h): the plan's layout, every tensor
 * and each op's scratch, from the same tables eq_invoke uses, so tools report what the runtime does. */
#include "edgeq_introspect.h"

#include <string.h>

#include "eq_kernels.h"
#include "interp.h"
#include "model.h"

const char *eq_kernel_isa(void) { return eq_kernels()->isa; }

static const struct eq_ctx *ready(const eq_interp *it) {
  return it && it->ctx && it->ctx->phase == EQ_PHASE_PLANNED ? it->ctx : NULL;
}

eq_status eq_arena_layout(const eq_interp *it, eq_arena_layout_info *layout) {
  const struct eq_ctx *c = ready(it);
  if (!c || !layout) return EQ_ERR_ARGUMENT;
  size_t peak = 0;
  for (int32_t t = 0; t < c->n_tensors; ++t) {
    eq_tensor x;
    const char *name;
    if (eq_ctx_tensor(c, t, &x, &name) != EQ_OK || x.is_const || !x.data) continue;
    size_t end = (size_t)((const uint8_t *)x.data - c->base) + eq_align_up(x.bytes);
    if (x.bytes && end > peak) peak = end;
  }
  for (int32_t s = 0; s < c->n_scratch; ++s) {
    size_t end = c->scratch[s].off + eq_align_up(c->scratch[s].bytes);
    if (c->scratch[s].bytes && end > peak) peak = end;
  }
  layout->total = eq_arena_used(it);
  layout->head = c->head;
  layout->planned_peak = peak;
  layout->planner_temp = c->plan_temp;
  layout->persistent = c->size - c->tail;
  return EQ_OK;
}

int32_t eq_tensor_count(const eq_interp *it) { return ready(it) ? it->ctx->n_tensors : 0; }

eq_status eq_tensor_at(const eq_interp *it, int32_t index, eq_tensor_info *info) {
  const struct eq_ctx *c = ready(it);
  if (!c || !info || index < 0 || index >= c->n_tensors) return EQ_ERR_ARGUMENT;
  eq_tensor t;
  memset(info, 0, sizeof *info);
  eq_status st = eq_ctx_tensor(c, index, &t, &info->name);
  if (st != EQ_OK) return st;
  info->index = index;
  info->type = (int32_t)t.type;
  info->ndim = t.ndim;
  for (int32_t d = 0; d < t.ndim; ++d) info->dims[d] = t.dims[d];
  if (t.nq >= 1) { /* per-channel tensors report their first channel's values */
    info->scale = t.scale;
    info->zero_point = t.zero_point;
  }
  info->data = t.data;
  info->bytes = t.bytes;
  return EQ_OK;
}

int32_t eq_tensor_is_const(const eq_interp *it, int32_t index) {
  const struct eq_ctx *c = ready(it);
  eq_tensor t;
  const char *name;
  if (!c || index < 0 || index >= c->n_tensors || eq_model_tensor(c->model, index, &t, &name) != EQ_OK) return -1;
  return t.is_const ? 1 : 0;
}

int32_t eq_op_io_count(const eq_interp *it, int32_t op, int32_t is_output) {
  const struct eq_ctx *c = ready(it);
  eq_op_desc d;
  if (!c || op < 0 || op >= c->n_nodes || eq_model_op(c->model, op, &d) != EQ_OK) return 0;
  return is_output ? d.n_out : d.n_in;
}

int32_t eq_op_io(const eq_interp *it, int32_t op, int32_t is_output, int32_t k) {
  const struct eq_ctx *c = ready(it);
  eq_op_desc d;
  if (!c || op < 0 || op >= c->n_nodes || eq_model_op(c->model, op, &d) != EQ_OK) return -1;
  if (k < 0 || k >= (is_output ? d.n_out : d.n_in)) return -1;
  return is_output ? d.out[k] : d.in[k];
}

eq_status eq_op_output(const eq_interp *it, int32_t op, int32_t k, eq_tensor_info *info) {
  int32_t t = eq_op_io(it, op, 1, k);
  if (t < 0) return EQ_ERR_ARGUMENT;
  return eq_tensor_at(it, t, info);
}

size_t eq_op_scratch_bytes(const eq_interp *it, int32_t op) {
  const struct eq_ctx *c = ready(it);
  if (!c) return 0;
  size_t total = 0;
  for (int32_t s = 0; s < c->n_scratch; ++s)
    if (c->scratch[s].op == op) total += c->scratch[s].bytes;
  return total;
}
