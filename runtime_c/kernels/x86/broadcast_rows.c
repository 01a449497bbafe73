/* The broadcast walk of the x86 binary kernels: axes merged, then one row call per innermost run. */
#include "x86_elementwise.h"

int eq_x86_broadcast_rows(const int32_t dims[6], const int32_t stride1[6], const int32_t stride2[6],
                          const int8_t *in1, const int8_t *in2, int8_t *out, const void *p, eq_x86_row_fn *row) {
  int32_t d[6], a[6], b[6]; /* merged axes, innermost first */
  int k = 0;
  for (int i = 5; i >= 0; --i) {
    if (dims[i] <= 0) return 0; /* empty output */
    if (dims[i] == 1) continue;
    if (k > 0 && (int64_t)stride1[i] == (int64_t)a[k - 1] * d[k - 1] &&
        (int64_t)stride2[i] == (int64_t)b[k - 1] * d[k - 1] && (int64_t)d[k - 1] * dims[i] <= INT32_MAX) {
      d[k - 1] *= dims[i];
      continue;
    }
    d[k] = dims[i], a[k] = stride1[i], b[k] = stride2[i];
    k++;
  }
  if (k == 0) d[0] = 1, a[0] = b[0] = 1, k = 1;
  /* eq_bcast_init gives the innermost axis stride 1 or 0 for each operand; other layouts go to ref. */
  if ((a[0] != 0 && a[0] != 1) || (b[0] != 0 && b[0] != 1)) return -1;
  int64_t rows = 1;
  for (int i = 1; i < k; ++i) rows *= d[i];
  int32_t idx[6] = {0};
  int64_t oa = 0, ob = 0;
  for (int64_t r = 0; r < rows; ++r) {
    row(p, d[0], in1 + oa, a[0] != 0, in2 + ob, b[0] != 0, out + r * d[0]);
    for (int i = 1; i < k; ++i) {
      oa += a[i], ob += b[i];
      if (++idx[i] < d[i]) break;
      oa -= (int64_t)a[i] * d[i], ob -= (int64_t)b[i] * d[i];
      idx[i] = 0;
    }
  }
  return 0;
}
