/* Compute kernels for int16 activations (TFLite's "16x8" mode): symmetric int16 tensors (zero point 0)
 * with the arithmetic of LiteRT's reference kernels for int16. Only reference versions exist; ops call
 * them directly (no per-ISA table), so int8 dispatch is untouched. Parameter structs are shared with the
 * int8 kernels where the math is the same (eq_kernels_core.h, eq_kernels_elementwise.h). */
#ifndef EDGEQ_KERNELS_S16_H
#define EDGEQ_KERNELS_S16_H

#include <stddef.h>
#include <stdint.h>

#include "eq_kernels_core.h"
#include "eq_kernels_elementwise.h"

/* ---- binary ops ---- */

/* ADD with general scales: eq_add_s8's math with left_shift 15 (the tables of eq_add_params unused). */
void eq_add_s16(const eq_add_params *p, const int32_t dims[6], const int32_t stride1[6],
                const int32_t stride2[6], const int16_t *in1, const int16_t *in2, int16_t *out);

/* ADD/SUB when every scale is a power of two and the op's pot_scale_int16 option is set (LiteRT's LSTM
 * path): one input is rounded right by -shift (gemmlowp's int16 RoundingDivideByPOT), no multipliers. */
typedef struct {
  int32_t in1_shift, in2_shift; /* <= 0, at least one is 0 */
  int32_t act_min, act_max;
} eq_pot_params;
void eq_add_s16_pot(const eq_pot_params *p, int32_t n, const int16_t *in1, const int16_t *in2, int16_t *out);
void eq_sub_s16_pot(const eq_pot_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                    int16_t *out);

/* SUB with general scales (left_shift 15). */
void eq_sub_s16(const eq_sub_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out);
/* MUL: the int32 product of the operands requantized by one multiplier (zero points 0). */
void eq_mul_s16(const eq_mul_params *p, const eq_bcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out);
/* Raw comparisons, quantization ignored. */
void eq_maximum_s16(const eq_bcast *b, const int16_t *in1, const int16_t *in2, int16_t *out);
void eq_minimum_s16(const eq_bcast *b, const int16_t *in1, const int16_t *in2, int16_t *out);
/* PRELU: int16 input, int8 alpha (LiteRT's 16x8 PRELU reads alpha as int8). */
void eq_prelu_s16(const eq_prelu_params *p, const eq_bcast *b, const int16_t *in, const int8_t *alpha,
                  int16_t *out);

/* ---- pooling ---- */

void eq_average_pool_s16(const eq_pool_params *p, const eq_shape4 *in_shape, const int16_t *in,
                         const eq_shape4 *out_shape, int16_t *out);
void eq_max_pool_s16(const eq_pool_params *p, const eq_shape4 *in_shape, const int16_t *in,
                     const eq_shape4 *out_shape, int16_t *out);

/* ---- activations ---- */

void eq_relu_s16(const eq_relu_params *p, int32_t n, const int16_t *in, int16_t *out);
void eq_leaky_relu_s16(const eq_leaky_relu_params *p, int32_t n, const int16_t *in, int16_t *out);

/* LOGISTIC and TANH: the input is brought to the 3 * 2^12-per-unit scale of a 256-entry sigmoid table
 * by (x * multiplier + round) >> shift, then interpolated. Output scale 2^-15. */
typedef struct {
  int32_t multiplier, shift;
} eq_sigmoid_params;
void eq_logistic_s16(const eq_sigmoid_params *p, int32_t n, const int16_t *in, int16_t *out);
void eq_tanh_s16(const eq_sigmoid_params *p, int32_t n, const int16_t *in, int16_t *out);
/* sigmoid(i / 24) in unsigned Q0.16 for i = 0..255 (the last entry saturates to 65535). */
extern const uint16_t eq_sigmoid_table_u16[256];

/* SOFTMAX: exp(x - max) and 1 / (1 + x) through LiteRT's 513-entry interpolated tables; output scale
 * 2^-15. input_multiplier/shift map beta * input_scale so that a difference of -10.0 is -65535. */
typedef struct {
  int32_t input_multiplier, input_shift;
} eq_softmax_s16_params;
void eq_softmax_s16(const eq_softmax_s16_params *p, int32_t rows, int32_t depth, const int16_t *in,
                    int16_t *out);

/* ---- QUANTIZE / DEQUANTIZE with int16 on either side ---- */

/* float -> int16: round(x / scale) + zero_point (division in float), clamped. */
void eq_quantize_f32_s16(const float *in, int32_t n, float scale, int32_t zero_point, int16_t *out);
/* Integer requantization between INT8, INT16 and INT32 (eq_type codes 9, 7, 2; UINT8 = 3 as input):
 * (x - in_zp) * multiplier 2^shift + out_zp, clamped to the output type. */
void eq_requantize_int(const void *in, int32_t in_type, int32_t n, int32_t in_zp, int32_t multiplier,
                       int32_t shift, int32_t out_zp, void *out, int32_t out_type);
/* int16 -> float: (float)(scale * (x - zero_point)) with scale in double. */
void eq_dequantize_s16(const int16_t *in, int32_t n, double scale, int32_t zero_point, float *out);

#endif
