/* PRELU, int16 input with int8 alpha: identity multiplier for non-negative inputs, the input*alpha
 * product multiplier otherwise; clamped to int16. */
#include "broadcast_loop.h"
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

void eq_prelu_s16(const eq_prelu_params *p, const eq_bcast *b, const int16_t *in, const int8_t *alpha,
                  int16_t *out) {
  EQ_BROADCAST_LOOP(b, {
    const int32_t x = p->in_offset + in[i1];
    int32_t r;
    if (x >= 0) {
      r = eq_mul_by_quantized_mul(x, p->multiplier_pos, p->shift_pos);
    } else {
      r = eq_mul_by_quantized_mul(x * (p->alpha_offset + alpha[i2]), p->multiplier_neg, p->shift_neg);
    }
    out[o] = (int16_t)eq_clamp32(r + p->out_offset, INT16_MIN, INT16_MAX);
  });
}
