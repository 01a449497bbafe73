/* STRIDED_SLICE for any element size: start/stop/stride are already resolved per axis (masks, negative
 * indices and clamping done at prepare time), so this only walks the selected elements in order.
 * Data movement only, so one kernel serves int8 and int16; 1- and 2-byte elements get direct loads. */
#include <string.h>

#include "eq_kernels_elementwise.h"

static int32_t steps(int32_t start, int32_t stop, int32_t stride) {
  if (stride > 0) return stop > start ? (stop - start + stride - 1) / stride : 0;
  return start > stop ? (start - stop + (-stride) - 1) / (-stride) : 0;
}

void eq_strided_slice(int32_t ndim, const int32_t *dims, const int32_t *start, const int32_t *stop,
                      const int32_t *stride, size_t elem_bytes, const void *in, void *out) {
  int64_t istride[EQ_SLICE_MAX_DIMS];
  int32_t count[EQ_SLICE_MAX_DIMS], idx[EQ_SLICE_MAX_DIMS];
  int64_t total = 1, src = 0;
  for (int32_t k = ndim - 1, s = 1; k >= 0; --k) {
    istride[k] = s;
    s *= dims[k];
  }
  for (int32_t k = 0; k < ndim; ++k) {
    count[k] = steps(start[k], stop[k], stride[k]);
    total *= count[k];
    idx[k] = 0;
    src += (int64_t)start[k] * istride[k];
  }
  for (int64_t o = 0; o < total; ++o) {
    if (elem_bytes == 1) ((int8_t *)out)[o] = ((const int8_t *)in)[src];
    else if (elem_bytes == 2) ((int16_t *)out)[o] = ((const int16_t *)in)[src];
    else memcpy((char *)out + (size_t)o * elem_bytes, (const char *)in + (size_t)src * elem_bytes, elem_bytes);
    for (int32_t k = ndim - 1; k >= 0; --k) {
      src += (int64_t)stride[k] * istride[k];
      if (++idx[k] < count[k]) break;
      src -= (int64_t)stride[k] * istride[k] * count[k];
      idx[k] = 0;
    }
  }
}
