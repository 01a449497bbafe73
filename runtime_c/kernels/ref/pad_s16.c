/* PAD / PADV2, int16: fill with the pad value, then copy each innermost row of the input into place. */
#include <string.h>

#include "eq_kernels_s16.h"

void eq_pad_s16(int32_t ndim, const int32_t *dims, const int32_t *before, const int32_t *after,
                int16_t pad_value, const int16_t *in, int16_t *out) {
  int32_t odims[EQ_BCAST_MAX_DIMS], ostride[EQ_BCAST_MAX_DIMS], idx[EQ_BCAST_MAX_DIMS];
  size_t total = 1, rows = 1;
  if (ndim == 0) {
    out[0] = in[0];
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
  for (size_t i = 0; i < total; ++i) out[i] = pad_value;
  for (int32_t k = 0; k < ndim - 1; ++k) rows *= (size_t)dims[k];
  const int32_t row = dims[ndim - 1];
  if (row == 0) return;
  for (size_t r = 0; r < rows; ++r) {
    size_t o = (size_t)before[ndim - 1];
    for (int32_t k = 0; k < ndim - 1; ++k) o += (size_t)(idx[k] + before[k]) * (size_t)ostride[k];
    memcpy(out + o, in + r * (size_t)row, (size_t)row * sizeof(int16_t));
    for (int32_t k = ndim - 2; k >= 0; --k) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}
