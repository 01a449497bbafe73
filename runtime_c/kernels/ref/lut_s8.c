/* Table lookup for int8 activations whose reference kernel is a 256-entry table (LOGISTIC, TANH). */
#include "eq_kernels_elementwise.h"

void eq_lut_s8(const int8_t *table, int32_t n, const int8_t *in, int8_t *out) {
  for (int32_t i = 0; i < n; ++i) out[i] = table[(uint8_t)in[i]];
}
