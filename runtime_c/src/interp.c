/* eq_init / eq_invoke and the services op.h promises ops. */
#include "interp.h"

#include <string.h>

#include "eq_kernels.h"
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
  if (bytes > 0x7fffffffu || ctx->n_scratch >= 0x7fff) return EQ_ERR_LIMIT;
  /* Requests are listed in the head until planning, so they cost nothing persistent beyond their
   * final record. */
  size_t need = eq_align_up(sizeof(eq_scratch_rec) * (size_t)(ctx->n_scratch + 1));
  if (need > ctx->tail) return EQ_ERR_ARENA_TOO_SMALL;
  ctx->head = need;
  eq_scratch_rec *r = &ctx->scratch[ctx->n_scratch];
  r->bytes = (uint32_t)bytes;
  r->off = 0;
  r->op = ctx->preparing;
  *handle = ctx->n_scratch++;
  return EQ_OK;
}

void *eq_scratch(eq_ctx *ctx, int32_t handle) {
  if (!ctx || ctx->phase != EQ_PHASE_PLANNED || handle < 0 || handle >= ctx->n_scratch) return NULL;
  return ctx->base + ctx->scratch[handle].off;
}

#define TRY(x)                    \
  do {                            \
    eq_status st_ = (x);          \
    if (st_ != EQ_OK) return st_; \
  } while (0)

eq_status eq_ctx_tensor(const struct eq_ctx *c, int32_t i, eq_tensor *t, const char **name) {
  TRY(eq_model_tensor(c->model, i, t, name));
  if (!t->is_const) {
    uint32_t off = c->offsets[i];
    t->data = off == EQ_NO_OFFSET ? NULL : (void *)(c->base + off);
  }
  return EQ_OK;
}

/* Builds op i's node and tensor records into n, recs and ptrs (room for cap inputs + outputs). */
static eq_status build_node(const struct eq_ctx *c, int32_t i, eq_node *n, eq_tensor *recs, eq_tensor **ptrs,
                            int32_t cap) {
  eq_op_desc d;
  const char *name;
  TRY(eq_model_op(c->model, i, &d));
  if (d.n_in + d.n_out > cap) return EQ_ERR_MODEL; /* the model changed since init */
  int32_t k = 0;
  for (int32_t j = 0; j < d.n_in + d.n_out; ++j) {
    int32_t ti = j < d.n_in ? d.in[j] : d.out[j - d.n_in];
    if (ti < 0) {
      ptrs[j] = NULL;
      continue;
    }
    eq_tensor *t = &recs[k++];
    TRY(eq_ctx_tensor(c, ti, t, &name));
    if (j >= d.n_in && t->is_const) return EQ_ERR_MODEL; /* an op may never write into the model */
    ptrs[j] = t;
  }
  const eq_node_rec *r = &c->nodes[i];
  n->index = i;
  n->builtin = d.builtin;
  n->version = d.version;
  n->n_in = d.n_in;
  n->n_out = d.n_out;
  n->in = ptrs;
  n->out = ptrs + d.n_in;
  n->options = d.options;
  n->data = r->data ? (void *)(c->base + r->data) : NULL;
  n->scratch[0] = r->scratch[0];
  n->scratch[1] = r->scratch[1];
  n->inplace = r->inplace;
  return EQ_OK;
}

/* Op i's node: the cached one, or rebuilt in the workspace. */
static eq_status load_node(struct eq_ctx *c, int32_t i, eq_node **out) {
  if (c->cache && c->phase == EQ_PHASE_PLANNED) {
    *out = &c->cache[i];
    return EQ_OK;
  }
  *out = c->node;
  return build_node(c, i, c->node, c->recs, c->ptrs, c->max_io);
}

/* x86 SIMD variants run on hosts, where keeping every op's records (about 100 bytes per tensor use)
 * is cheap and rebuilding them would cost a third of a small model's time; the reference kernels
 * (microcontrollers) rebuild them per op to keep the arena small. */
static int keeps_records(void) {
  const char *isa = eq_kernels()->isa;
  return isa && isa[0] == 'a' && isa[1] == 'v' && isa[2] == 'x';
}

