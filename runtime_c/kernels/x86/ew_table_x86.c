/* The elementwise kernel tables of the x86 variants. LUT (LOGISTIC, TANH), LEAKY_RELU and HARD_SWISH
 * run the reference kernels on every variant for now. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

const struct eq_ew_kernels eq_ew_kernels_avx2 = {
    eq_add_s8_avx2,     0,
    eq_sub_s8_avx2,     eq_mul_s8_avx2,   eq_maximum_s8_avx2,      eq_minimum_s8_avx2,  eq_lut_s8,
    eq_relu_s8_avx2,    eq_leaky_relu_s8, eq_hard_swish_s8,        eq_average_pool_s8_avx2, eq_max_pool_s8_avx2,
};

const struct eq_ew_kernels eq_ew_kernels_avx512vnni = {
    eq_add_s8_avx512vnni,  0,
    eq_sub_s8_avx512vnni,  eq_mul_s8_avx512vnni, eq_maximum_s8_avx512vnni, eq_minimum_s8_avx512vnni, eq_lut_s8,
    eq_relu_s8_avx512vnni, eq_leaky_relu_s8,     eq_hard_swish_s8,         eq_average_pool_s8_avx512vnni,
    eq_max_pool_s8_avx512vnni,
};
