/* SUB int8 for AVX2 and AVX-512: ADD's row kernels (add_s8.c) with the second input negated after its
 * rescale, as the reference subtracts the rescaled values. */
#include "x86_elementwise.h"
#include "x86_kernels.h"

static eq_x86_addsub from_sub(const eq_sub_params *p) {
  eq_x86_addsub q = {p->left_shift, p->in1_offset, p->in1_multiplier, p->in1_shift, p->in2_offset,
                     p->in2_multiplier, p->in2_shift, p->out_offset, p->out_multiplier, p->out_shift,
                     p->act_min, p->act_max, 1, NULL, NULL};
  return q;
}

void eq_sub_s8_avx2(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
                    int8_t *out) {
  const eq_x86_addsub q = from_sub(p);
  if (!eq_x86_addsub_supported(&q) || eq_x86_addsub_rows(&q, 0, b->dims, b->stride1, b->stride2, in1, in2, out))
    eq_sub_s8(p, b, in1, in2, out);
}

void eq_sub_s8_avx512vnni(const eq_sub_params *p, const eq_bcast *b, const int8_t *in1, const int8_t *in2,
                          int8_t *out) {
  const eq_x86_addsub q = from_sub(p);
  if (!eq_x86_addsub_supported(&q) || eq_x86_addsub_rows(&q, 1, b->dims, b->stride1, b->stride2, in1, in2, out))
    eq_sub_s8(p, b, in1, in2, out);
}
