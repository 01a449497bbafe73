/* RELU and RELU6, int16: requantize to the output scale, then clamp to the activation's range. */
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

void eq_relu_s16(const eq_relu_params *p, int32_t n, const int16_t *in, int16_t *out) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t r = p->out_zp + eq_mul_by_quantized_mul(in[i] - p->in_zp, p->multiplier, p->shift);
    out[i] = (int16_t)eq_clamp32(r, p->act_min, p->act_max);
  }
}
