/* Kernels of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED beyond int8 x int8: 16x8 (int16
 * activations, int8 weights, int64 or int32 bias), packed INT4 weights with int8 activations, float
 * and hybrid (float activations, int8 weights quantized per input batch at run time). Scalar
 * reference versions only: every one is the specification of its arithmetic (LiteRT's reference
 * kernels, see kernels/README.md). Shapes and parameters as in eq_kernels.h. */
#ifndef EDGEQ_KERNELS_LOWBIT_H
#define EDGEQ_KERNELS_LOWBIT_H

#include <stddef.h>
#include <stdint.h>

#include "eq_kernels.h"

/* Element i of a packed INT4 tensor: two values per byte, the low nibble first, sign-extended. */
static inline int32_t eq_s4_at(const uint8_t *packed, int64_t i) {
  const uint8_t b = packed[i >> 1];
  const int32_t v = (i & 1) ? (b >> 4) : (b & 0x0F);
  return (v ^ 8) - 8;
}

/* sum over j < n of (w[start + j] + w_off) * (x[j] + x_off), w packed INT4: a byte (two values) a step
 * after aligning start. EQ_MAX_TAPS keeps the int32 sum from overflowing, as in the int8 kernels. */
static inline int32_t eq_s4_dot(const uint8_t *w, int64_t start, const int8_t *x, int32_t n, int32_t x_off,
                                int32_t w_off) {
  int32_t acc = 0, j = 0;
  if ((start & 1) && n > 0) {
    acc += (eq_s4_at(w, start) + w_off) * (x[0] + x_off);
    j = 1;
  }
  const uint8_t *bp = w + ((start + j) >> 1);
  for (; j + 1 < n; j += 2, ++bp) {
    const int32_t lo = ((*bp & 0x0F) ^ 8) - 8, hi = ((*bp >> 4) ^ 8) - 8;
    acc += (lo + w_off) * (x[j] + x_off) + (hi + w_off) * (x[j + 1] + x_off);
  }
  if (j < n) acc += (eq_s4_at(w, start + j) + w_off) * (x[j] + x_off);
  return acc;
}

/* Weight i of an int8 or packed INT4 filter. */
static inline int32_t eq_w_at(const void *w, int int4, int64_t i) {
  return int4 ? eq_s4_at((const uint8_t *)w, i) : ((const int8_t *)w)[i];
}

/* ---- 16x8: int16 activations (zero point 0), int8 symmetric weights (or packed INT4 ones when
 * filter_int4: W4A16, the same arithmetic on the nibbles), bias NULL or int64 (acc32 == 0)
 * or int32 (acc32 == 1). acc32 == 0: int64 accumulator, requantized with the 48-bit-input form
 * (multiplier rounded to 16 bits); acc32 == 1: int32 (wrapping) accumulator and the two-step int32
 * form, as LiteRT's templates resolve them (the op's quantized_bias_type option chooses). */
void eq_conv2d_s16(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                   const int16_t *in, const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                   const void *bias, int acc32, const eq_shape4 *out_shape, int16_t *out);
void eq_depthwise_conv2d_s16(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                             const int16_t *in, const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                             const int64_t *bias, const eq_shape4 *out_shape, int16_t *out);
/* FULLY_CONNECTED 16x8 requantizes with round(acc * scale[o]) in double, scale[o] =
 * input_scale * filter_scale[o] / output_scale (LiteRT's reference FC does not use multipliers). */
void eq_fully_connected_s16(const eq_fc_params *p, const double *scale, int32_t batches, int32_t in_depth,
                            int32_t out_depth, const int16_t *in, const void *weights, int weights_int4,
                            const void *bias, int acc32, int16_t *out);

/* The 48-bit-input requantization of int64 accumulators (shift in [-31, 7], which the ops check). x is
 * clamped to the 48 bits LiteRT assumes, so a corrupted bias cannot overflow; the result saturates. */
static inline int32_t eq_mul_by_quantized_mul_64(int64_t x, int32_t multiplier, int32_t shift) {
  const int64_t lim = (int64_t)1 << 47;
  x = x < -lim ? -lim : (x > lim - 1 ? lim - 1 : x);
  const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
  const int total = 15 - shift;
  const int64_t r = (x * reduced + ((int64_t)1 << (total - 1))) >> total;
  return r < INT32_MIN ? INT32_MIN : (r > INT32_MAX ? INT32_MAX : (int32_t)r);
}

/* An int64 bias clamped to 2^47 in magnitude: accumulators stay far from int64 overflow (real biases
 * are far smaller; LiteRT assumes the sum fits 48 bits). */
static inline int64_t eq_bias64(int64_t b) {
  const int64_t lim = (int64_t)1 << 47;
  return b < -lim ? -lim : (b > lim ? lim : b);
}

