/* gemmlowp's RoundingDivideByPOT evaluated in int16, as LiteRT's power-of-two int16 ADD/SUB call it on
 * int16 operands: the mask (2^e - 1) and threshold are int16 values too, which only matters for e >= 16. */
#ifndef EDGEQ_POT_S16_H
#define EDGEQ_POT_S16_H

#include <stdint.h>

static inline int32_t eq_pot_round_s16(int16_t x, int32_t exponent) {
  if (exponent == 0) return x;
  const int16_t mask = (int16_t)(uint16_t)(((uint64_t)1 << exponent) - 1);
  const int16_t remainder = (int16_t)(x & mask);
  const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
  const int32_t shifted = exponent >= 16 ? (x < 0 ? -1 : 0) : (x >> exponent);
  return (int16_t)(shifted + (remainder > threshold ? 1 : 0));
}

#endif
