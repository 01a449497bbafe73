/* PRELU, int8: identity multiplier for non-negative inputs, input*alpha product multiplier otherwise. */
#include "broadcast_loop.h"
#include "eq_kernels_elementwise.h"
#include "fixedpoint.h"

void eq_prelu_s8(const eq_prelu_params *p, const eq_bcast *b, const int8_t *in, const int8_t *alpha,
                 int8_t *out) {
  EQ_BROADCAST_LOOP(b, {
    const int32_t x = p->in_offset + in[i1];
    int32_t r;
    if (x >= 0) {
      r = eq_mul_by_quantized_mul(x, p->multiplier_pos, p->shift_pos);
    } else {
      r = eq_mul_by_quantized_mul(x * (p->alpha_offset + alpha[i2]), p->multiplier_neg, p->shift_neg);
    }
    out[o] = (int8_t)eq_clamp32(r + p->out_offset, -128, 127);
  });
}
