/* SUB, int16: general scales (left shift 15, LiteRT's BroadcastQuantSubSlow) or, with power-of-two
 * scales and pot_scale_int16, one operand rounded right and a saturating difference. */
#include "broadcast_loop.h"
#include "eq_kernels_s16.h"
#include "fixedpoint.h"
#include "pot_s16.h"

static inline int16_t sub_one(const eq_sub_params *p, int32_t x, int32_t y) {
  const int32_t a = eq_mul_by_quantized_mul(eq_shl_sat32(p->in1_offset + x, p->left_shift), p->in1_multiplier,
                                            p->in1_shift);
  const int32_t c = eq_mul_by_quantized_mul(eq_shl_sat32(p->in2_offset + y, p->left_shift), p->in2_multiplier,
                                            p->in2_shift);
  const int32_t r = eq_mul_by_quantized_mul(a - c, p->out_multiplier, p->out_shift) + p->out_offset;
  return (int16_t)eq_clamp32(r, p->act_min, p->act_max);
}

void eq_sub_s16(const eq_sub_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  EQ_BROADCAST_LOOP(b, out[o] = sub_one(p, in1[i1], in2[i2]));
}

void eq_sub_s16_pot(const eq_pot_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                    int16_t *out) {
  EQ_BROADCAST_LOOP(b, {
    const int32_t d = eq_pot_round_s16(in1[i1], -p->in1_shift) - eq_pot_round_s16(in2[i2], -p->in2_shift);
    out[o] = (int16_t)eq_clamp32(eq_clamp32(d, INT16_MIN, INT16_MAX), p->act_min, p->act_max);
  });
}
