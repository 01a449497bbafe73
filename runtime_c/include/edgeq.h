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

#ifdef __cplusplus
}
#endif
#endif
