/* CONCATENATION for any element size: inputs share the output's quantization, so it is a copy of
 * [outer, inner_i] blocks. */
#include <string.h>

#include "eq_kernels_elementwise.h"

void eq_concatenation(int32_t n_in, const void *const *in, const int32_t *inner, int32_t outer,
                      size_t elem_bytes, void *out) {
  char *dst = out;
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_in; ++i) {
      const size_t bytes = (size_t)inner[i] * elem_bytes;
      memcpy(dst, (const char *)in[i] + (size_t)o * bytes, bytes);
      dst += bytes;
    }
  }
}
