/* eq_init / eq_invoke and the services op.h promises ops. */
#include "interp.h"

#include <string.h>

#include "model.h"

void *eq_ctx_tail_alloc(struct eq_ctx *ctx, size_t bytes) {
  size_t n = eq_align_up(bytes);
  if (n < bytes || n > ctx->tail - ctx->head) return NULL;
  ctx->tail -= n;
  memset(ctx->base + ctx->tail, 0, n);
  return ctx->base + ctx->tail;
}

void *eq_alloc_persistent(eq_ctx *ctx, size_t bytes) {
  if (!ctx || ctx->phase != EQ_PHASE_PREPARE) return NULL;
  return eq_ctx_tail_alloc(ctx, bytes);
}

eq_status eq_request_scratch(eq_ctx *ctx, size_t bytes, int32_t *handle) {
  if (!ctx || !handle || ctx->phase != EQ_PHASE_PREPARE) return EQ_ERR_STATE;
  if (ctx->n_scratch >= ctx->cap_scratch) return EQ_ERR_LIMIT;
  if (bytes > 0x7fffffffu) return EQ_ERR_LIMIT;
  ctx->scratch_bytes[ctx->n_scratch] = bytes;
  ctx->scratch_op[ctx->n_scratch] = -1; /* set by eq_init for the op being prepared */
  *handle = ctx->n_scratch++;
  return EQ_OK;
}

void *eq_scratch(eq_ctx *ctx, int32_t handle) {
  if (!ctx || ctx->phase != EQ_PHASE_PLANNED || handle < 0 || handle >= ctx->n_scratch) return NULL;
  return ctx->base + ctx->scratch_off[handle];
}

#define TRY(x)                    \
  do {                            \
    eq_status st_ = (x);          \
    if (st_ != EQ_OK) return st_; \
  } while (0)

/* Tables sized by the model, at the tail. */
static eq_status alloc_tables(struct eq_ctx *c) {
  const eq_model *m = c->model;
  c->n_tensors = m->n_tensors;
  c->n_nodes = m->n_ops;
  c->n_inputs = m->n_inputs;
  c->n_outputs = m->n_outputs;
  c->cap_scratch = 2 * m->n_ops;
  c->tensors = eq_ctx_tail_alloc(c, sizeof(eq_tensor) * (size_t)m->n_tensors);
  c->nodes = eq_ctx_tail_alloc(c, sizeof(eq_node) * (size_t)m->n_ops);
  c->impls = eq_ctx_tail_alloc(c, sizeof(void *) * (size_t)m->n_ops);
  c->inputs = eq_ctx_tail_alloc(c, sizeof(int32_t) * (size_t)m->n_inputs);
  c->outputs = eq_ctx_tail_alloc(c, sizeof(int32_t) * (size_t)m->n_outputs);
  c->scratch_bytes = eq_ctx_tail_alloc(c, sizeof(size_t) * (size_t)c->cap_scratch);
  c->scratch_off = eq_ctx_tail_alloc(c, sizeof(size_t) * (size_t)c->cap_scratch);
  c->scratch_op = eq_ctx_tail_alloc(c, sizeof(int32_t) * (size_t)c->cap_scratch);
  if (!c->tensors || !c->nodes || !c->impls || !c->inputs || !c->outputs || !c->scratch_bytes ||
      !c->scratch_off || !c->scratch_op)
    return EQ_ERR_ARENA_TOO_SMALL;
  return EQ_OK;
}

static eq_status build_graph(struct eq_ctx *c, int32_t *error_op) {
  const eq_model *m = c->model;
  const char *name;
  for (int32_t i = 0; i < c->n_tensors; ++i) TRY(eq_model_tensor(m, i, &c->tensors[i], &name));
  for (int32_t i = 0; i < c->n_inputs; ++i) TRY(eq_model_io(m, 0, i, &c->inputs[i]));
  for (int32_t i = 0; i < c->n_outputs; ++i) TRY(eq_model_io(m, 1, i, &c->outputs[i]));
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_op_desc d;
    eq_node *n = &c->nodes[i];
    *error_op = i;
    TRY(eq_model_op(m, i, &d));
    n->index = i;
    n->builtin = d.builtin;
    n->version = d.version;
    n->n_in = d.n_in;
    n->n_out = d.n_out;
    n->options = d.options;
    n->scratch[0] = n->scratch[1] = -1;
    for (int32_t k = 0; k < d.n_in; ++k) n->in[k] = d.in[k] < 0 ? NULL : &c->tensors[d.in[k]];
    for (int32_t k = 0; k < d.n_out; ++k) {
      n->out[k] = &c->tensors[d.out[k]];
      if (n->out[k]->is_const) return EQ_ERR_MODEL; /* an op may never write into the model */
    }
    c->impls[i] = eq_op_find(d.builtin);
    if (!c->impls[i] || !c->impls[i]->prepare || !c->impls[i]->eval) return EQ_ERR_UNSUPPORTED_OP;
  }
  *error_op = -1;
  return EQ_OK;
}

static eq_status prepare_ops(struct eq_ctx *c, int32_t *error_op) {
  c->phase = EQ_PHASE_PREPARE;
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    int32_t first = c->n_scratch;
    *error_op = i;
    TRY(c->impls[i]->prepare(c, &c->nodes[i]));
    for (int32_t s = first; s < c->n_scratch; ++s) c->scratch_op[s] = i;
  }
  *error_op = -1;
  return EQ_OK;
}

