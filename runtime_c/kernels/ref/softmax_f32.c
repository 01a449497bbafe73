/* SOFTMAX in float (LiteRT's reference order: max, then the float sum of exp(beta * (x - max)), then
 * each exp over the sum), with eq_expf for exp. */
#include "eq_kernels_f32.h"

#include <string.h>

/* e^x rounded once to float: evaluated in double (x = n ln2 + r, |r| <= ln2 / 2, ln2 split so n * ln2_hi
 * is exact; e^r by its degree-13 Taylor polynomial, truncation < 2^-57; 2^n built in the exponent bits),
 * relative error about 1e-15 before the one rounding to float, so the result is the correctly rounded
 * e^x except within ~1e-15 of a rounding boundary. LiteRT calls the C library's expf, which glibc
 * computes within 0.502 ulp: the two agree except on ~0.06% of arguments, where glibc is the one off.
 * Doubles are software on single-precision FPUs; softmax calls this depth * 2 times a row. */
float eq_expf(float x) {
  if (x != x) return x;
  if (x > 88.72284f) return 3.402823466e38f * 2.0f; /* +inf */
  if (x < -103.972084f) return 0.0f;
  const double xd = x;
  const double t = xd * 1.4426950408889634;
  const int32_t n = (int32_t)(t < 0 ? t - 0.5 : t + 0.5);
  const double r = (xd - (double)n * 6.93147180369123816490e-01) - (double)n * 1.90821492927058770002e-10;
  double e = 1.0 / 6227020800.0; /* 1/13! */
  static const double inv_fact[13] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                      1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                                      1.0 / 6.0, 0.5, 1.0, 1.0};
  for (int i = 0; i < 13; ++i) e = e * r + inv_fact[i];
  /* n in [-150, 128]: 2^n is a normal double. */
  const uint64_t bits = (uint64_t)(n + 1023) << 52;
  double p2;
  memcpy(&p2, &bits, 8);
  return (float)(e * p2);
}

void eq_softmax_f32(float beta, int32_t rows, int32_t depth, const float *in, float *out) {
  for (int32_t r = 0; r < rows; ++r) {
    const float *x = in + (int64_t)r * depth;
    float *y = out + (int64_t)r * depth;
    float mx = x[0];
    for (int32_t i = 1; i < depth; ++i) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int32_t i = 0; i < depth; ++i) sum += eq_expf((x[i] - mx) * beta);
    for (int32_t i = 0; i < depth; ++i) y[i] = eq_expf((x[i] - mx) * beta) / sum;
  }
}