/* Room for every op's records, at the tail (before planning, so the plan sees the final tail). */
static eq_status alloc_cache(struct eq_ctx *c) {
  if (!keeps_records() || c->n_nodes == 0) return EQ_OK;
  size_t io = 0;
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_op_desc d;
    TRY(eq_model_op(c->model, i, &d));
    io += (size_t)(d.n_in + d.n_out);
  }
  c->cache = eq_ctx_tail_alloc(c, sizeof(eq_node) * (size_t)c->n_nodes);
  c->cache_recs = eq_ctx_tail_alloc(c, sizeof(eq_tensor) * io);
  c->cache_ptrs = eq_ctx_tail_alloc(c, sizeof(eq_tensor *) * io);
  if (!c->cache || (io && (!c->cache_recs || !c->cache_ptrs))) return EQ_ERR_ARENA_TOO_SMALL;
  return EQ_OK;
}

/* Fills the cache once the plan has fixed every activation's address. */
static eq_status fill_cache(struct eq_ctx *c) {
  size_t at = 0;
  for (int32_t i = 0; c->cache && i < c->n_nodes; ++i) {
    eq_op_desc d;
    TRY(eq_model_op(c->model, i, &d));
    int32_t cap = d.n_in + d.n_out;
    TRY(build_node(c, i, &c->cache[i], c->cache_recs + at, c->cache_ptrs + at, cap));
    at += (size_t)cap;
  }
  return EQ_OK;
}

/* Persistent tables and the node workspace, at the tail. */
static eq_status alloc_tables(struct eq_ctx *c, int32_t *error_op) {
  const eq_model *m = c->model;
  c->n_tensors = m->n_tensors;
  c->n_nodes = m->n_ops;
  c->n_inputs = m->n_inputs;
  c->n_outputs = m->n_outputs;
  c->max_io = 1;
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_op_desc d;
    *error_op = i;
    TRY(eq_model_op(m, i, &d));
    if (d.n_in + d.n_out > c->max_io) c->max_io = d.n_in + d.n_out;
  }
  *error_op = -1;
  c->offsets = eq_ctx_tail_alloc(c, sizeof(uint32_t) * (size_t)c->n_tensors);
  c->nodes = eq_ctx_tail_alloc(c, sizeof(eq_node_rec) * (size_t)c->n_nodes);
  c->node = eq_ctx_tail_alloc(c, sizeof(eq_node));
  c->recs = eq_ctx_tail_alloc(c, sizeof(eq_tensor) * (size_t)c->max_io);
  c->ptrs = eq_ctx_tail_alloc(c, sizeof(eq_tensor *) * (size_t)c->max_io);
  if (!c->offsets || !c->nodes || !c->node || !c->recs || !c->ptrs) return EQ_ERR_ARENA_TOO_SMALL;
  for (int32_t t = 0; t < c->n_tensors; ++t) c->offsets[t] = EQ_NO_OFFSET;
  int32_t ti;
  for (int32_t i = 0; i < c->n_inputs; ++i) TRY(eq_model_io(m, 0, i, &ti));
  for (int32_t i = 0; i < c->n_outputs; ++i) TRY(eq_model_io(m, 1, i, &ti));
  return EQ_OK;
}

