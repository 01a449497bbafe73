/* ADD, int16. General scales: each input shifted left by 15 (int16 values leave room in 32 bits),
 * rescaled to the common scale, summed and requantized, as LiteRT's AddGeneralParamScale. Power-of-two
 * scales with pot_scale_int16: LiteRT's older fixed-point path, one input rounded right, saturating sum. */
#include "eq_kernels_s16.h"
#include "fixedpoint.h"
#include "pot_s16.h"

static inline int16_t add_one(const eq_add_params *p, int32_t a, int32_t b) {
  const int32_t sa = eq_mul_by_quantized_mul(eq_shl_sat32(a + p->in1_offset, p->left_shift), p->in1_multiplier,
                                             p->in1_shift);
  const int32_t sb = eq_mul_by_quantized_mul(eq_shl_sat32(b + p->in2_offset, p->left_shift), p->in2_multiplier,
                                             p->in2_shift);
  const int32_t r = eq_mul_by_quantized_mul(sa + sb, p->out_multiplier, p->out_shift) + p->out_offset;
  return (int16_t)eq_clamp32(r, p->act_min, p->act_max);
}

void eq_add_s16(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
                const int32_t stride2[6], const int16_t *in1, const int16_t *in2, int16_t *out) {
  int64_t o = 0;
  for (int32_t i0 = 0; i0 < dims[0]; ++i0)
    for (int32_t i1 = 0; i1 < dims[1]; ++i1)
      for (int32_t i2 = 0; i2 < dims[2]; ++i2)
        for (int32_t i3 = 0; i3 < dims[3]; ++i3)
          for (int32_t i4 = 0; i4 < dims[4]; ++i4) {
            const int64_t a0 = (int64_t)i0 * stride1[0] + (int64_t)i1 * stride1[1] + (int64_t)i2 * stride1[2] +
                               (int64_t)i3 * stride1[3] + (int64_t)i4 * stride1[4];
            const int64_t b0 = (int64_t)i0 * stride2[0] + (int64_t)i1 * stride2[1] + (int64_t)i2 * stride2[2] +
                               (int64_t)i3 * stride2[3] + (int64_t)i4 * stride2[4];
            for (int32_t i5 = 0; i5 < dims[5]; ++i5)
              out[o++] = add_one(p, in1[a0 + (int64_t)i5 * stride1[5]], in2[b0 + (int64_t)i5 * stride2[5]]);
          }
}

void eq_add_s16_pot(const eq_pot_params *p, int32_t n, const int16_t *in1, const int16_t *in2, int16_t *out) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t a = eq_pot_round_s16(in1[i], -p->in1_shift);
    const int32_t b = eq_pot_round_s16(in2[i], -p->in2_shift);
    out[i] = (int16_t)eq_clamp32(eq_clamp32(a + b, INT16_MIN, INT16_MAX), p->act_min, p->act_max);
  }
}
