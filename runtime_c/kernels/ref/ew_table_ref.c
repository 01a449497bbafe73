/* The reference elementwise kernels as a table: the ref variant's (and every microcontroller build's
 * until an Arm variant lands). */
#include "eq_kernels_ew.h"

#ifdef EQ_KERNELS_BY_USE
/* Per-model firmware: entries are weak so the table links no kernel itself (see kernels/dispatch.c). */
#pragma weak eq_add_s8
#pragma weak eq_sub_s8
#pragma weak eq_mul_s8
#pragma weak eq_maximum_s8
#pragma weak eq_minimum_s8
#pragma weak eq_lut_s8
#pragma weak eq_relu_s8
#pragma weak eq_leaky_relu_s8
#pragma weak eq_hard_swish_s8
#pragma weak eq_average_pool_s8
#pragma weak eq_max_pool_s8
#endif

const struct eq_ew_kernels eq_ew_kernels_ref = {
    eq_add_s8,     1,
    eq_sub_s8,     eq_mul_s8,      eq_maximum_s8,      eq_minimum_s8,   eq_lut_s8,
    eq_relu_s8,    eq_leaky_relu_s8, eq_hard_swish_s8, eq_average_pool_s8, eq_max_pool_s8,
};
