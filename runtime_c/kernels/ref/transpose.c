/* TRANSPOSE for any element size: walks the output in order, reading the input through permuted strides.
 * Data movement only, so one kernel serves int8 and int16; 1- and 2-byte elements get direct loads. */
#include <string.h>

#include "eq_kernels_elementwise.h"

void eq_transpose(int32_t ndim, const int32_t *dims, const int32_t *perm, size_t elem_bytes, const void *in,
                  void *out) {
  int32_t istride[EQ_BCAST_MAX_DIMS], odims[EQ_BCAST_MAX_DIMS], ps[EQ_BCAST_MAX_DIMS], idx[EQ_BCAST_MAX_DIMS];
  size_t total = 1;
  for (int32_t k = ndim - 1, s = 1; k >= 0; --k) {
    istride[k] = s;
    s *= dims[k];
  }
  for (int32_t k = 0; k < ndim; ++k) {
    odims[k] = dims[perm[k]];
    ps[k] = istride[perm[k]];
    idx[k] = 0;
    total *= (size_t)odims[k];
  }
  size_t src = 0;
  for (size_t o = 0; o < total; ++o) {
    if (elem_bytes == 1) ((int8_t *)out)[o] = ((const int8_t *)in)[src];
    else if (elem_bytes == 2) ((int16_t *)out)[o] = ((const int16_t *)in)[src];
    else memcpy((char *)out + o * elem_bytes, (const char *)in + src * elem_bytes, elem_bytes);
    for (int32_t k = ndim - 1; k >= 0; --k) { /* odometer step, keeping src in sync */
      src += (size_t)ps[k];
      if (++idx[k] < odims[k]) break;
      src -= (size_t)ps[k] * (size_t)odims[k];
      idx[k] = 0;
    }
  }
}
