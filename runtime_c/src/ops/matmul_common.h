/* Helpers shared by CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, for their prepare checks and their
 * float, hybrid and low-bit paths (none of them allocates for the int8 paths, whose arena stays as it was). */
#ifndef EDGEQ_MATMUL_COMMON_H
#define EDGEQ_MATMUL_COMMON_H

#include <float.h>

#include "../op_util.h"
#include "eq_kernels_lowbit.h"

/* Paths an image may leave out (-D...=0) so that int8-only images link none of their kernels:
 * EQ_WITH_INT16 (16x8 and W4A16, the same switch the other ops use), EQ_WITH_INT4 (packed INT4 weights
 * with int8 activations), EQ_WITH_FLOAT (float and hybrid). Left out, such tensors are refused as
 * unsupported types. */
#ifndef EQ_WITH_INT16
#define EQ_WITH_INT16 1
#endif
#ifndef EQ_WITH_INT4
#define EQ_WITH_INT4 1
#endif
#ifndef EQ_WITH_FLOAT
#define EQ_WITH_FLOAT 1
#endif

/* TFLite's CalculateActivationRange for float outputs. */
static inline eq_status eq_float_activation(int32_t act, float *lo, float *hi) {
  switch (act) {
    case EQ_ACT_NONE: *lo = -FLT_MAX, *hi = FLT_MAX; return EQ_OK;
    case EQ_ACT_RELU: *lo = 0.0f, *hi = FLT_MAX; return EQ_OK;
    case EQ_ACT_RELU_N1_TO_1: *lo = -1.0f, *hi = 1.0f; return EQ_OK;
    case EQ_ACT_RELU6: *lo = 0.0f, *hi = 6.0f; return EQ_OK;
    default: return EQ_ERR_UNSUPPORTED_TYPE;
  }
}

/* Packed INT4 weights hold two per byte: the buffer must cover every element. */
static inline int eq_int4_bytes_ok(const eq_tensor *w) {
  return w->type != EQ_INT4 || w->bytes * 2 >= (size_t)eq_num_elements(w);
}

/* Float and hybrid CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: float output and bias, float, int8 or
 * packed INT4 weights. */
static inline eq_status eq_float_matmul_types(const eq_node *n) {
  const eq_tensor *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  EQ_ENSURE(out->type == EQ_FLOAT32 && (w->type == EQ_FLOAT32 || w->type == EQ_INT8 || w->type == EQ_INT4),
            EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_int4_bytes_ok(w), EQ_ERR_SHAPE);
  EQ_ENSURE(!bias || bias->type == EQ_FLOAT32, EQ_ERR_UNSUPPORTED_TYPE);
  return EQ_OK;
}

/* The float kernels' parameters from the integer geometry and the op's fused activation. */
static inline eq_status eq_conv_fparams_from(eq_conv_fparams *p, const eq_conv_params *g, int32_t depth_multiplier,
                                             int32_t activation) {
  p->stride_h = g->stride_h, p->stride_w = g->stride_w, p->dilation_h = g->dilation_h;
  p->dilation_w = g->dilation_w, p->pad_h = g->pad_h, p->pad_w = g->pad_w;
  p->depth_multiplier = depth_multiplier;
  return eq_float_activation(activation, &p->act_min, &p->act_max);
}

/* Hybrid weights are symmetric, with one scale or one per output channel. */
static inline eq_status eq_hybrid_weights_ok(const eq_tensor *w, int32_t out_c) {
  EQ_ENSURE(w->nq == 1 || w->nq == out_c, EQ_ERR_QUANT);
  for (int32_t c = 0; c < w->nq; ++c) EQ_ENSURE(eq_q_zero_point(w, c) == 0, EQ_ERR_QUANT);
  return EQ_OK;
}

/* Hybrid scratch: the quantized input ([batches, row] int8), then per batch a float scale and an
 * int32 zero point. */
static inline size_t eq_hybrid_scratch_bytes(int32_t batches, int32_t row) {
  return (((size_t)batches * (size_t)row + 3u) & ~(size_t)3u) + (size_t)batches * 8u;
}

typedef struct {
  int8_t *q;
  float *scale;
  int32_t *zp;
} eq_hybrid_rows;

static inline int eq_host_simd(void);

/* Quantizes every batch row of `in` into the scratch; filter_scale > 0 folds a per-tensor filter
 * scale into each row's scale (in float, as LiteRT does), 0 leaves it out (per-channel filters). */
static inline eq_hybrid_rows eq_hybrid_quantize(void *scratch, const float *in, int32_t batches, int32_t row,
                                                int asymmetric, float filter_scale) {
  eq_hybrid_rows r;
  r.q = scratch;
  r.scale = (float *)((uint8_t *)scratch + (((size_t)batches * (size_t)row + 3u) & ~(size_t)3u));
  r.zp = (int32_t *)(r.scale + batches);
  void (*sym)(const float *, int32_t, int8_t *, float *) = eq_quantize_row_symmetric;
  void (*asym)(const float *, int32_t, int8_t *, float *, int32_t *) = eq_quantize_row_asymmetric;
#if defined(__x86_64__) || defined(__i386__)
  if (eq_quantize_row_asymmetric_avx2 && eq_host_simd()) { /* the AVX2 twins: same bytes */
    sym = eq_quantize_row_symmetric_avx2;
    asym = eq_quantize_row_asymmetric_avx2;
  }
#endif
  for (int32_t b = 0; b < batches; ++b) {
    const int64_t off = (int64_t)b * row;
    if (asymmetric) {
      asym(in + off, row, r.q + off, &r.scale[b], &r.zp[b]);
    } else {
      sym(in + off, row, r.q + off, &r.scale[b]);
      r.zp[b] = 0;
    }
    if (filter_scale > 0.0f) r.scale[b] *= filter_scale;
  }
  return r;
}

