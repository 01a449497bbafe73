/* RELU (int8): see relu_common.h. */
#include "relu_common.h"

static eq_status relu_prepare(eq_ctx *ctx, eq_node *node) { return eq_relu_prepare(ctx, node, 0); }

const eq_op_impl eq_op_relu = {"RELU", relu_prepare, eq_relu_eval};
