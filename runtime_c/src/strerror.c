#include "edgeq.h"

const char *eq_strerror(eq_status status) {
  switch (status) {
    case EQ_OK: return "ok";
    case EQ_ERR_ARGUMENT: return "invalid argument";
    case EQ_ERR_MODEL: return "malformed model (bad offset, length or index)";
    case EQ_ERR_VERSION: return "not a TFLite schema v3 model";
    case EQ_ERR_UNSUPPORTED_OP: return "unsupported operator";
    case EQ_ERR_UNSUPPORTED_TYPE: return "unsupported tensor type or operator option";
    case EQ_ERR_SHAPE: return "tensor shapes inconsistent with the operator";
    case EQ_ERR_QUANT: return "missing or invalid quantization parameters";
    case EQ_ERR_ARENA_TOO_SMALL: return "arena too small";
    case EQ_ERR_LIMIT: return "a fixed capacity of the runtime was exceeded";
    case EQ_ERR_STATE: return "call out of order";
  }
  return "unknown status";
}
