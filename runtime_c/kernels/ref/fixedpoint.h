/* Integer requantization arithmetic shared by every kernel, with the rounding of TFLite's reference
 * kernels (gemmlowp's saturating rounding doubling high multiply followed by a rounding right shift).
 * Shifts are written with unsigned arithmetic so that the sanitizers see no signed overflow. */
#ifndef EDGEQ_FIXEDPOINT_H
#define EDGEQ_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t eq_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero, as gemmlowp */
}

static inline int32_t eq_rounding_divide_by_pot(int32_t x, int exponent) {
  int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t eq_shl_sat32(int32_t x, int left) {
  return (int32_t)((uint32_t)x << left);
}

/* TFLite's MultiplyByQuantizedMultiplier: shift > 0 is a left shift applied before the multiply. */
static inline int32_t eq_mul_by_quantized_mul(int32_t x, int32_t multiplier, int32_t shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  return eq_rounding_divide_by_pot(eq_sat_rounding_doubling_high_mul(eq_shl_sat32(x, left), multiplier), right);
}

/* The single-rounding form: round(x * multiplier / 2^(31 - shift)) in 64 bits, ties away from zero as
 * the reference FULLY_CONNECTED (int8) rounds, while CONV_2D and the other ops use the two-step form
 * above; the two differ by one on ties (verified on the MLPerf AD model and on exact-tie scales). */
static inline int32_t eq_mul_by_quantized_mul_single(int32_t x, int32_t multiplier, int32_t shift) {
  const int total = 31 - shift;
  const int64_t p = (int64_t)x * (int64_t)multiplier;
  const int64_t half = (int64_t)1 << (total - 1);
  return (int32_t)((p + (p < 0 ? half - 1 : half)) >> total);
}

static inline int32_t eq_clamp32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

#endif
