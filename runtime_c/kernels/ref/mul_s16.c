/* MUL, int16 (symmetric): the int32 product requantized by one multiplier; |product| <= 2^30. */
#include "broadcast_loop.h"
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

void eq_mul_s16(const eq_mul_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  EQ_BROADCAST_LOOP(b, {
    const int32_t prod = (p->in1_offset + in1[i1]) * (p->in2_offset + in2[i2]);
    const int32_t r = eq_mul_by_quantized_mul(prod, p->out_multiplier, p->out_shift) + p->out_offset;
    out[o] = (int16_t)eq_clamp32(r, p->act_min, p->act_max);
  });
}
