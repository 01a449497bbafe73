/* The per-variant table of the elementwise, activation and pooling kernels (eq_kernels()->ew). The
 * signatures are those of the reference kernels in eq_kernels_core.h and eq_kernels_elementwise.h;
 * every variant gives the reference's bytes. Ops call these through eq_kernels()->ew. */
#ifndef EDGEQ_KERNELS_EW_H
#define EDGEQ_KERNELS_EW_H

#include "eq_kernels.h"
#include "eq_kernels_core.h"
#include "eq_kernels_elementwise.h"

struct eq_ew_kernels {
  void (*add_s8)(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
                 const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out);
  /* Nonzero when add_s8 runs faster with the per-input tables of eq_add_s8_tables() (ADD's prepare
   * then spends the 2 kB of persistent memory on them); 0 when it computes the rescale directly. */
  int add_s8_wants_tables;
  void (*sub_s8)(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
  void (*mul_s8)(const eq_mul_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
  void (*maximum_s8)(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
  void (*minimum_s8)(const eq_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
  void (*lut_s8)(const int8_t *table, int32_t n, const int8_t *in, int8_t *out);
  void (*relu_s8)(const eq_relu_params *p, int32_t n, const int8_t *in, int8_t *out);
  void (*leaky_relu_s8)(const eq_leaky_relu_params *p, int32_t n, const int8_t *in, int8_t *out);
  void (*hard_swish_s8)(const eq_hard_swish_params *p, int32_t n, const int8_t *in, int8_t *out);
  void (*average_pool_s8)(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                          const eq_shape4 *out_shape, int8_t *out);
  void (*max_pool_s8)(const eq_pool_params *p, const eq_shape4 *in_shape, const int8_t *in,
                      const eq_shape4 *out_shape, int8_t *out);
};

/* The reference kernels' table (kernels/ref/ew_table_ref.c). */
extern const struct eq_ew_kernels eq_ew_kernels_ref;

#endif