/* The filter's scales copied to aligned persistent floats (`count` entries; a per-tensor filter
 * repeats its one scale). */
static inline const float *eq_filter_scales(eq_ctx *ctx, const eq_tensor *w, int32_t count) {
  float *s = eq_alloc_persistent(ctx, sizeof(float) * (size_t)count);
  if (!s) return NULL;
  for (int32_t c = 0; c < count; ++c) s[c] = eq_q_scale(w, w->nq > 1 ? c : 0);
  return s;
}

/* CONV_2D / DEPTHWISE_CONV_2D tensors for the int8 path (int8 or, built in, INT4 weights) or, with s16
 * set, the 16x8 path (int8 or INT4 weights). */
static inline int eq_conv_int_types_ok(const eq_tensor *in, const eq_tensor *w, const eq_tensor *out, int s16) {
  return (in->type == EQ_INT8 && out->type == EQ_INT8 &&
          (w->type == EQ_INT8 || (EQ_WITH_INT4 && w->type == EQ_INT4))) ||
         (s16 && out->type == EQ_INT16 && (w->type == EQ_INT8 || w->type == EQ_INT4));
}

/* CONV_2D / DEPTHWISE_CONV_2D: input, filter and output as 4-D shapes. */
static inline eq_status eq_conv_shapes(const eq_node *n, eq_shape4 *in_s, eq_shape4 *f_s, eq_shape4 *out_s) {
  const eq_tensor *in = n->in[0], *w = n->in[1], *out = n->out[0];
  EQ_ENSURE(in->ndim == 4 && w->ndim == 4 && out->ndim == 4, EQ_ERR_SHAPE);
  eq_shape4_of(in, in_s);
  eq_shape4_of(w, f_s);
  eq_shape4_of(out, out_s);
  return EQ_OK;
}

/* CONV_2D / DEPTHWISE_CONV_2D: the strides and dilations read into p checked, the output size checked
 * against the padding scheme, and the padding set from them. */
static inline eq_status eq_conv_window(int32_t padding, const eq_shape4 *in_s, const eq_shape4 *f_s,
                                       const eq_shape4 *out_s, eq_conv_params *p) {
  EQ_ENSURE(p->stride_w > 0 && p->stride_h > 0 && p->dilation_w > 0 && p->dilation_h > 0, EQ_ERR_MODEL);
  EQ_ENSURE(eq_conv_out_size(padding, in_s->h, f_s->h, p->stride_h, p->dilation_h) == out_s->h &&
                eq_conv_out_size(padding, in_s->w, f_s->w, p->stride_w, p->dilation_w) == out_s->w,
            EQ_ERR_SHAPE);
  p->pad_h = eq_conv_padding(p->stride_h, p->dilation_h, in_s->h, f_s->h, out_s->h);
  p->pad_w = eq_conv_padding(p->stride_w, p->dilation_w, in_s->w, f_s->w, out_s->w);
  return EQ_OK;
}

/* 16x8 conv and depthwise requantize int64 accumulators with shifts in [-31, 7] only (LiteRT's range). */
static inline eq_status eq_check_shifts_16x8(const eq_channel_quant *q, int32_t channels) {
  for (int32_t c = 0; c < channels; ++c) EQ_ENSURE(q->shift[c] >= -31 && q->shift[c] <= 7, EQ_ERR_QUANT);
  return EQ_OK;
}

/* int8 and 16x8 CONV_2D / DEPTHWISE_CONV_2D: symmetric weights, then the offsets, the range of the fused
 * activation `act` and the per-channel requantization of the `oc` outputs (16x8 shifts checked). */
static inline eq_status eq_conv_int_quant(eq_ctx *ctx, const eq_node *n, int32_t act, int s16, int32_t oc,
                                          eq_conv_params *p, eq_channel_quant *q) {
  const eq_tensor *in = n->in[0], *w = n->in[1], *out = n->out[0];
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1 && w->nq >= 1, EQ_ERR_QUANT);
  for (int32_t c = 0; c < w->nq; ++c) EQ_ENSURE(eq_q_zero_point(w, c) == 0, EQ_ERR_QUANT);
  p->input_offset = -in->zero_point;
  p->output_offset = out->zero_point;
  eq_status st = eq_activation_range(act, out, &p->act_min, &p->act_max);
  if (st != EQ_OK) return st;
  st = eq_conv_channel_quant(ctx, in, w, out, oc, q);
  if (st != EQ_OK) return st;
  return s16 ? eq_check_shifts_16x8(q, oc) : EQ_OK;
}

/* Whether an x86 SIMD variant is chosen (EDGEQ_ISA other than ref on an x86 host): then the low-bit
 * paths that have x86 twins run them (INT4 conv / depthwise / FC read the nibbles in place, as the
 * reference kernels, and so every microcontroller build, do: no int8 copy of the weights anywhere). */
static inline int eq_host_simd(void) {
#if defined(__x86_64__) || defined(__i386__)
  const char *isa = eq_kernels()->isa;
  return !(isa[0] == 'r' && isa[1] == 'e' && isa[2] == 'f' && isa[3] == 0);
#else
  return 0;
#endif
}

#endif
