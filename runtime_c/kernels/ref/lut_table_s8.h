/* Builds an int8 activation table the way LiteRT's reference kernels do: dequantize each of the 256
 * inputs in float, apply f in float, scale by the float reciprocal of the output scale, round half away
 * from zero, add the zero point in float, truncate and clamp. Keeping every step in float is what makes
 * the table byte-identical. */
#ifndef EDGEQ_LUT_TABLE_S8_H
#define EDGEQ_LUT_TABLE_S8_H

#include <math.h>
#include <stdint.h>

static inline void eq_lut_table_s8(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
                                   float (*f)(float), int8_t *table) {
  const float inverse_scale = 1.0f / out_scale;
  for (int32_t v = -128; v <= 127; ++v) {
    const float x = in_scale * (float)(v - in_zp);
    const float rescaled = roundf(f(x) * inverse_scale);
    int32_t q = (int32_t)(rescaled + (float)out_zp);
    q = q < -128 ? -128 : (q > 127 ? 127 : q);
    table[(uint8_t)(int8_t)v] = (int8_t)q;
  }
}

#endif
