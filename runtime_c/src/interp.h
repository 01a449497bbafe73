/* The interpreter's state. It lives at the tail of the caller's arena (see edgeq.h). */
#ifndef EDGEQ_INTERP_H
#define EDGEQ_INTERP_H

#include "edgeq.h"
#include "op.h"

enum { EQ_PHASE_PREPARE = 1, EQ_PHASE_PLANNED = 2 };

struct eq_ctx {
  const eq_model *model;
  uint8_t *base;       /* the arena (EQ_ARENA_ALIGN-aligned) */
  size_t size;         /* usable bytes (a multiple of EQ_ARENA_ALIGN) */
  size_t tail;         /* persistent data occupies [tail, size) */
  size_t head;         /* planned buffers and planner temporaries occupy [0, head) */
  int32_t phase;
  int32_t n_tensors, n_nodes, n_inputs, n_outputs;
  eq_tensor *tensors;
  eq_node *nodes;
  const eq_op_impl **impls;
  int32_t *inputs, *outputs; /* tensor indices */
  int32_t n_scratch, cap_scratch;
  size_t *scratch_bytes;
  size_t *scratch_off;
  int32_t *scratch_op;
  eq_op_hook hook;
  void *hook_user;
};

/* Tail allocation, EQ_ARENA_ALIGN-aligned; NULL when it would run into the head. */
void *eq_ctx_tail_alloc(struct eq_ctx *ctx, size_t bytes);

/* The memory planner: places every activation and scratch buffer in [0, head) of the arena, using
 * that region (below ctx->tail) for its own temporaries first. Sets ctx->head and every data pointer. */
eq_status eq_plan(struct eq_ctx *ctx, int32_t *error_op);

/* The op implementing a builtin code, or NULL (registry.c). */
const eq_op_impl *eq_op_find(int32_t builtin);

static inline size_t eq_align_up(size_t n) { return (n + (EQ_ARENA_ALIGN - 1)) & ~(size_t)(EQ_ARENA_ALIGN - 1); }

#endif
