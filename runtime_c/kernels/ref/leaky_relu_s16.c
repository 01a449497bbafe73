/* LEAKY_RELU, int16: identity multiplier for non-negative inputs, alpha multiplier (applied as its
 * magnitude, then negated for a negative alpha) for the others; clamped to int16. */
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

void eq_leaky_relu_s16(const eq_leaky_relu_params *p, int32_t n, const int16_t *in, int16_t *out) {
  const int negative_alpha = p->multiplier_alpha < 0;
  const int32_t alpha_mul = negative_alpha ? -p->multiplier_alpha : p->multiplier_alpha;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t x = in[i] - p->in_zp;
    int32_t r = p->out_zp;
    if (x >= 0) {
      r += eq_mul_by_quantized_mul(x, p->multiplier_identity, p->shift_identity);
    } else {
      const int32_t s = eq_mul_by_quantized_mul(x, alpha_mul, p->shift_alpha);
      r += negative_alpha ? -s : s;
    }
    out[i] = (int16_t)eq_clamp32(r, INT16_MIN, INT16_MAX);
  }
}
