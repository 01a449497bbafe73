/* ADD, int8 with broadcasting (TFLite reference: both inputs shifted left by left_shift, each scaled
 * to the common scale, summed, requantized to the output, clamped). */
#include "eq_kernels_core.h"
#include "ref/fixedpoint.h"

static inline int8_t add_one(const eq_add_params *p, int32_t a, int32_t b) {
  const int32_t sa = eq_mul_by_quantized_mul(eq_shl_sat32(a + p->in1_offset, p->left_shift), p->in1_multiplier,
                                             p->in1_shift);
  const int32_t sb = eq_mul_by_quantized_mul(eq_shl_sat32(b + p->in2_offset, p->left_shift), p->in2_multiplier,
                                             p->in2_shift);
  const int32_t r = eq_mul_by_quantized_mul(sa + sb, p->out_multiplier, p->out_shift) + p->out_offset;
  return (int8_t)eq_clamp32(r, p->act_min, p->act_max);
}

void eq_add_s8(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
               const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out) {
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