/* std::round (half away from zero) of a double, without libm; saturates beyond 2^62 (NaN gives 0). */
static inline int64_t eq_round_half_away(double x) {
  if (!(x > -4.6e18 && x < 4.6e18)) return x != x ? 0 : (x < 0 ? -((int64_t)1 << 62) : ((int64_t)1 << 62));
  int64_t t = (int64_t)x; /* truncates toward zero */
  const double frac = x - (double)t;
  if (frac >= 0.5) t++;
  else if (frac <= -0.5) t--;
  return t;
}

/* One FULLY_CONNECTED 16x8 output (LiteRT's reference): the accumulator plus bias (int32 wrapping when
 * acc32, else int64), round(acc * scale[o]) in double half away from zero, + output zero point, clamp.
 * The reference kernel and its SIMD twins share it so their bytes cannot drift apart. */
static inline int16_t eq_fc_s16_requant(int64_t acc, const eq_fc_params *p, const double *scale, const void *bias,
                                        int acc32, int32_t o) {
  if (acc32) { /* int32 accumulator: wraps as TFLite's does */
    uint32_t a = (uint32_t)acc;
    if (bias) a += (uint32_t)((const int32_t *)bias)[o];
    acc = (int32_t)a;
  } else if (bias) {
    acc += eq_bias64(((const int64_t *)bias)[o]);
  }
  int64_t v = eq_round_half_away((double)acc * scale[o]);
  v = v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v);
  const int32_t r = (int32_t)((uint32_t)(int32_t)v + (uint32_t)p->output_offset);
  return (int16_t)(r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r));
}

/* ---- INT4 weights (packed, low nibble first), int8 activations: the int8 kernels' arithmetic on the
 * unpacked values, reading the nibbles in place (no unpacked copy). */
void eq_conv2d_s4(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                  const int8_t *in, const eq_shape4 *filter_shape, const uint8_t *filter, const int32_t *bias,
                  const eq_shape4 *out_shape, int8_t *out);
void eq_depthwise_conv2d_s4(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                            const int8_t *in, const eq_shape4 *filter_shape, const uint8_t *filter,
                            const int32_t *bias, const eq_shape4 *out_shape, int8_t *out);
void eq_fully_connected_s4(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches, int32_t in_depth,
                           int32_t out_depth, const int8_t *in, const uint8_t *weights, const int32_t *bias,
                           int8_t *out);


/* ---- Float and hybrid. act_min/act_max: the fused activation's float clamp. */
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier;
  float act_min, act_max;
} eq_conv_fparams;

void eq_conv2d_f32(const eq_conv_fparams *p, const eq_shape4 *in_shape, const float *in,
                   const eq_shape4 *filter_shape, const float *filter, const float *bias,
                   const eq_shape4 *out_shape, float *out);
void eq_depthwise_conv2d_f32(const eq_conv_fparams *p, const eq_shape4 *in_shape, const float *in,
                             const eq_shape4 *filter_shape, const float *filter, const float *bias,
                             const eq_shape4 *out_shape, float *out);
void eq_fully_connected_f32(float act_min, float act_max, int32_t batches, int32_t in_depth, int32_t out_depth,
                            const float *in, const float *weights, const float *bias, float *out);

/* Run-time input quantization of one batch row (LiteRT's tensor_utils): symmetric to [-127, 127] with
 * scale max|x| / 127 (1 for an all-zero row), or asymmetric to [-128, 127] with a nudged zero point. */
void eq_quantize_row_symmetric(const float *x, int32_t n, int8_t *q, float *scale);
void eq_quantize_row_asymmetric(const float *x, int32_t n, int8_t *q, float *scale, int32_t *zero_point);
/* Their parameters from the row's min and max: 0 for a row that quantizes to zeros (scale 1, zero point
 * 0), else 1 with the scale, the float multiplier each value is scaled by and the zero point. */
int eq_symmetric_params(float lo, float hi, float *scale, float *inv);
int eq_asymmetric_params(float lo, float hi, float *scale, float *inv, int32_t *zero_point);

/* Hybrid kernels over an already quantized input (qin: [n, ...] int8, per batch scale in_scale[b] and
 * zero point in_zp[b]), int8 (or packed INT4: *_int4) weights with per-channel scales w_scale[c] (per-tensor: w_scale NULL and
 * the filter scale folded into in_scale by the caller, as LiteRT does), float bias, float output.
 *  conv, per-tensor: out = (float)acc * in_scale[b] + bias (zero points must be 0)
 *  conv, per-channel: out = (float)acc * w_scale[c] * in_scale[b] + bias, acc over (q - zp)
 *  depthwise (per-channel only): out = (float)acc * (w_scale[c] * in_scale[b]) + bias
 *  FC: out = bias + (float)(acc - row_sum * zp) * (in_scale[b] * w_scale[c]) */
