/* QUANTIZE with int16 on either side (float -> int16, int8/int16/int32 -> int8/int16/int32) and
 * DEQUANTIZE int16 -> float, with LiteRT's reference rounding. */
#include "eq_kernels_s16.h"
#include "fixedpoint.h"

/* std::round on a float (half away from zero), saturated to +-2^30 so adding a zero point cannot wrap. */
static int32_t round_sat(float v) {
  if (v != v) return 0;
  if (v >= 1073741824.0f) return 1073741824;
  if (v <= -1073741824.0f) return -1073741824;
  int32_t t = (int32_t)v;
  const float frac = v - (float)t;
  if (frac >= 0.5f) ++t;
  else if (frac <= -0.5f) --t;
  return t;
}

void eq_quantize_f32_s16(const float *in, int32_t n, float scale, int32_t zero_point, int16_t *out) {
  for (int32_t i = 0; i < n; ++i) out[i] = (int16_t)eq_clamp32(round_sat(in[i] / scale) + zero_point, INT16_MIN, INT16_MAX);
}

static int32_t load(const void *p, int32_t type, int32_t i) {
  if (type == 9) return ((const int8_t *)p)[i];
  if (type == 3) return ((const uint8_t *)p)[i];
  if (type == 7) return ((const int16_t *)p)[i];
  return ((const int32_t *)p)[i];
}

void eq_requantize_int(const void *in, int32_t in_type, int32_t n, int32_t in_zp, int32_t multiplier,
                       int32_t shift, int32_t out_zp, void *out, int32_t out_type) {
  const int32_t lo = out_type == 9 ? INT8_MIN : (out_type == 7 ? INT16_MIN : INT32_MIN);
  const int32_t hi = out_type == 9 ? INT8_MAX : (out_type == 7 ? INT16_MAX : INT32_MAX);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t x = (int32_t)((uint32_t)load(in, in_type, i) - (uint32_t)in_zp);
    const int32_t r = eq_mul_by_quantized_mul(x, multiplier, shift);
    const int32_t v = eq_clamp32((int32_t)((uint32_t)r + (uint32_t)out_zp), lo, hi);
    if (out_type == 9) ((int8_t *)out)[i] = (int8_t)v;
    else if (out_type == 7) ((int16_t *)out)[i] = (int16_t)v;
    else ((int32_t *)out)[i] = v;
  }
}

void eq_dequantize_s16(const int16_t *in, int32_t n, double scale, int32_t zero_point, float *out) {
  for (int32_t i = 0; i < n; ++i) out[i] = (float)(scale * (double)(in[i] - zero_point));
}
