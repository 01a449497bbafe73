/* eq_invoke_until: the interpreter loop of eq_invoke() with an early stop (edgeq_device.h). */
#include "edgeq_device.h"
#include "interp.h"

eq_status eq_invoke_until(eq_interp *it, int32_t last_op) {
  if (!it || !it->ctx || it->ctx->phase != EQ_PHASE_PLANNED) return EQ_ERR_STATE;
  if (last_op < 0 || last_op >= it->ctx->n_nodes) return EQ_ERR_ARGUMENT;
  return eq_run_ops(it, last_op);
}
