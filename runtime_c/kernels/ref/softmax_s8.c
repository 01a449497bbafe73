/* SOFTMAX int8 -> int8 with TFLite's reference integer algorithm: differences to the row maximum,
 * scaled by beta * input_scale into Q5.26, go through gemmlowp's fixed-point exp; their sum (Q12.19)
 * is inverted with a Newton-Raphson reciprocal; each exp times the reciprocal gives the output. */
#include "eq_kernels_core.h"
#include "ref/fixedpoint.h"

static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
#define MUL eq_sat_rounding_doubling_high_mul

/* gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent. */
static int32_t sat_shl(int32_t x, int e) {
  const int32_t threshold = (int32_t)((1u << (31 - e)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return eq_shl_sat32(x, e);
}

/* exp(a) for a in [-1/4, 0), all Q0.31. Taylor expansion around -1/8. */
static int32_t exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668; /* exp(-1/8) */
  const int32_t one_third = 715827883;
  const int32_t x = wrap_add(a, 1 << 28);
  const int32_t x2 = MUL(x, x);
  const int32_t x3 = MUL(x2, x);
  const int32_t x4 = MUL(x2, x2);
  const int32_t x4_over_4 = eq_rounding_divide_by_pot(x4, 2);
  const int32_t poly = eq_rounding_divide_by_pot(wrap_add(MUL(wrap_add(x4_over_4, x3), one_third), x2), 1);
  return wrap_add(constant_term, MUL(constant_term, wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q5.26; result Q0.31. */
static int32_t exp_negative_q5_26(int32_t a) {
  static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t quarter = 1 << 24;
  const int32_t a_mod = wrap_sub(a & (quarter - 1), quarter);
  int32_t result = exp_quarter(sat_shl(a_mod, 5));
  const int32_t remainder = wrap_sub(a_mod, a);
  for (int e = -2; e <= 4; ++e)
    if (remainder & (int32_t)(1u << (26 + e))) result = MUL(result, mults[e + 2]);
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1) in Q0.31 -> Q0.31, Newton-Raphson in Q2.29. */
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = wrap_add(1515870810, MUL(half_denominator, -1010580540));
  for (int i = 0; i < 3; ++i) {
    const int32_t hx = MUL(half_denominator, x);
    const int32_t one_minus = wrap_sub(1 << 29, hx);
    x = wrap_add(x, sat_shl(MUL(x, one_minus), 2));
  }
  return sat_shl(x, 1);
}

static int clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

void eq_softmax_s8(const eq_softmax_params *p, int32_t rows, int32_t depth, const int8_t *in, int8_t *out) {
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t *x = in + (int64_t)r * depth;
    int8_t *y = out + (int64_t)r * depth;
    int32_t max = -128;
    for (int32_t c = 0; c < depth; ++c)
      if (x[c] > max) max = x[c];
    int32_t sum = 0; /* Q12.19 */
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max;
      if (diff < p->diff_min) continue;
      const int32_t scaled = MUL(eq_shl_sat32(diff, p->input_left_shift), p->input_multiplier);
      sum = wrap_add(sum, eq_rounding_divide_by_pot(exp_negative_q5_26(scaled), 12));
    }
    const int headroom = clz32((uint32_t)sum);
    const int bits_over_unit = 12 - headroom;
    const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
    const int32_t reciprocal = one_over_one_plus_x(shifted_minus_one);
    const int exponent = bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max;
      if (diff < p->diff_min) {
        y[c] = -128;
        continue;
      }
      const int32_t scaled = MUL(eq_shl_sat32(diff, p->input_left_shift), p->input_multiplier);
      const int32_t e = exp_negative_q5_26(scaled);
      const int32_t v = eq_rounding_divide_by_pot(MUL(reciprocal, e), exponent) - 128;
      y[c] = (int8_t)eq_clamp32(v, -128, 127);
    }
  }
}
