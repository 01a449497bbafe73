/* QUANTIZE (float -> 8-bit, 8-bit -> 8-bit) and DEQUANTIZE (8-bit -> float), TFLite reference math. */
#include "eq_kernels_core.h"
#include "ref/fixedpoint.h"

/* std::round on a float: half away from zero. |v| >= 2^23 is already integral. */
static int32_t round_sat(float v, int32_t lo, int32_t hi) {
  if (v != v) return lo < 0 ? 0 : lo; /* NaN: not specified by TFLite; pick zero-ish deterministically */
  if (v >= 2147483520.0f) return hi;
  if (v <= -2147483520.0f) return lo;
  int32_t t = (int32_t)v;
  const float frac = v - (float)t;
  if (frac >= 0.5f) ++t;
  else if (frac <= -0.5f) --t;
  return t;
}

static int32_t quantize_one(float x, float scale, int32_t zp, int32_t lo, int32_t hi) {
  const int32_t q = round_sat(x / scale, INT32_MIN / 2, INT32_MAX / 2);
  return eq_clamp32(q + zp, lo, hi);
}

void eq_quantize_f32_s8(const float *in, int32_t n, float scale, int32_t zero_point, int8_t *out) {
  for (int32_t i = 0; i < n; ++i) out[i] = (int8_t)quantize_one(in[i], scale, zero_point, -128, 127);
}

void eq_quantize_f32_u8(const float *in, int32_t n, float scale, int32_t zero_point, uint8_t *out) {
  for (int32_t i = 0; i < n; ++i) out[i] = (uint8_t)quantize_one(in[i], scale, zero_point, 0, 255);
}

void eq_requantize_8(const void *in, int in_signed, int32_t n, int32_t in_zp, int32_t multiplier,
                     int32_t shift, int32_t out_zp, void *out, int out_signed) {
  const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t x = in_signed ? ((const int8_t *)in)[i] : ((const uint8_t *)in)[i];
    const int32_t v = eq_clamp32(eq_mul_by_quantized_mul(x - in_zp, multiplier, shift) + out_zp, lo, hi);
    if (out_signed) ((int8_t *)out)[i] = (int8_t)v;
    else ((uint8_t *)out)[i] = (uint8_t)v;
  }
}

void eq_dequantize_8(const void *in, int in_signed, int32_t n, double scale, int32_t zero_point, float *out) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t x = in_signed ? ((const int8_t *)in)[i] : ((const uint8_t *)in)[i];
    out[i] = (float)(scale * (double)(x - zero_point));
  }
}
