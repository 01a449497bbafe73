/* AVX2 twins of the hybrid kernels' run-time row quantization (ref/hybrid_quantize.c), same bytes:
 * the min / max scan 8 floats a vector (order-free: a NaN anywhere sends the row to the reference's
 * scan, whose result then depends on where it sits), the parameters from the reference's own scalar
 * code, then 32 values a step: r = x * inv, clamped to +-1024 (a NaN to -1024, as the reference's
 * round maps it), trunc(r + copysign(0.5f, r)), + zero point, saturated to int8 (symmetric: then
 * raised to -127). The last n % 32 values take the reference's scalar steps. */
#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#include <string.h>

/* The reference's round_q. */
static int32_t round_q(float r) {
  const float h = r < 0.0f ? r - 0.5f : r + 0.5f;
  if (!(h > -1024.0f && h < 1024.0f)) return h > 0.0f ? 1024 : -1024;
  return (int32_t)h;
}

/* 0 when x holds a NaN (the caller runs the reference). */
static EQ_AVX2 int min_max(const float *x, int32_t n, float *lo_out, float *hi_out) {
  __m256 lo0 = _mm256_loadu_ps(x), hi0 = lo0, lo1 = lo0, hi1 = lo0, nan = _mm256_cmp_ps(lo0, lo0, _CMP_UNORD_Q);
  int32_t i = 8;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
    lo1 = _mm256_min_ps(lo1, b), hi1 = _mm256_max_ps(hi1, b);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan)) return 0;
  float l[8], h[8];
  _mm256_storeu_ps(l, _mm256_min_ps(lo0, lo1));
  _mm256_storeu_ps(h, _mm256_max_ps(hi0, hi1));
  float lo = l[0], hi = h[0];
  for (int k = 1; k < 8; ++k) {
    lo = l[k] < lo ? l[k] : lo;
    hi = h[k] > hi ? h[k] : hi;
  }
  for (; i < n; ++i) {
    if (x[i] != x[i]) return 0;
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  *lo_out = lo;
  *hi_out = hi;
  return 1;
}

EQ_INLINE EQ_AVX2 __m256i rounded(const float *x, __m256 inv, __m256i zp) {
  const __m256 lim = _mm256_set1_ps(1024.0f), sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
  __m256 r = _mm256_mul_ps(_mm256_loadu_ps(x), inv);
  r = _mm256_min_ps(_mm256_max_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim); /* NaN -> -1024 */
  r = _mm256_add_ps(r, _mm256_or_ps(_mm256_and_ps(r, sign), half));
  return _mm256_add_epi32(_mm256_cvttps_epi32(r), zp);
}

/* q[i] = clamp(zp + round(x[i] * inv), qmin, 127), qmin -127 or -128. */
static EQ_AVX2 void quantize(const float *x, int32_t n, int8_t *q, float inv, int32_t zp, int32_t qmin) {
  const __m256 iv = _mm256_set1_ps(inv);
  const __m256i zv = _mm256_set1_epi32(zp), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i floor = _mm256_set1_epi8((int8_t)qmin);
  int32_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i a = rounded(x + i, iv, zv), b = rounded(x + i + 8, iv, zv);
    const __m256i c = rounded(x + i + 16, iv, zv), d = rounded(x + i + 24, iv, zv);
    const __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    _mm256_storeu_si256((__m256i *)(q + i), _mm256_max_epi8(_mm256_permutevar8x32_epi32(v, order), floor));
  }
  for (; i < n; ++i) {
    const int32_t r = zp + round_q(x[i] * inv);
    q[i] = (int8_t)(r < qmin ? qmin : (r > 127 ? 127 : r));
  }
}

EQ_AVX2 void eq_quantize_row_symmetric_avx2(const float *x, int32_t n, int8_t *q, float *scale) {
  float lo, hi, inv;
  if (n < 8 || !min_max(x, n, &lo, &hi)) {
    eq_quantize_row_symmetric(x, n, q, scale);
    return;
  }
  if (eq_symmetric_params(lo, hi, scale, &inv))
    quantize(x, n, q, inv, 0, -127);
  else
    memset(q, 0, (size_t)n);
}

EQ_AVX2 void eq_quantize_row_asymmetric_avx2(const float *x, int32_t n, int8_t *q, float *scale,
                                             int32_t *zero_point) {
  float lo, hi, inv;
  if (n < 8 || !min_max(x, n, &lo, &hi)) {
    eq_quantize_row_asymmetric(x, n, q, scale, zero_point);
    return;
  }
  if (eq_asymmetric_params(lo, hi, scale, &inv, zero_point))
    quantize(x, n, q, inv, *zero_point, -128);
  else
    memset(q, 0, (size_t)n);
}
