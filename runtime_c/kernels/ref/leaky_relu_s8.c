/* LEAKY_RELU, int8: one multiplier for non-negative inputs, one for alpha times the negative ones. A
 * negative alpha is applied as a positive multiplier and a negation, as the reference does. */
#include "eq_kernels_elementwise.h"
#include "fixedpoint.h"

void eq_leaky_relu_s8(const eq_leaky_relu_params *p, int32_t n, const int8_t *in, int8_t *out) {
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
    out[i] = (int8_t)eq_clamp32(r, -128, 127);
  }
}
