/* Small helpers shared by the elementwise/data-movement op glue files (ADD, SUB, MUL, PAD, MEAN, ...):
 * reading constant index tensors, which may sit unaligned inside the model buffer, checking the int8
 * per-tensor quantization those ops expect, and the int16 ADD / SUB shift-only parameters. */
#ifndef EDGEQ_OPS_ELEMENTWISE_COMMON_H
#define EDGEQ_OPS_ELEMENTWISE_COMMON_H

#include <string.h>

#include "../op.h"
#include "../op_util.h"
#include "eq_kernels_s16.h"
#include "int16_common.h"

/* Element i of a constant INT32 or INT64 tensor (the caller has checked type, is_const and size). */
static inline int64_t eq_const_index(const eq_tensor *t, int32_t i) {
  if (t->type == EQ_INT64) {
    int64_t v;
    memcpy(&v, (const uint8_t *)t->data + (size_t)i * 8, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, (const uint8_t *)t->data + (size_t)i * 4, 4);
  return v;
}

/* A constant integer index tensor holding at least n elements. */
static inline int eq_is_const_index(const eq_tensor *t, int32_t n) {
  return t && t->is_const && t->data && (t->type == EQ_INT32 || t->type == EQ_INT64) &&
         eq_num_elements(t) >= n && t->bytes >= (size_t)eq_num_elements(t) * (t->type == EQ_INT64 ? 8u : 4u);
}

/* An int8 activation with per-tensor quantization and a positive scale. */
static inline int eq_is_q8(const eq_tensor *t) {
  return t && t->type == EQ_INT8 && t->nq >= 1 && t->scale > 0.0f && t->zero_point >= -128 &&
         t->zero_point <= 127;
}

/* int16 ADD / SUB: whether LiteRT's shift-only path applies — pot_scale_int16 (option 1) set, the schema's
 * default, and all three scales powers of two, whose exponents go to log2[a, b, out]. */
static inline int eq_pot_int16_applies(const eq_node *n, int32_t log2[3]) {
  const eq_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
  return eq_opt_i32(&n->options, 1, 1) && eq_checked_log2(a->scale, &log2[0]) &&
         eq_checked_log2(b->scale, &log2[1]) && eq_checked_log2(out->scale, &log2[2]);
}

/* The shift-only path's parameters: each input shifted to the output exponent (one of them not at all,
 * none by more than 31), and the range of the fused activation `act`. */
static inline eq_status eq_pot_int16_params(const int32_t log2[3], int32_t act, const eq_tensor *out,
                                            eq_pot_params *pot) {
  pot->in1_shift = log2[0] - log2[2];
  pot->in2_shift = log2[1] - log2[2];
  EQ_ENSURE(pot->in1_shift == 0 || pot->in2_shift == 0, EQ_ERR_QUANT);
  EQ_ENSURE(pot->in1_shift <= 0 && pot->in2_shift <= 0 && pot->in1_shift >= -31 && pot->in2_shift >= -31,
            EQ_ERR_QUANT);
  return eq_activation_range(act, out, &pot->act_min, &pot->act_max);
}

#endif
