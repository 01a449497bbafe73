/* The reference elementwise kernels as a table: the ref variant's (and every microcontroller build's
 * until an Arm variant lands). */
#include "eq_kernels_ew.h"

const struct eq_ew_kernels eq_ew_kernels_ref = {
    eq_add_s8,     1,
    eq_sub_s8,     eq_mul_s8,      eq_maximum_s8,      eq_minimum_s8,   eq_lut_s8,
    eq_relu_s8,    eq_leaky_relu_s8, eq_hard_swish_s8, eq_average_pool_s8, eq_max_pool_s8,
};
