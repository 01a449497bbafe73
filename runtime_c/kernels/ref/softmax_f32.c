/* SOFTMAX in float (LiteRT's reference order: max, then the float sum of exp(beta * (x - max)), then
 * each exp over the sum), with eq_expf for exp. */
#include "eq_kernels_f32.h"

#include <string.h>

/* e^x = 2^n * e^r, x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so n ln2 is exact), e^r by its
 * degree-7 Taylor polynomial (truncation error < 2^-30 there), 2^n built in the exponent bits. */
float eq_expf(float x) {
  if (x != x) return x;
  if (x > 88.72283f) return 3.402823466e38f * 2.0f; /* +inf */
  if (x < -103.97208f) return 0.0f;
  const float n = (float)(int32_t)(x * 1.44269504f + (x < 0 ? -0.5f : 0.5f));
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  float e = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f + r * (8.33333377e-3f +
            r * (1.38888892e-3f + r * 1.98412701e-4f))))));
  int32_t k = (int32_t)n;
  /* 2^k for k in [-150, 128]: two steps keep each factor a normal float. */
  const int32_t k1 = k / 2, k2 = k - k1;
  uint32_t b1 = (uint32_t)(k1 + 127) << 23, b2 = (uint32_t)(k2 + 127) << 23;
  float f1, f2;
  memcpy(&f1, &b1, 4);
  memcpy(&f2, &b2, 4);
  return e * f1 * f2;
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
