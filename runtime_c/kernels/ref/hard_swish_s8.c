/* HARD_SWISH, int8: x * relu6(x + 3) / 6 in 16-bit fixed point, step for step as LiteRT's reference
 * kernel (including its int16 wrap-around when the zero point is added). */
#include "eq_kernels_elementwise.h"

static int16_t srdhm16(int16_t a, int16_t b) { /* saturating rounding doubling high multiply */
  if (a == b && a == INT16_MIN) return INT16_MAX;
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16(int16_t a, int16_t b) { /* the same without rounding */
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t rdbp16(int16_t x, int exponent) { /* rounding divide by 2^exponent */
  const int16_t mask = (int16_t)((1 << exponent) - 1);
  const int16_t remainder = (int16_t)(x & mask);
  const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
  return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t sat_shl16(int16_t v, int amount) {
  int32_t r = (int32_t)v * (1 << amount);
  return (int16_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}

void eq_hard_swish_s8(const eq_hard_swish_params *p, int32_t n, const int8_t *in, int8_t *out) {
  for (int32_t i = 0; i < n; ++i) {
    const int16_t x = (int16_t)(in[i] - p->in_zp);
    const int16_t x_hires = (int16_t)(x * (1 << 7));
    const int16_t x_pre_out = srdhm16(x_hires, p->out_multiplier);
    int16_t reluish = x_hires;
    if (p->reluish_exponent > 0) reluish = sat_shl16(reluish, p->reluish_exponent - 1);
    reluish = srdhm16(reluish, p->reluish_multiplier);
    if (p->reluish_exponent > 0) reluish = sat_shl16(reluish, 1);
    if (p->reluish_exponent < 0) reluish = rdbp16(reluish, -p->reluish_exponent);
    reluish = (int16_t)((reluish + (1 << 15)) >> 1); /* [-1, 1] -> [0, 1] */
    const int16_t pre_out = sdhm16(reluish, x_pre_out);
    int16_t y = rdbp16(pre_out, -p->out_exponent);
    y = (int16_t)(y + p->out_zp);
    out[i] = (int8_t)(y > 127 ? 127 : (y < -128 ? -128 : y));
  }
}
