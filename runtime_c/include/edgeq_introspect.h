/* edgeq runtime: read-only introspection of an initialised interpreter, for host tools (`edgeq analyze`,
 * `edgeq compare`) and debugging. Firmware does not need it; it adds no state to the interpreter.
 *
 *   eq_arena_layout(it, &lay)          planned head vs persistent tail of the arena
 *   eq_op_scratch_bytes(it, op)        scratch the op's kernel asked the planner for
 *   eq_op_output(it, op, k, &info)     the op's k-th output tensor: read it from the op hook after
 *                                      done = 1 (planned buffers are reused by later ops) */
#ifndef EDGEQ_INTROSPECT_H
#define EDGEQ_INTROSPECT_H

#include "edgeq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the kernel variant this build runs ("ref", "avx2", "avx512vnni", ...). */
const char *eq_kernel_isa(void);

typedef struct {
  size_t total;            /* eq_arena_used(): head + persistent */
  size_t head;             /* planned region: activations and scratch (at least the planner's temporaries) */
  size_t planned_peak;     /* highest end offset of any planned activation or scratch buffer */
  size_t planner_temp;     /* bytes the planner itself borrowed from the head while planning */
  size_t persistent;       /* tail: interpreter tables and op constants (multipliers, lookup tables) */
} eq_arena_layout_info;

eq_status eq_arena_layout(const eq_interp *it, eq_arena_layout_info *layout);

/* Tensors of the subgraph by model index. eq_tensor_is_const: 1 constant, 0 activation, -1 out of range. */
int32_t eq_tensor_count(const eq_interp *it);
eq_status eq_tensor_at(const eq_interp *it, int32_t index, eq_tensor_info *info);
int32_t eq_tensor_is_const(const eq_interp *it, int32_t index);

/* An op's inputs (is_output = 0) or outputs as tensor indices: -1 for an absent optional input or an
 * out-of-range argument. */
int32_t eq_op_io_count(const eq_interp *it, int32_t op, int32_t is_output);
int32_t eq_op_io(const eq_interp *it, int32_t op, int32_t is_output, int32_t k);
eq_status eq_op_output(const eq_interp *it, int32_t op, int32_t k, eq_tensor_info *info);

/* Scratch bytes the op requested from the planner (0 when none, or out of range). */
size_t eq_op_scratch_bytes(const eq_interp *it, int32_t op);

#ifdef __cplusplus
}
#endif
#endif
