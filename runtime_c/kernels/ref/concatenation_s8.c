/* CONCATENATION, 1-byte elements: int8 inputs share the output's quantization, so it is a copy. */
#include <string.h>

#include "eq_kernels_elementwise.h"

void eq_concatenation_s8(int32_t n_in, const int8_t *const *in, const int32_t *inner, int32_t outer,
                         int8_t *out) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_in; ++i) {
      memcpy(out, in[i] + (size_t)o * (size_t)inner[i], (size_t)inner[i]);
      out += inner[i];
    }
  }
}