void eq_conv2d_hybrid(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                      const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                      const void *filter, int filter_int4, const float *w_scale, const float *bias, const eq_shape4 *out_shape,
                      float *out);
void eq_depthwise_conv2d_hybrid(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                                const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                                const void *filter, int filter_int4, const float *w_scale, const float *bias,
                                const eq_shape4 *out_shape, float *out);
void eq_fully_connected_hybrid(float act_min, float act_max, int32_t batches, int32_t in_depth, int32_t out_depth,
                               const int8_t *qin, const float *in_scale, const int32_t *in_zp, const void *weights,
                               int weights_int4, const float *w_scale, const float *bias, float *out);

#if defined(__x86_64__) || defined(__i386__)
/* AVX2 twin of eq_fully_connected_s4 (kernels/x86/fully_connected_s4.c): same bytes. Weak, because
 * the reference-only host build (edgeq.introspect) links no x86 kernels: its address is then NULL. */
__attribute__((weak)) void eq_fully_connected_s4_avx2(const eq_fc_params *p, const eq_channel_quant *q, int32_t batches, int32_t in_depth,
                                int32_t out_depth, const int8_t *in, const uint8_t *weights, const int32_t *bias,
                                int8_t *out);
/* AVX2 twin of eq_depthwise_conv2d_f32 (kernels/x86/depthwise_conv2d_f32.c), weak for the same reason. */
__attribute__((weak)) void eq_depthwise_conv2d_f32_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape,
                                                        const float *in, const eq_shape4 *filter_shape,
                                                        const float *filter, const float *bias,
                                                        const eq_shape4 *out_shape, float *out);
/* AVX2 twins of the row quantizers (kernels/x86/hybrid_quantize.c), weak for the same reason. */
__attribute__((weak)) void eq_quantize_row_symmetric_avx2(const float *x, int32_t n, int8_t *q, float *scale);
__attribute__((weak)) void eq_quantize_row_asymmetric_avx2(const float *x, int32_t n, int8_t *q, float *scale,
                                                           int32_t *zero_point);
/* AVX2 twin of eq_conv2d_hybrid (kernels/x86/conv2d_hybrid.c), weak for the same reason; scratch of
 * eq_conv2d_hybrid_avx2_scratch_size bytes (NULL, or INT4 filters: the reference runs). packed: NULL, or
 * the int8 filter interleaved by eq_conv2d_hybrid_avx2_pack into eq_conv2d_hybrid_avx2_packed_size bytes
 * (0: the shape has no packed form), e.g. once at prepare for a constant filter. */
__attribute__((weak)) size_t eq_conv2d_hybrid_avx2_scratch_size(const eq_shape4 *filter_shape);
__attribute__((weak)) size_t eq_conv2d_hybrid_avx2_packed_size(const eq_shape4 *in_shape,
                                                               const eq_shape4 *filter_shape);
__attribute__((weak)) void eq_conv2d_hybrid_avx2_pack(const eq_shape4 *filter_shape, const int8_t *filter,
                                                      void *packed);
__attribute__((weak)) void eq_conv2d_hybrid_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape,
                                                 const int8_t *qin, const float *in_scale, const int32_t *in_zp,
                                                 const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                                                 const float *w_scale, const float *bias, const eq_shape4 *out_shape,
                                                 float *out, const void *packed, void *scratch);
/* x86 twins of eq_conv2d_s4 / eq_depthwise_conv2d_s4 (kernels/x86/conv2d_s4.c, conv2d_s4_vnni.c,
 * depthwise_conv2d_s4.c, depthwise_conv2d_s4_vnni.c), weak for the same reason: same bytes. Depthwise
 * reads the nibbles in place. Conv repacks them into its panel order, still 4 bits a weight: once at
 * prepare through the eq_conv_pack interfaces below (`filter` there is the packed INT4 bytes), or into
 * scratch on every call through the plain entry points, whose scratch is the size their _scratch_size
 * gives (0 when they hand the shape to the reference kernel). */
#if defined(__x86_64__) || defined(__i386__)
extern const eq_conv_pack eq_conv2d_s4_avx2_pack __attribute__((weak));
extern const eq_conv_pack eq_conv2d_s4_avx512vnni_pack __attribute__((weak));
#endif
__attribute__((weak)) size_t eq_conv2d_s4_avx2_scratch_size(const eq_conv_params *p, const eq_shape4 *in_shape,
                                                            const eq_shape4 *filter_shape, const eq_shape4 *out_shape);
__attribute__((weak)) void eq_conv2d_s4_avx2(const eq_conv_params *p, const eq_channel_quant *q,
                                             const eq_shape4 *in_shape, const int8_t *in,
                                             const eq_shape4 *filter_shape, const uint8_t *filter,
                                             const int32_t *bias, const eq_shape4 *out_shape, int8_t *out,
                                             void *scratch);
