/* LOGISTIC, int16 -> int16 (output scale 2^-15): LiteRT's interpolated sigmoid table. The input is
 * scaled so that 2^9 units span one table step (1/24), sigmoid(-x) is taken as 1 - sigmoid(x). */
#include "eq_kernels_s16.h"

void eq_logistic_s16(const eq_sigmoid_params *p, int32_t n, const int16_t *in, int16_t *out) {
  const int32_t round = p->shift > 0 ? (int32_t)1 << (p->shift - 1) : 0;
  for (int32_t i = 0; i < n; ++i) {
    /* int32 arithmetic that wraps for huge input scales, as LiteRT's does in practice */
    const int32_t x = (int32_t)((uint32_t)in[i] * (uint32_t)p->multiplier + (uint32_t)round) >> p->shift;
    const uint32_t ax = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
    const uint32_t uh = ax >> 9;
    uint32_t r;
    if (uh >= 255) {
      r = (uint32_t)0x7FFF << 10;
    } else {
      const uint32_t a = eq_sigmoid_table_u16[uh], b = eq_sigmoid_table_u16[uh + 1];
      r = (a << 9) + (ax & 0x1ff) * (b - a); /* b >= a: the table rises */
    }
    r = x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
    out[i] = (int16_t)(r >> 10);
  }
}
