/* MINIMUM (int8, int16): raw comparison of the operands, broadcast up to 6-D (shared code in min_max_common.h). */
#include "min_max_common.h"

static eq_status minimum_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  return eq_min_max_eval(node, eq_minimum_s16, eq_kernels()->ew->minimum_s8);
}

const eq_op_impl eq_op_minimum = {"MINIMUM", eq_min_max_prepare, minimum_eval};
