/* Numpy-style broadcasting of two shapes into the 6-D form the binary kernels walk. */
#include "eq_kernels_elementwise.h"

int eq_bcast_init(eq_bcast *b, const int32_t *dims1, int32_t n1, const int32_t *dims2, int32_t n2,
                      int32_t *out_dims, int32_t *out_ndim) {
  const int32_t n = n1 > n2 ? n1 : n2;
  if (n1 < 0 || n2 < 0 || n > EQ_BCAST_MAX_DIMS) return -1;
  /* Right-align both shapes on 6 axes; leading axes are 1. */
  int32_t e1[EQ_BCAST_MAX_DIMS], e2[EQ_BCAST_MAX_DIMS];
  for (int k = 0; k < EQ_BCAST_MAX_DIMS; ++k) {
    int j1 = k - (EQ_BCAST_MAX_DIMS - n1), j2 = k - (EQ_BCAST_MAX_DIMS - n2);
    e1[k] = j1 >= 0 ? dims1[j1] : 1;
    e2[k] = j2 >= 0 ? dims2[j2] : 1;
  }
  int32_t st1 = 1, st2 = 1;
  for (int k = EQ_BCAST_MAX_DIMS - 1; k >= 0; --k) {
    if (e1[k] != e2[k] && e1[k] != 1 && e2[k] != 1) return -1;
    b->dims[k] = e1[k] == 1 ? e2[k] : e1[k];
    b->stride1[k] = e1[k] == 1 ? 0 : st1;
    b->stride2[k] = e2[k] == 1 ? 0 : st2;
    st1 *= e1[k];
    st2 *= e2[k];
  }
  if (out_dims) {
    for (int k = 0; k < n; ++k) out_dims[k] = b->dims[EQ_BCAST_MAX_DIMS - n + k];
  }
  if (out_ndim) *out_ndim = n;
  return 0;
}
