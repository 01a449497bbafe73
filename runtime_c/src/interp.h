/* The interpreter's state. It lives at the tail of the caller's arena (see edgeq.h).
 *
 * Only what cannot be re-read from the model stays in the arena: each activation's offset, each op's
 * data pointer and scratch handles, and the scratch plan. Tensor and node records are rebuilt from the
 * (already verified) model into one small workspace, sized for the op with the most inputs + outputs,
 * right before each prepare()/eval() call. */
#ifndef EDGEQ_INTERP_H
#define EDGEQ_INTERP_H

#include "edgeq.h"
#include "model.h"
#include "op.h"

enum { EQ_PHASE_PREPARE = 1, EQ_PHASE_PLANNED = 2 };

#define EQ_NO_OFFSET 0xffffffffu /* constants and tensors no op uses */

typedef struct {
  uint32_t data;      /* eq_node.data as an arena offset (persistent data is never at offset 0) or 0 */
  int16_t scratch[2]; /* eq_node.scratch */
  int8_t inplace;     /* eq_node.inplace, for the planner */
} eq_node_rec;

typedef struct {
  uint32_t bytes;
  uint32_t off;       /* set by the planner */
  int32_t op;
} eq_scratch_rec;

struct eq_ctx {
  const eq_model *model;
  uint8_t *base;       /* the arena (EQ_ARENA_ALIGN-aligned) */
  size_t size;         /* usable bytes (a multiple of EQ_ARENA_ALIGN) */
  size_t tail;         /* persistent data occupies [tail, size) */
  size_t head;         /* planned buffers and init temporaries occupy [0, head) */
  size_t plan_temp;    /* bytes the planner borrowed from the head */
  int32_t phase;
  int32_t n_tensors, n_nodes, n_inputs, n_outputs;
  int32_t preparing;   /* the op being prepared (its scratch requests are tagged with it) */
  uint32_t *offsets;   /* per tensor: arena offset of its data, or EQ_NO_OFFSET */
  eq_node_rec *nodes;
  int32_t n_scratch;
  eq_scratch_rec *scratch; /* in the head while ops are prepared, at the tail once planned */
  int32_t max_io;      /* workspace capacity: the most inputs + outputs of any op */
  eq_node *node;       /* workspace: the node being prepared or run */
  eq_tensor *recs;
  eq_tensor **ptrs;
  eq_node *cache;      /* every op's node, kept when the kernels can afford it (see interp.c), or NULL */
  eq_tensor *cache_recs;
  eq_tensor **cache_ptrs;
  eq_op_hook hook;
  void *hook_user;
};

/* Tail allocation, EQ_ARENA_ALIGN-aligned; NULL when it would run into the head. */
void *eq_ctx_tail_alloc(struct eq_ctx *ctx, size_t bytes);

/* Tensor i as ops see it: the model's description, data inside the arena for activations (NULL before
 * planning). */
eq_status eq_ctx_tensor(const struct eq_ctx *ctx, int32_t i, eq_tensor *t, const char **name);

/* The memory planner: places every activation and scratch buffer in [0, head) of the arena, using
 * that region (below ctx->tail) for its own temporaries first. Sets ctx->head, ctx->plan_temp,
 * every activation offset and every scratch offset. */
eq_status eq_plan(struct eq_ctx *ctx, int32_t *error_op);

/* Runs ops 0..last_op (eq_invoke runs them all); EQ_ERR_ARGUMENT when last_op is past the last op. */
eq_status eq_run_ops(eq_interp *it, int32_t last_op);

/* The op implementing a builtin code, or NULL (registry.c). */
const eq_op_impl *eq_op_find(int32_t builtin);

static inline size_t eq_align_up(size_t n) { return (n + (EQ_ARENA_ALIGN - 1)) & ~(size_t)(EQ_ARENA_ALIGN - 1); }

#endif
