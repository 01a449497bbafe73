/* The contract between the interpreter core and the op implementations.
 *
 * Each builtin op lives in runtime_c/src/ops/<op>.c and exports one `eq_op_impl` named `eq_op_<op>`
 * (e.g. eq_op_conv_2d), registered in runtime_c/src/ops/registry.c by its TFLite BuiltinOperator code.
 * An op's prepare() runs once at init: it validates types and shapes, precomputes everything the
 * inner loop needs (requantization multipliers and shifts, lookup tables) into persistent memory
 * obtained from eq_alloc_persistent(), and asks for scratch with eq_request_scratch(). Its eval() runs
 * at every invoke and calls the compute kernel in runtime_c/kernels/<isa>/<op>_<dtype>.c.
 * Neither may call malloc or touch the model bytes except through the accessors below. */
#ifndef EDGEQ_OP_H
#define EDGEQ_OP_H

#include <stddef.h>
#include <stdint.h>

#include "edgeq.h"

#define EQ_MAX_DIMS 6
#define EQ_MAX_OP_IO 10

/* Values equal TFLite's TensorType enum. */
typedef enum {
  EQ_FLOAT32 = 0,
  EQ_FLOAT16 = 1,
  EQ_INT32 = 2,
  EQ_UINT8 = 3,
  EQ_INT64 = 4,
  EQ_BOOL = 6,
  EQ_INT16 = 7,
  EQ_INT8 = 9,
  EQ_INT4 = 17,
} eq_type;

typedef struct eq_tensor {
  eq_type type;
  int8_t ndim;
  uint8_t is_const;
  int32_t dims[EQ_MAX_DIMS];
  void *data;      /* constants: inside the model buffer; activations: inside the arena */
  size_t bytes;    /* storage size (packed for INT4) */
  /* Quantization. nq == 0: none. scale/zero_point are entry 0 (the per-tensor values). Per-channel
   * values must be read through eq_q_scale()/eq_q_zero_point(): they point at flatbuffer vectors that
   * may be unaligned. */
  int32_t nq;
  int32_t qdim;
  float scale;
  int32_t zero_point;
  const uint8_t *q_scales; /* nq little-endian float32 */
  const uint8_t *q_zps;    /* nq little-endian int64 (may be NULL: all zero) */
} eq_tensor;

float eq_q_scale(const eq_tensor *t, int32_t i);
int32_t eq_q_zero_point(const eq_tensor *t, int32_t i);
int32_t eq_num_elements(const eq_tensor *t);

/* A verified view of a builtin-options flatbuffer table. Field ids are the schema's field order
 * (Conv2DOptions: padding=0, stride_w=1, stride_h=2, fused_activation_function=3, ...). An absent
 * field (or absent table) yields the default, exactly as the flatbuffers API does. */
typedef struct {
  const uint8_t *buf; /* the whole model buffer */
  size_t size;
  int64_t table;      /* offset of the table in buf, or -1 when the op has no options */
  int32_t type;       /* the BuiltinOptions union type: it fixes each field's width and signedness */
} eq_options;

int32_t eq_opt_i32(const eq_options *o, int field, int32_t def);  /* int8/int16/int32/enum/bool fields */
float eq_opt_f32(const eq_options *o, int field, float def);
/* An int32 vector field (e.g. SqueezeOptions.squeeze_dims). Returns its length (0 when absent), copies
 * up to `cap` entries into out. */
int32_t eq_opt_i32_vec(const eq_options *o, int field, int32_t *out, int32_t cap);

/* An op as prepare() and eval() see it. The core builds it (and the tensor records it points at) in a
 * small workspace just before each call, from the model and the plan, so neither node nor tensor
 * records may be kept past the call: keep what eval needs in `data`. */
typedef struct eq_node {
  int32_t index;      /* position in the subgraph's operator list */
  int32_t builtin;    /* TFLite BuiltinOperator code */
  int32_t version;
  int32_t n_in, n_out;
  eq_tensor *const *in;  /* n_in entries; NULL for an absent optional input (-1 in the model) */
  eq_tensor *const *out; /* n_out entries */
  eq_options options;
  void *data;         /* the op's persistent data, set by prepare(): NULL or from eq_alloc_persistent() */
  int32_t scratch[2]; /* scratch buffer handles from eq_request_scratch(), -1 when unused */
  /* prepare() may set this to an input index k when eval writes each output element only after it
   * has read element i of in[k] for every output i (elementwise, out shape == in[k] shape): the
   * planner then lets out[0] take in[k]'s buffer when in[k] is not needed after this op. -1: never. */
  int32_t inplace;
} eq_node;

/* Core services for ops (implemented in runtime_c/src/). */
typedef struct eq_ctx eq_ctx;
void *eq_alloc_persistent(eq_ctx *ctx, size_t bytes);               /* prepare only; 16-byte aligned; NULL when the arena is full */
eq_status eq_request_scratch(eq_ctx *ctx, size_t bytes, int32_t *handle); /* prepare only */
void *eq_scratch(eq_ctx *ctx, int32_t handle);                      /* eval only */

typedef struct {
  const char *name;
  eq_status (*prepare)(eq_ctx *ctx, eq_node *node);
  eq_status (*eval)(eq_ctx *ctx, eq_node *node);
} eq_op_impl;

#endif
