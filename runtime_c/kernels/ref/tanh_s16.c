/* TANH, int16 -> int16 (output scale 2^-15): tanh(x) = 2 sigmoid(2x) - 1 on LiteRT's interpolated sigmoid
 * table, the input scaled so that 2^8 units span one table step. */
#include "eq_kernels_s16.h"

void eq_tanh_s16(const eq_sigmoid_params *p, int32_t n, const int16_t *in, int16_t *out) {
  const int32_t round = p->shift > 0 ? (int32_t)1 << (p->shift - 1) : 0;
  for (int32_t i = 0; i < n; ++i) {
    /* int32 arithmetic that wraps for huge input scales, as LiteRT's does in practice */
    const int32_t x = (int32_t)((uint32_t)in[i] * (uint32_t)p->multiplier + (uint32_t)round) >> p->shift;
    const uint32_t ax = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
    const uint32_t uh = ax >> 8;
    int32_t r;
    if (uh >= 255) {
      r = 0xFFFF << 8;
    } else {
      const uint32_t a = eq_sigmoid_table_u16[uh], b = eq_sigmoid_table_u16[uh + 1];
      r = (int32_t)((a << 8) + (ax & 0xff) * (b - a));
    }
    r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    out[i] = (int16_t)(r >> 8);
  }
}
