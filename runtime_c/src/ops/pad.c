/* PAD (int8): pads with the output zero point; see pad_common.h. */
#include "pad_common.h"

static eq_status pad_prepare(eq_ctx *ctx, eq_node *node) { return eq_pad_prepare(ctx, node, 0); }

const eq_op_impl eq_op_pad = {"PAD", pad_prepare, eq_pad_eval};
