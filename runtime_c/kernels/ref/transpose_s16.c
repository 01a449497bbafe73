/* TRANSPOSE, int16: walks the output in order, reading the input through permuted strides. */
#include "eq_kernels_s16.h"

void eq_transpose_s16(int32_t ndim, const int32_t *dims, const int32_t *perm, const int16_t *in,
                      int16_t *out) {
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
    out[o] = in[src];
    for (int32_t k = ndim - 1; k >= 0; --k) {
      src += (size_t)ps[k];
      if (++idx[k] < odims[k]) break;
      src -= (size_t)ps[k] * (size_t)odims[k];
      idx[k] = 0;
    }
  }
}
