/* SUB, int8: both operands rescaled to a common 2^-20-finer scale, subtracted, then requantized. */
#include "broadcast_loop.h"
#include "eq_kernels_elementwise.h"
#include "fixedpoint.h"

static inline int8_t sub_one(const eq_sub_params *p, int8_t x, int8_t y) {
  const int32_t a = eq_mul_by_quantized_mul(eq_shl_sat32(p->in1_offset + x, p->left_shift), p->in1_multiplier,
                                            p->in1_shift);
  const int32_t c = eq_mul_by_quantized_mul(eq_shl_sat32(p->in2_offset + y, p->left_shift), p->in2_multiplier,
                                            p->in2_shift);
  const int32_t r = eq_mul_by_quantized_mul(a - c, p->out_multiplier, p->out_shift) + p->out_offset;
  return (int8_t)eq_clamp32(r, p->act_min, p->act_max);
}

void eq_sub_s8(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
  EQ_BROADCAST_LOOP(b, out[o] = sub_one(p, in1[i1], in2[i2]));
}
