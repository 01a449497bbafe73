/* Run-time quantization of float input rows for the hybrid kernels, with LiteRT's tensor_utils
 * arithmetic (float division for the symmetric scale, double for the asymmetric one, float
 * std::round of each value). No libm. */
#include "eq_kernels_lowbit.h"

#include <string.h>

static float round_f(float x) { /* std::round on a float: half away from zero */
  if (!(x > -8388608.0f && x < 8388608.0f)) return x; /* already integral (or NaN) */
  const float t = (float)(int32_t)x;
  const float frac = x - t;
  return frac >= 0.5f ? t + 1.0f : (frac <= -0.5f ? t - 1.0f : t);
}

static double round_d(double x) { return (double)eq_round_half_away(x); }

void eq_quantize_row_symmetric(const float *x, int32_t n, int8_t *q, float *scale) {
  float lo = n ? x[0] : 0.0f, hi = lo;
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const float alo = lo < 0 ? -lo : lo, ahi = hi < 0 ? -hi : hi;
  const float range = alo > ahi ? alo : ahi;
  if (range == 0.0f) {
    memset(q, 0, (size_t)n);
    *scale = 1.0f;
    return;
  }
  *scale = range / 127.0f;
  const float inv = 127.0f / range;
  for (int32_t i = 0; i < n; ++i) {
    const float r = round_f(x[i] * inv);
    q[i] = (int8_t)(r < -127.0f ? -127 : (r > 127.0f ? 127 : (int32_t)r));
  }
}

void eq_quantize_row_asymmetric(const float *x, int32_t n, int8_t *q, float *scale, int32_t *zero_point) {
  float lo = n ? x[0] : 0.0f, hi = lo;
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const float fmin = lo < 0.0f ? lo : 0.0f, fmax = hi > 0.0f ? hi : 0.0f;
  const double rmin = fmin, rmax = fmax;
  if (fmin == fmax) {
    memset(q, 0, (size_t)n);
    *scale = 1.0f;
    *zero_point = 0;
    return;
  }
  /* The range is subtracted in float before the division in double: that is what LiteRT computes
   * (measured: a double subtraction differs in the last bit of the scale for some rows). */
  const double s = (double)(fmax - fmin) / 255.0;
  const double zp_min = -128.0 - rmin / s, zp_max = 127.0 - rmax / s;
  const double err_min = 128.0 + (rmin / s < 0 ? -rmin / s : rmin / s);
  const double err_max = 127.0 + (rmax / s < 0 ? -rmax / s : rmax / s);
  const double zp = err_min < err_max ? zp_min : zp_max;
  const int32_t nudged = zp <= -128.0 ? -128 : (zp >= 127.0 ? 127 : (int32_t)round_d(zp));
  *scale = (float)s;
  *zero_point = nudged;
  const float inv = 1.0f / *scale;
  for (int32_t i = 0; i < n; ++i) {
    const float r = round_f((float)nudged + x[i] * inv);
    q[i] = (int8_t)(r < -128.0f ? -128 : (r > 127.0f ? 127 : (int32_t)r));
  }
}
