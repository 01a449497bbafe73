/* PAD / PADV2 for any element size: fill with the pad value, then copy each innermost row of the input
 * into its place in the output. pad_value points at one element of elem_bytes bytes. */
#include <string.h>

#include "eq_kernels_elementwise.h"

void eq_pad(int32_t ndim, const int32_t *dims, const int32_t *before, const int32_t *after, size_t elem_bytes,
            const void *pad_value, const void *in, void *out) {
  int32_t odims[EQ_BCAST_MAX_DIMS], ostride[EQ_BCAST_MAX_DIMS], idx[EQ_BCAST_MAX_DIMS];
  size_t total = 1, rows = 1;
  char *o8 = out;
  const char *i8 = in;
  if (ndim == 0) { /* a scalar pads to itself */
    memcpy(o8, i8, elem_bytes);
    return;
  }
  for (int32_t k = 0; k < ndim; ++k) {
    odims[k] = dims[k] + before[k] + after[k];
    total *= (size_t)odims[k];
    idx[k] = 0;
  }
  for (int32_t k = ndim - 1, s = 1; k >= 0; --k) {
    ostride[k] = s;
    s *= odims[k];
  }
  if (elem_bytes == 1) {
    memset(o8, *(const uint8_t *)pad_value, total);
  } else if (elem_bytes == 2) {
    const int16_t v = *(const int16_t *)pad_value;
    for (size_t i = 0; i < total; ++i) ((int16_t *)out)[i] = v;
  } else {
    for (size_t i = 0; i < total; ++i) memcpy(o8 + i * elem_bytes, pad_value, elem_bytes);
  }
  for (int32_t k = 0; k < ndim - 1; ++k) rows *= (size_t)dims[k];
  const size_t row = (size_t)dims[ndim - 1] * elem_bytes;
  if (row == 0) return;
  for (size_t r = 0; r < rows; ++r) {
    size_t o = (size_t)before[ndim - 1];
    for (int32_t k = 0; k < ndim - 1; ++k) o += (size_t)(idx[k] + before[k]) * (size_t)ostride[k];
    memcpy(o8 + o * elem_bytes, i8 + r * row, row);
    for (int32_t k = ndim - 2; k >= 0; --k) { /* next input row */
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}
