/* ADD, int8 with broadcasting (TFLite reference: both inputs shifted left by left_shift, each scaled
 * to the common scale, summed, requantized to the output, clamped). */
#include "eq_kernels_core.h"
#include "ref/fixedpoint.h"

static inline int32_t scaled(int32_t v, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift) {
  return eq_mul_by_quantized_mul(eq_shl_sat32(v + offset, left_shift), mult, shift);
}

void eq_add_s8_tables(const eq_add_params *p, int32_t *in1_table, int32_t *in2_table) {
  for (int32_t v = -128; v < 128; ++v) {
    in1_table[v + 128] = scaled(v, p->in1_offset, p->left_shift, p->in1_multiplier, p->in1_shift);
    in2_table[v + 128] = scaled(v, p->in2_offset, p->left_shift, p->in2_multiplier, p->in2_shift);
  }
}

static inline int8_t add_one(const eq_add_params *p, int32_t a, int32_t b) {
  const int32_t sa = p->in1_table ? p->in1_table[a + 128]
                                  : scaled(a, p->in1_offset, p->left_shift, p->in1_multiplier, p->in1_shift);
  const int32_t sb = p->in2_table ? p->in2_table[b + 128]
                                  : scaled(b, p->in2_offset, p->left_shift, p->in2_multiplier, p->in2_shift);
  const int32_t r = eq_mul_by_quantized_mul(sa + sb, p->out_multiplier, p->out_shift) + p->out_offset;
  return (int8_t)eq_clamp32(r, p->act_min, p->act_max);
}

void eq_add_s8(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
               const int32_t stride2[6], const int8_t *in1, const int8_t *in2, int8_t *out) {
  int64_t o = 0;
  int same = 1; /* no broadcasting: one flat loop */
  for (int d = 0; d < 6; ++d) same &= stride1[d] == stride2[d];
  if (same) {
    int64_t count = 1;
    for (int d = 0; d < 6; ++d) count *= dims[d];
    if (count > 0 && stride1[5] == 1) {
      for (int64_t i = 0; i < count; ++i) out[i] = add_one(p, in1[i], in2[i]);
      return;
    }
  }
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
