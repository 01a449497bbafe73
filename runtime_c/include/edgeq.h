/* edgeq runtime: the public C API (C99, no malloc). The rest of this header is the interpreter's API. */
#ifndef EDGEQ_H
#define EDGEQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  EQ_OK = 0,
  EQ_ERR_ARGUMENT,         /* a NULL or out-of-range argument */
  EQ_ERR_MODEL,            /* the model bytes are malformed (bad offset, length, index) */
  EQ_ERR_VERSION,          /* not a TFLite schema v3 model */
  EQ_ERR_UNSUPPORTED_OP,   /* an operator runtime_c does not implement */
  EQ_ERR_UNSUPPORTED_TYPE, /* an operator with tensor types or options runtime_c does not implement */
  EQ_ERR_SHAPE,            /* tensor shapes inconsistent with the op */
  EQ_ERR_QUANT,            /* missing or invalid quantization parameters */
  EQ_ERR_ARENA_TOO_SMALL,  /* the caller's arena cannot hold the plan */
  EQ_ERR_LIMIT,            /* a fixed capacity of the runtime was exceeded (tensors, ops, dims) */
  EQ_ERR_STATE,            /* call out of order (e.g. invoke before init) */
} eq_status;

const char *eq_strerror(eq_status status);

/* ---- Model ------------------------------------------------------------------------------------
 * eq_model_load() verifies a TFLite schema v3 flatbuffer in place (nothing is copied, so the bytes may
 * live in flash) and must outlive every interpreter built on it. The buffer should be 16-byte aligned:
 * constant tensors are used in place and must be aligned to their element size (EQ_ERR_MODEL if not).
 * Only the first subgraph is run. The struct's fields are private. */
typedef struct eq_model {
  const uint8_t *buf;
  size_t size;
  size_t opcodes, tensors, operators, buffers, inputs, outputs; /* vector positions in buf */
  int32_t n_opcodes, n_tensors, n_ops, n_buffers, n_inputs, n_outputs;
} eq_model;

eq_status eq_model_load(eq_model *model, const void *data, size_t size);

/* ---- Interpreter ------------------------------------------------------------------------------
 * Everything the interpreter needs (tensor and node tables, op constants, activations, scratch) lives
 * in one caller-owned arena: planned buffers at its head, persistent data at its tail. The arena must
 * be EQ_ARENA_ALIGN-aligned. eq_interp itself is a small handle the caller allocates. */
#define EQ_ARENA_ALIGN 16

struct eq_ctx;
typedef struct eq_interp {
  struct eq_ctx *ctx;    /* private; inside the arena, NULL until eq_init succeeds */
  int32_t error_op;      /* private; see eq_error_op() */
  int32_t error_builtin;
} eq_interp;

/* The exact arena size eq_init() needs for this model, found by a dry initialisation inside `work`
 * (any EQ_ARENA_ALIGN-aligned memory at least that large; EQ_ERR_ARENA_TOO_SMALL otherwise — retry
 * with more). Firmware normally takes the figure from `edgeq analyze` instead. */
eq_status eq_arena_size(const eq_model *model, void *work, size_t work_bytes, size_t *bytes);

/* Plans memory and prepares every op. Fails with EQ_ERR_ARENA_TOO_SMALL when the arena is short by
 * even one byte of what eq_arena_size() reports. On failure eq_error_op() names the op at fault. */
eq_status eq_init(eq_interp *it, const eq_model *model, void *arena, size_t arena_bytes);

/* Arena bytes this interpreter uses (equals eq_arena_size() for the model). */
size_t eq_arena_used(const eq_interp *it);

typedef struct {
  int32_t index;           /* tensor index in the subgraph */
  int32_t type;            /* TFLite TensorType value (9 = INT8, 3 = UINT8, 0 = FLOAT32, ...) */
  int32_t ndim;
  int32_t dims[6];
  float scale;             /* per-tensor quantization (0 and 0 when none) */
  int32_t zero_point;
  void *data;              /* inside the arena: write inputs before eq_invoke, read outputs after */
  size_t bytes;
  const char *name;        /* NUL-terminated, inside the model ("" when absent) */
} eq_tensor_info;

int32_t eq_input_count(const eq_interp *it);
int32_t eq_output_count(const eq_interp *it);
eq_status eq_input(const eq_interp *it, int32_t i, eq_tensor_info *info);
eq_status eq_output(const eq_interp *it, int32_t i, eq_tensor_info *info);

eq_status eq_invoke(eq_interp *it);

/* Profiling: called before (done = 0) and after (done = 1) each op's eval with its position in the
 * operator list and its TFLite BuiltinOperator code. NULL removes the hook. */
typedef void (*eq_op_hook)(void *user, int32_t op_index, int32_t builtin, int32_t done);
void eq_set_op_hook(eq_interp *it, eq_op_hook hook, void *user);

int32_t eq_op_count(const eq_interp *it);
int32_t eq_op_builtin(const eq_interp *it, int32_t op_index); /* -1 when out of range */
const char *eq_op_name(int32_t builtin);                      /* "CONV_2D"; "UNKNOWN" otherwise */
/* The op whose prepare/eval failed last (or -1), and its builtin code (or -1). Works on a failed
 * eq_init too, since the failure is recorded in the handle. */
int32_t eq_error_op(const eq_interp *it);
int32_t eq_error_builtin(const eq_interp *it);

#ifdef __cplusplus
}
#endif
#endif
