/* Small helpers shared by the elementwise/data-movement op glue files (SUB, MUL, PAD, MEAN, ...):
 * reading constant index tensors, which may sit unaligned inside the model buffer, and checking the
 * int8 per-tensor quantization those ops expect. */
#ifndef EDGEQ_OPS_ELEMENTWISE_COMMON_H
#define EDGEQ_OPS_ELEMENTWISE_COMMON_H

#include <string.h>

#include "../op.h"
#include "../op_util.h"

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

#endif
