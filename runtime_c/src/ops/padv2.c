/* PADV2 (int8): pads with its constant_values scalar; see pad_common.h. */
#include "pad_common.h"

static eq_status padv2_prepare(eq_ctx *ctx, eq_node *node) { return eq_pad_prepare(ctx, node, 1); }

const eq_op_impl eq_op_padv2 = {"PADV2", padv2_prepare, eq_pad_eval};
