/* CONCATENATION, int16: inputs share the output's scale, so it is a copy of [outer, inner_i] blocks. */
#include <string.h>

#include "eq_kernels_s16.h"

void eq_concatenation_s16(int32_t n_in, const int16_t *const *in, const int32_t *inner, int32_t outer,
                          int16_t *out) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_in; ++i) {
      memcpy(out, in[i] + (size_t)o * (size_t)inner[i], (size_t)inner[i] * sizeof(int16_t));
      out += inner[i];
    }
  }
}