static eq_status prepare_ops(struct eq_ctx *c, int32_t *error_op) {
  c->phase = EQ_PHASE_PREPARE;
  c->scratch = (eq_scratch_rec *)c->base; /* listed in the head until planned */
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_node *n = c->node;
    *error_op = i;
    TRY(build_node(c, i, n, c->recs, c->ptrs, c->max_io));
    const eq_op_impl *impl = eq_op_find(n->builtin);
    if (!impl || !impl->prepare || !impl->eval) return EQ_ERR_UNSUPPORTED_OP;
    n->data = NULL;
    n->scratch[0] = n->scratch[1] = -1;
    n->inplace = -1;
    c->preparing = i;
    TRY(impl->prepare(c, n));
    eq_node_rec *r = &c->nodes[i];
    if (n->data) { /* must be persistent memory of this arena */
      const uint8_t *p = (const uint8_t *)n->data;
      if (p < c->base + c->tail || p >= c->base + c->size) return EQ_ERR_STATE;
      r->data = (uint32_t)(p - c->base);
    }
    for (int k = 0; k < 2; ++k) {
      if (n->scratch[k] < -1 || n->scratch[k] >= c->n_scratch) return EQ_ERR_STATE;
      r->scratch[k] = (int16_t)n->scratch[k];
    }
    r->inplace = (int8_t)(n->inplace >= 0 && n->inplace < n->n_in && n->n_out == 1 ? n->inplace : -1);
  }
  *error_op = -1;
  /* Move the scratch list to its final place at the tail. */
  eq_scratch_rec *list = c->scratch;
  size_t list_bytes = sizeof(eq_scratch_rec) * (size_t)c->n_scratch;
  c->scratch = NULL;
  if (c->n_scratch) {
    eq_scratch_rec *fin = eq_ctx_tail_alloc(c, list_bytes);
    if (!fin) return EQ_ERR_ARENA_TOO_SMALL;
    memcpy(fin, list, list_bytes);
    c->scratch = fin;
  }
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
  TRY(alloc_tables(c, &it->error_op));
  TRY(prepare_ops(c, &it->error_op));
  TRY(alloc_cache(c));
  /* The scratch list's head bytes are free again; the plan's head covers at least them, so the
   * figure stays an upper bound of every moment of init. */
  size_t list_head = c->head;
  c->head = 0;
  TRY(eq_plan(c, &it->error_op));
  if (c->head < list_head) c->head = list_head;
  TRY(fill_cache(c));
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

eq_status eq_run_ops(eq_interp *it, int32_t last_op) {
  if (!it || !it->ctx || it->ctx->phase != EQ_PHASE_PLANNED) return EQ_ERR_STATE;
  struct eq_ctx *c = it->ctx;
  if (last_op >= c->n_nodes) return EQ_ERR_ARGUMENT;
  it->error_op = -1;
  it->error_builtin = -1;
  for (int32_t i = 0; i <= last_op; ++i) {
    eq_node *n;
    eq_status st = load_node(c, i, &n);
    const eq_op_impl *impl = st == EQ_OK ? eq_op_find(n->builtin) : NULL;
    if (st == EQ_OK && (!impl || !impl->eval)) st = EQ_ERR_STATE;
    if (st == EQ_OK) {
      if (c->hook) c->hook(c->hook_user, i, n->builtin, 0);
      st = impl->eval(c, n);
      if (c->hook) c->hook(c->hook_user, i, n->builtin, 1);
    }
    if (st != EQ_OK) {
      it->error_op = i;
      it->error_builtin = eq_op_builtin(it, i);
      return st;
    }
  }
  return EQ_OK;
}

eq_status eq_invoke(eq_interp *it) {
  if (!it || !it->ctx) return EQ_ERR_STATE;
  return eq_run_ops(it, it->ctx->n_nodes - 1);
}

int32_t eq_input_count(const eq_interp *it) { return it && it->ctx ? it->ctx->n_inputs : 0; }
int32_t eq_output_count(const eq_interp *it) { return it && it->ctx ? it->ctx->n_outputs : 0; }

static eq_status tensor_info(const eq_interp *it, int is_output, int32_t i, eq_tensor_info *info) {
  if (!it || !it->ctx || !info) return EQ_ERR_ARGUMENT;
  const struct eq_ctx *c = it->ctx;
  int32_t ti;
  eq_tensor t;
  memset(info, 0, sizeof *info);
  TRY(eq_model_io(c->model, is_output, i, &ti));
  TRY(eq_ctx_tensor(c, ti, &t, &info->name));
  info->index = ti;
  info->type = (int32_t)t.type;
  info->ndim = t.ndim;
  for (int32_t d = 0; d < t.ndim; ++d) info->dims[d] = t.dims[d];
  if (t.nq == 1) {
    info->scale = t.scale;
    info->zero_point = t.zero_point;
  }
  info->data = t.data;
  info->bytes = t.bytes;
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
  eq_op_desc d;
  if (!it || !it->ctx || i < 0 || i >= it->ctx->n_nodes) return -1;
  eq_status st = eq_model_op(it->ctx->model, i, &d); /* sets builtin before any support check */
  return st == EQ_OK || st == EQ_ERR_UNSUPPORTED_OP || st == EQ_ERR_LIMIT ? d.builtin : -1;
}

int32_t eq_error_op(const eq_interp *it) { return it ? it->error_op : -1; }
int32_t eq_error_builtin(const eq_interp *it) { return it ? it->error_builtin : -1; }