static eq_status init(eq_interp *it, const eq_model *model, void *arena, size_t arena_bytes) {
  if (!model || !model->buf || !arena) return EQ_ERR_ARGUMENT;
  if ((uintptr_t)arena % EQ_ARENA_ALIGN) return EQ_ERR_ARGUMENT;
  struct eq_ctx boot;
  memset(&boot, 0, sizeof boot);
  boot.base = (uint8_t *)arena;
  boot.size = boot.tail = arena_bytes & ~(size_t)(EQ_ARENA_ALIGN - 1);
  struct eq_ctx *c = eq_ctx_tail_alloc(&boot, sizeof boot);
  if (!c) return EQ_ERR_ARENA_TOO_SMALL;
  boot.model = model;
  memcpy(c, &boot, sizeof boot);
  TRY(alloc_tables(c));
  TRY(build_graph(c, &it->error_op));
  TRY(prepare_ops(c, &it->error_op));
  TRY(eq_plan(c, &it->error_op));
  c->phase = EQ_PHASE_PLANNED;
  it->ctx = c;
  return EQ_OK;
}

eq_status eq_init(eq_interp *it, const eq_model *model, void *arena, size_t arena_bytes) {
  if (!it) return EQ_ERR_ARGUMENT;
  it->ctx = NULL;
  it->error_op = -1;
  it->error_builtin = -1;
  eq_status st = init(it, model, arena, arena_bytes);
  if (st != EQ_OK && it->error_op >= 0 && model) {
    eq_op_desc d;
    eq_model_op(model, it->error_op, &d);
    it->error_builtin = d.builtin;
  }
  return st;
}

eq_status eq_arena_size(const eq_model *model, void *work, size_t work_bytes, size_t *bytes) {
  eq_interp it;
  if (!bytes) return EQ_ERR_ARGUMENT;
  eq_status st = eq_init(&it, model, work, work_bytes);
  *bytes = st == EQ_OK ? eq_arena_used(&it) : 0;
  return st;
}

size_t eq_arena_used(const eq_interp *it) {
  if (!it || !it->ctx) return 0;
  return it->ctx->head + (it->ctx->size - it->ctx->tail);
}

eq_status eq_invoke(eq_interp *it) {
  if (!it || !it->ctx || it->ctx->phase != EQ_PHASE_PLANNED) return EQ_ERR_STATE;
  struct eq_ctx *c = it->ctx;
  it->error_op = -1;
  it->error_builtin = -1;
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_node *n = &c->nodes[i];
    if (c->hook) c->hook(c->hook_user, i, n->builtin, 0);
    eq_status st = c->impls[i]->eval(c, n);
    if (c->hook) c->hook(c->hook_user, i, n->builtin, 1);
    if (st != EQ_OK) {
      it->error_op = i;
      it->error_builtin = n->builtin;
      return st;
    }
  }
  return EQ_OK;
}

int32_t eq_input_count(const eq_interp *it) { return it && it->ctx ? it->ctx->n_inputs : 0; }
int32_t eq_output_count(const eq_interp *it) { return it && it->ctx ? it->ctx->n_outputs : 0; }

static eq_status tensor_info(const eq_interp *it, int is_output, int32_t i, eq_tensor_info *info) {
  if (!it || !it->ctx || !info) return EQ_ERR_ARGUMENT;
  const struct eq_ctx *c = it->ctx;
  int32_t n = is_output ? c->n_outputs : c->n_inputs;
  if (i < 0 || i >= n) return EQ_ERR_ARGUMENT;
  int32_t ti = is_output ? c->outputs[i] : c->inputs[i];
  const eq_tensor *t = &c->tensors[ti];
  eq_tensor scratch;
  memset(info, 0, sizeof *info);
  eq_model_tensor(c->model, ti, &scratch, &info->name);
  info->index = ti;
  info->type = (int32_t)t->type;
  info->ndim = t->ndim;
  for (int32_t d = 0; d < t->ndim; ++d) info->dims[d] = t->dims[d];
  if (t->nq == 1) {
    info->scale = t->scale;
    info->zero_point = t->zero_point;
  }
  info->data = t->data;
  info->bytes = t->bytes;
  return EQ_OK;
}

eq_status eq_input(const eq_interp *it, int32_t i, eq_tensor_info *info) { return tensor_info(it, 0, i, info); }
eq_status eq_output(const eq_interp *it, int32_t i, eq_tensor_info *info) { return tensor_info(it, 1, i, info); }

void eq_set_op_hook(eq_interp *it, eq_op_hook hook, void *user) {
  if (!it || !it->ctx) return;
  it->ctx->hook = hook;
  it->ctx->hook_user = user;
}

int32_t eq_op_count(const eq_interp *it) { return it && it->ctx ? it->ctx->n_nodes : 0; }

int32_t eq_op_builtin(const eq_interp *it, int32_t i) {
  if (!it || !it->ctx || i < 0 || i >= it->ctx->n_nodes) return -1;
  return it->ctx->nodes[i].builtin;
}

int32_t eq_error_op(const eq_interp *it) { return it ? it->error_op : -1; }
int32_t eq_error_builtin(const eq_interp *it) { return it ? it->error_builtin : -1; }
