/* TANH, int8: evaluated through a table built once at prepare time (see lut_table_s8.h). */
#include <math.h>

#include "eq_kernels_elementwise.h"
#include "lut_table_s8.h"

static float tanh_f(float x) { return tanhf(x); }

void eq_tanh_s8_table(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t *table) {
  eq_lut_table_s8(in_scale, in_zp, out_scale, out_zp, tanh_f, table);
}
