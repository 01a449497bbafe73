/* Helpers of the int16-activation ("16x8") paths of the op glue files: the symmetric int16 tensor check
 * and TFLite's CheckedLog2, which decides whether a scale counts as a power of two. */
#ifndef EDGEQ_OPS_INT16_COMMON_H
#define EDGEQ_OPS_INT16_COMMON_H

#include "../op.h"
#include "../op_util.h"

/* -DEQ_WITH_INT16=0 builds the ops without their int16 paths (an image for int8-only models): int16 tensors
 * are then refused with EQ_ERR_UNSUPPORTED_TYPE and, the branches being constant-false, no int16 kernel
 * is referenced or linked. */
#ifndef EQ_WITH_INT16
#define EQ_WITH_INT16 1
#endif
#define EQ_IS_INT16(t) (EQ_WITH_INT16 && (t)->type == EQ_INT16)

/* An int16 activation with per-tensor quantization, a positive scale and zero point 0 (LiteRT requires
 * symmetric int16 for every op that has an int16 kernel). */
static inline int eq_is_q16(const eq_tensor *t) {
  return t && t->type == EQ_INT16 && t->nq >= 1 && t->scale > 0.0f && t->zero_point == 0;
}

/* TFLite's CheckedLog2: nonzero when log2(x) is within 1e-3 of an integer, stored in *log2. Written with
 * frexp instead of logf: x = m 2^e is a power of two within that tolerance when m (or 2m, for m below
 * sqrt(1/2)) lies within 2^(+-1e-3) of 1. */
static inline int eq_checked_log2(float x, int32_t *log2) {
  int32_t e;
  double m = eq_frexp((double)x, &e);
  if (!(x > 0.0f)) return 0;
  if (m < 0.70710678118654752) {
    m *= 2.0;
    e -= 1;
  }
  *log2 = e;
  return m > 0.99930709299 && m < 1.00069338746; /* 2^-0.001, 2^0.001 */
}

/* Shared prepare of int16 LOGISTIC and TANH (LiteRT's SigmoidPrepare / TanhPrepare for int16): symmetric
 * tensors, output scale 2^-15. A power-of-two input scale (2^-12, or 2^-11 too for TANH) multiplies by 3
 * (by 6 for 2^-11); any other scale s gets multiplier s * 3 * 2^12 doubled until above 2^14 - 1/2,
 * truncated, with that many bits shifted back out. node->data becomes an eq_sigmoid_params. */
static inline eq_status eq_sigmoid_s16_prepare(eq_ctx *ctx, eq_node *node, int is_tanh) {
  const eq_tensor *in = node->in[0], *out = node->out[0];
  EQ_ENSURE(eq_num_elements(in) == eq_num_elements(out), EQ_ERR_SHAPE);
  EQ_ENSURE(eq_is_q16(in) && eq_is_q16(out), EQ_ERR_QUANT);
  int32_t out_log2, in_log2;
  if (!is_tanh) EQ_ENSURE(out->scale == 1.0f / 32768.0f, EQ_ERR_QUANT);
  EQ_ENSURE(eq_checked_log2(out->scale, &out_log2) && out_log2 == -15, EQ_ERR_QUANT);
  eq_sigmoid_params *p = eq_alloc_persistent(ctx, sizeof *p);
  EQ_ENSURE(p, EQ_ERR_ARENA_TOO_SMALL);
  const int pot = eq_checked_log2(in->scale, &in_log2);
  const int32_t pot_shift = 12 + in_log2;
  if (pot && (pot_shift == 0 || (is_tanh && pot_shift == 1))) {
    p->multiplier = 3 << pot_shift;
    p->shift = 0;
  } else {
    double m = (double)in->scale * 4096.0 * 3.0;
    p->shift = 0;
    while (m <= 32767.0 / 2.0 && p->shift <= 30) {
      ++p->shift;
      m *= 2.0;
    }
    EQ_ENSURE(m >= 1.0 && m < 2147483648.0, EQ_ERR_QUANT);
    p->multiplier = (int32_t)m;
  }
  node->data = p;
  return EQ_OK;
}

#endif