__attribute__((weak)) size_t eq_conv2d_s4_avx512vnni_scratch_size(const eq_conv_params *p,
                                                                  const eq_shape4 *in_shape,
                                                                  const eq_shape4 *filter_shape,
                                                                  const eq_shape4 *out_shape);
__attribute__((weak)) void eq_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q,
                                                   const eq_shape4 *in_shape, const int8_t *in,
                                                   const eq_shape4 *filter_shape, const uint8_t *filter,
                                                   const int32_t *bias, const eq_shape4 *out_shape, int8_t *out,
                                                   void *scratch);
__attribute__((weak)) void eq_depthwise_conv2d_s4_avx2(const eq_conv_params *p, const eq_channel_quant *q,
                                                       const eq_shape4 *in_shape, const int8_t *in,
                                                       const eq_shape4 *filter_shape, const uint8_t *filter,
                                                       const int32_t *bias, const eq_shape4 *out_shape,
                                                       int8_t *out);
__attribute__((weak)) void eq_depthwise_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q,
                                                             const eq_shape4 *in_shape, const int8_t *in,
                                                             const eq_shape4 *filter_shape, const uint8_t *filter,
                                                             const int32_t *bias, const eq_shape4 *out_shape,
                                                             int8_t *out);
/* AVX-512 VNNI twin (kernels/x86/fully_connected_s4_vnni.c), weak for the same reason. */
__attribute__((weak)) void eq_fully_connected_s4_avx512vnni(const eq_fc_params *p, const eq_channel_quant *q,
                                                            int32_t batches, int32_t in_depth, int32_t out_depth,
                                                            const int8_t *in, const uint8_t *weights,
                                                            const int32_t *bias, int8_t *out);
/* AVX2 twins of the 16x8 and hybrid kernels (kernels/x86/conv2d_s16.c, depthwise_conv2d_s16.c,
 * fully_connected_s16.c, fully_connected_hybrid.c, depthwise_conv2d_hybrid.c), weak for the same reason;
 * same bytes as the reference. The conv and depthwise ones take host scratch of the size their
 * _scratch_size gives (0: the shape runs the reference; NULL scratch runs the reference); INT4
 * filters, depth multipliers above 1 and other shapes they do not vectorize run the reference. */
__attribute__((weak)) size_t eq_conv2d_s16_avx2_scratch_size(const eq_shape4 *filter_shape);
__attribute__((weak)) void eq_conv2d_s16_avx2(const eq_conv_params *p, const eq_channel_quant *q,
                                              const eq_shape4 *in_shape, const int16_t *in,
                                              const eq_shape4 *filter_shape, const void *filter, int filter_int4,
                                              const void *bias, int acc32, const eq_shape4 *out_shape,
                                              int16_t *out, void *scratch);
__attribute__((weak)) size_t eq_depthwise_conv2d_s16_avx2_scratch_size(const eq_conv_params *p,
    const eq_shape4 *in_shape, const eq_shape4 *filter_shape, const eq_shape4 *out_shape);
__attribute__((weak)) void eq_depthwise_conv2d_s16_avx2(const eq_conv_params *p, const eq_channel_quant *q,
                                                        const eq_shape4 *in_shape, const int16_t *in,
                                                        const eq_shape4 *filter_shape, const void *filter,
                                                        int filter_int4, const int64_t *bias,
                                                        const eq_shape4 *out_shape, int16_t *out, void *scratch);
__attribute__((weak)) void eq_fully_connected_s16_avx2(const eq_fc_params *p, const double *scale, int32_t batches,
                                                       int32_t in_depth, int32_t out_depth, const int16_t *in,
                                                       const void *weights, int weights_int4, const void *bias,
                                                       int acc32, int16_t *out);
__attribute__((weak)) void eq_fully_connected_hybrid_avx2(float act_min, float act_max, int32_t batches,
                                                          int32_t in_depth, int32_t out_depth, const int8_t *qin,
                                                          const float *in_scale, const int32_t *in_zp,
                                                          const void *weights, int weights_int4,
                                                          const float *w_scale, const float *bias, float *out);
__attribute__((weak)) size_t eq_depthwise_conv2d_hybrid_avx2_scratch_size(const eq_conv_fparams *p,
    const eq_shape4 *in_shape, const eq_shape4 *filter_shape, const eq_shape4 *out_shape);
__attribute__((weak)) void eq_depthwise_conv2d_hybrid_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape,
                                                           const int8_t *qin, const float *in_scale,
                                                           const int32_t *in_zp, const eq_shape4 *filter_shape,
                                                           const void *filter, int filter_int4,
                                                           const float *w_scale, const float *bias,
                                                           const eq_shape4 *out_shape, float *out, void *scratch);
#endif

#endif
