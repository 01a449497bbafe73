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

/* Bytes the planner borrows from the head: must match planner.c's tmp_bytes(). */
static size_t planner_temp(const struct eq_ctx *c) {
  size_t nb = (size_t)c->n_tensors + (size_t)c->n_scratch, nt = (size_t)c->n_tensors;
  return eq_align_up(sizeof(size_t) * nb) * 3 + eq_align_up(sizeof(int32_t) * nb) * 4 +
         eq_align_up(sizeof(int32_t) * nt) * 2;
}

eq_status eq_arena_layout(const eq_interp *it, eq_arena_layout_info *layout) {
  const struct eq_ctx *c = ready(it);
  if (!c || !layout) return EQ_ERR_ARGUMENT;
  size_t peak = 0;
  for (int32_t t = 0; t < c->n_tensors; ++t) {
    const eq_tensor *x = &c->tensors[t];
    if (x->is_const || !x->data) continue;
    size_t end = (size_t)((const uint8_t *)x->data - c->base) + eq_align_up(x->bytes);
    if (x->bytes && end > peak) peak = end;
  }
  for (int32_t s = 0; s < c->n_scratch; ++s) {
    size_t end = c->scratch_off[s] + eq_align_up(c->scratch_bytes[s]);
    if (c->scratch_bytes[s] && end > peak) peak = end;
  }
  layout->total = eq_arena_used(it);
  layout->head = c->head;
  layout->planned_peak = peak;
  layout->planner_temp = planner_temp(c);
  layout->persistent = c->size - c->tail;
  return EQ_OK;
}

int32_t eq_tensor_count(const eq_interp *it) { return ready(it) ? it->ctx->n_tensors : 0; }

eq_status eq_tensor_at(const eq_interp *it, int32_t index, eq_tensor_info *info) {
  const struct eq_ctx *c = ready(it);
  if (!c || !info || index < 0 || index >= c->n_tensors) return EQ_ERR_ARGUMENT;
  const eq_tensor *t = &c->tensors[index];
  eq_tensor scratch;
  memset(info, 0, sizeof *info);
  eq_model_tensor(c->model, index, &scratch, &info->name);
  info->index = index;
  info->type = (int32_t)t->type;
  info->ndim = t->ndim;
  for (int32_t d = 0; d < t->ndim; ++d) info->dims[d] = t->dims[d];
  if (t->nq >= 1) { /* per-channel tensors report their first channel's values */
    info->scale = t->scale;
    info->zero_point = t->zero_point;
  }
  info->data = t->data;
  info->bytes = t->bytes;
  return EQ_OK;
}

int32_t eq_tensor_is_const(const eq_interp *it, int32_t index) {
  const struct eq_ctx *c = ready(it);
  if (!c || index < 0 || index >= c->n_tensors) return -1;
  return c->tensors[index].is_const ? 1 : 0;
}

int32_t eq_op_io_count(const eq_interp *it, int32_t op, int32_t is_output) {
  const struct eq_ctx *c = ready(it);
  if (!c || op < 0 || op >= c->n_nodes) return 0;
  return is_output ? c->nodes[op].n_out : c->nodes[op].n_in;
}

int32_t eq_op_io(const eq_interp *it, int32_t op, int32_t is_output, int32_t k) {
  const struct eq_ctx *c = ready(it);
  if (!c || op < 0 || op >= c->n_nodes) return -1;
  const eq_node *n = &c->nodes[op];
  if (k < 0 || k >= (is_output ? n->n_out : n->n_in)) return -1;
  const eq_tensor *t = is_output ? n->out[k] : n->in[k];
  return t ? (int32_t)(t - c->tensors) : -1;
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
    if (c->scratch_op[s] == op) total += c->scratch_bytes[s];
  return total;
}
