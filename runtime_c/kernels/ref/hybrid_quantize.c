/* Run-time quantization of float input rows for the hybrid kernels, with the arithmetic LiteRT 2.3's
 * reference kernels compute (measured on its binary, every hybrid op: FULLY_CONNECTED, CONV_2D,
 * DEPTHWISE_CONV_2D; tests/test_hybrid.py):
 *  - each value is scaled in float (r = x * inv, inv = 127 / range or 1 / scale), rounded as
 *    trunc(r + copysign(0.5f, r)) in float arithmetic, and only then offset by the zero point:
 *    q = zp + round(r). Rounding zp + r instead (what TFLite's portable source reads) differs whenever
 *    the float sum zp + r is a tie the other way or rounds onto one: measured in VWW hybrid's first
 *    layers about once in 20,000 values. The float addition of 0.5 differs from std::round only at
 *    |r| = 0.49999997, which rounds to 1.
 *  - the symmetric scale is range / 127 in float, the asymmetric one (float)(max - min) / 255 in double.
 * No libm. */
#include "eq_kernels_lowbit.h"

#include <string.h>

/* trunc(r + copysign(0.5f, r)) as an integer; |r| stays below 2^10 for finite rows, NaN gives the
 * minimum (as x86's conversion does). */
static int32_t round_q(float r) {
  const float h = r < 0.0f ? r - 0.5f : r + 0.5f;
  if (!(h > -1024.0f && h < 1024.0f)) return h > 0.0f ? 1024 : -1024;
  return (int32_t)h;
}

static void row_min_max(const float *x, int32_t n, float *lo_out, float *hi_out) {
  float lo = n ? x[0] : 0.0f, hi = lo;
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *lo_out = lo;
  *hi_out = hi;
}

static void quantize_symmetric(const float *x, int32_t n, int8_t *q, float inv) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t r = round_q(x[i] * inv);
    q[i] = (int8_t)(r < -127 ? -127 : (r > 127 ? 127 : r));
  }
}

static void quantize_asymmetric(const float *x, int32_t n, int8_t *q, float inv, int32_t zero_point) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t r = zero_point + round_q(x[i] * inv);
    q[i] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
  }
}

int eq_symmetric_params(float lo, float hi, float *scale, float *inv) {
  const float alo = lo < 0 ? -lo : lo, ahi = hi < 0 ? -hi : hi;
  const float range = alo > ahi ? alo : ahi;
  if (range == 0.0f) {
    *scale = 1.0f;
    return 0;
  }
  *scale = range / 127.0f;
  *inv = 127.0f / range;
  return 1;
}

int eq_asymmetric_params(float lo, float hi, float *scale, float *inv, int32_t *zero_point) {
  const float fmin = lo < 0.0f ? lo : 0.0f, fmax = hi > 0.0f ? hi : 0.0f;
  const double rmin = fmin, rmax = fmax;
  if (fmin == fmax) {
    *scale = 1.0f;
    *zero_point = 0;
    return 0;
  }
  /* The range is subtracted in float before the division in double: that is what LiteRT computes
   * (measured: a double subtraction differs in the last bit of the scale for some rows). */
  const double s = (double)(fmax - fmin) / 255.0;
  const double zp_min = -128.0 - rmin / s, zp_max = 127.0 - rmax / s;
  const double err_min = 128.0 + (rmin / s < 0 ? -rmin / s : rmin / s);
  const double err_max = 127.0 + (rmax / s < 0 ? -rmax / s : rmax / s);
  const double zp = err_min < err_max ? zp_min : zp_max;
  *zero_point = zp <= -128.0 ? -128 : (zp >= 127.0 ? 127 : (int32_t)eq_round_half_away(zp));
  *scale = (float)s;
  *inv = 1.0f / *scale;
  return 1;
}

void eq_quantize_row_symmetric(const float *x, int32_t n, int8_t *q, float *scale) {
  float lo, hi, inv;
  row_min_max(x, n, &lo, &hi);
  if (eq_symmetric_params(lo, hi, scale, &inv))
    quantize_symmetric(x, n, q, inv);
  else
    memset(q, 0, (size_t)n);
}

void eq_quantize_row_asymmetric(const float *x, int32_t n, int8_t *q, float *scale, int32_t *zero_point) {
  float lo, hi, inv;
  row_min_max(x, n, &lo, &hi);
  if (eq_asymmetric_params(lo, hi, scale, &inv, zero_point))
    quantize_asymmetric(x, n, q, inv, *zero_point);
  else
    memset(q, 0, (size_t)n);
}
