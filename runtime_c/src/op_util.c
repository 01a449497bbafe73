/* Shared op helpers; see op_util.h. No libm: rounding, floor and frexp are done on the bits. */
#include "op_util.h"

#include <string.h>

int64_t eq_round_f64(double x) {
  const double lim = 4611686018427387904.0; /* 2^62 */
  if (x != x) return 0;
  if (x >= lim) return INT64_C(4611686018427387904);
  if (x <= -lim) return -INT64_C(4611686018427387904);
  int64_t t = (int64_t)x; /* truncates toward zero */
  double frac = x - (double)t; /* exact: |x| < 2^62 and t shares x's leading bits */
  if (frac >= 0.5) t += 1;
  else if (frac <= -0.5) t -= 1;
  return t;
}

int64_t eq_round_f32(float x) {
  /* Rounding a float in float arithmetic and in double gives the same integer: the fraction
   * x - trunc(x) is exact in both. */
  return eq_round_f64((double)x);
}

double eq_floor_f64(double x) {
  if (x != x || x >= 4503599627370496.0 || x <= -4503599627370496.0) return x; /* already integral */
  double t = (double)(int64_t)x;
  return t > x ? t - 1.0 : t;
}

double eq_frexp(double x, int32_t *e) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int32_t exp = (int32_t)((bits >> 52) & 0x7ff);
  *e = 0;
  if (x == 0.0 || exp == 0x7ff) return x; /* zero, inf, NaN */
  int32_t adjust = 0;
  if (exp == 0) { /* subnormal: scale into the normal range first */
    x *= 18014398509481984.0; /* 2^54 */
    memcpy(&bits, &x, sizeof bits);
    exp = (int32_t)((bits >> 52) & 0x7ff);
    adjust = -54;
  }
  *e = exp - 1022 + adjust;
  bits = (bits & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1022 << 52);
  memcpy(&x, &bits, sizeof bits);
  return x;
}

eq_status eq_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift) {
  if (real != real || real < 0.0 || real > 1e300) return EQ_ERR_QUANT;
  if (real == 0.0) {
    *multiplier = 0;
    *shift = 0;
    return EQ_OK;
  }
  int32_t e;
  double q = eq_frexp(real, &e);
  int64_t q_fixed = eq_round_f64(q * 2147483648.0);
  if (q_fixed == (INT64_C(1) << 31)) {
    q_fixed /= 2;
    ++e;
  }
  if (e < -31) {
    e = 0;
    q_fixed = 0;
  }
  if (e > 30) return EQ_ERR_QUANT; /* would overflow every kernel's left shift */
  *multiplier = (int32_t)q_fixed;
  *shift = e;
  return EQ_OK;
}

int32_t eq_type_min(eq_type t) {
  switch (t) {
    case EQ_INT8: return -128;
    case EQ_UINT8: return 0;
    case EQ_INT16: return -32768;
    case EQ_INT4: return -8;
    case EQ_INT32: return INT32_MIN;
    default: return 0;
  }
}

int32_t eq_type_max(eq_type t) {
  switch (t) {
    case EQ_INT8: return 127;
    case EQ_UINT8: return 255;
    case EQ_INT16: return 32767;
    case EQ_INT4: return 7;
    case EQ_INT32: return INT32_MAX;
    default: return 0;
  }
}

size_t eq_type_size(eq_type t) {
  switch (t) {
    case EQ_FLOAT32: case EQ_INT32: return 4;
    case EQ_FLOAT16: case EQ_INT16: return 2;
    case EQ_INT64: return 8;
    case EQ_UINT8: case EQ_INT8: case EQ_BOOL: case EQ_INT4: return 1;
    default: return 0;
  }
}

eq_status eq_activation_range(int32_t act, const eq_tensor *out, int32_t *act_min, int32_t *act_max) {
  if (out->type != EQ_INT8 && out->type != EQ_UINT8 && out->type != EQ_INT16) return EQ_ERR_UNSUPPORTED_TYPE;
  int32_t qmin = eq_type_min(out->type), qmax = eq_type_max(out->type);
  float scale = out->scale;
  int32_t zp = out->zero_point;
  if (!(scale > 0.0f)) return EQ_ERR_QUANT;
  /* zero_point + round(f / scale), with the division in float as TFLite does. */
  int64_t q0 = zp + eq_round_f32(0.0f / scale);
  int64_t q6 = zp + eq_round_f32(6.0f / scale);
  int64_t qm1 = zp + eq_round_f32(-1.0f / scale);
  int64_t q1 = zp + eq_round_f32(1.0f / scale);
  int64_t lo = qmin, hi = qmax;
  switch (act) {
    case EQ_ACT_NONE: break;
    case EQ_ACT_RELU: lo = q0 > qmin ? q0 : qmin; break;
    case EQ_ACT_RELU6:
      lo = q0 > qmin ? q0 : qmin;
      hi = q6 < qmax ? q6 : qmax;
      break;
    case EQ_ACT_RELU_N1_TO_1:
      lo = qm1 > qmin ? qm1 : qmin;
      hi = q1 < qmax ? q1 : qmax;
      break;
    default: return EQ_ERR_UNSUPPORTED_TYPE;
  }
  /* Clamp for safety: TFLite leaves a range beyond the type as is; kernels clamp to it anyway. */
  if (lo > qmax) lo = qmax;
  if (hi < qmin) hi = qmin;
  *act_min = (int32_t)lo;
  *act_max = (int32_t)hi;
  return EQ_OK;
}

int32_t eq_conv_out_size(int32_t padding, int32_t in, int32_t filter, int32_t stride, int32_t dilation) {
  if (stride <= 0 || dilation <= 0 || in < 0 || filter <= 0) return -1;
  int64_t eff = (int64_t)(filter - 1) * dilation + 1;
  if (padding == EQ_PAD_SAME) return (int32_t)(((int64_t)in + stride - 1) / stride);
  if (padding == EQ_PAD_VALID) {
    int64_t n = (int64_t)in - eff + stride;
    return n <= 0 ? 0 : (int32_t)(n / stride);
  }
  return -1;
}

int32_t eq_conv_padding(int32_t stride, int32_t dilation, int32_t in, int32_t filter, int32_t out) {
  int64_t eff = (int64_t)(filter - 1) * dilation + 1;
  int64_t total = ((int64_t)out - 1) * stride + eff - in;
  int64_t p = total / 2; /* TFLite: integer division of a possibly negative value, then max(.,0) */
  return p > 0 ? (int32_t)p : 0;
}

eq_status eq_shape4_of(const eq_tensor *t, eq_shape4 *s) {
  int32_t d[4] = {1, 1, 1, 1};
  if (t->ndim > 4) return EQ_ERR_SHAPE;
  for (int32_t i = 0; i < t->ndim; ++i) d[4 - t->ndim + i] = t->dims[i];
  s->n = d[0];
  s->h = d[1];
  s->w = d[2];
  s->c = d[3];
  return EQ_OK;
}

int eq_same_shape(const eq_tensor *a, const eq_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int32_t i = 0; i < a->ndim; ++i)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

eq_status eq_conv_channel_quant(eq_ctx *ctx, const eq_tensor *in, const eq_tensor *filter,
                                const eq_tensor *out, int32_t channels, eq_channel_quant *q) {
  if (channels <= 0) return EQ_ERR_SHAPE;
  if (filter->nq != 1 && filter->nq != channels) return EQ_ERR_QUANT;
  if (!(in->scale > 0.0f) || !(out->scale > 0.0f)) return EQ_ERR_QUANT;
  int32_t *mult = (int32_t *)eq_alloc_persistent(ctx, (size_t)channels * sizeof(int32_t));
  int32_t *shift = (int32_t *)eq_alloc_persistent(ctx, (size_t)channels * sizeof(int32_t));
  if (!mult || !shift) return EQ_ERR_ARENA_TOO_SMALL;
  for (int32_t c = 0; c < channels; ++c) {
    double fs = (double)eq_q_scale(filter, filter->nq == 1 ? 0 : c);
    if (!(fs >= 0.0)) return EQ_ERR_QUANT;
    double real = (double)in->scale * fs / (double)out->scale;
    eq_status st = eq_quantize_multiplier(real, &mult[c], &shift[c]);
    if (st != EQ_OK) return st;
  }
  q->multiplier = mult;
  q->shift = shift;
  return EQ_OK;
}

eq_status eq_broadcast_prepare(const eq_tensor *a, const eq_tensor *b, const eq_tensor *out,
                               eq_broadcast *bc) {
  if (a->ndim > EQ_MAX_DIMS || b->ndim > EQ_MAX_DIMS || out->ndim > EQ_MAX_DIMS) return EQ_ERR_SHAPE;
  int32_t da[EQ_MAX_DIMS], db[EQ_MAX_DIMS], dout[EQ_MAX_DIMS];
  for (int i = 0; i < EQ_MAX_DIMS; ++i) da[i] = db[i] = dout[i] = 1;
  for (int32_t i = 0; i < a->ndim; ++i) da[EQ_MAX_DIMS - a->ndim + i] = a->dims[i];
  for (int32_t i = 0; i < b->ndim; ++i) db[EQ_MAX_DIMS - b->ndim + i] = b->dims[i];
  for (int32_t i = 0; i < out->ndim; ++i) dout[EQ_MAX_DIMS - out->ndim + i] = out->dims[i];
  int32_t sa = 1, sb = 1;
  int64_t count = 1;
  for (int i = EQ_MAX_DIMS - 1; i >= 0; --i) {
    int32_t d = da[i] > db[i] ? da[i] : db[i];
    if ((da[i] != d && da[i] != 1) || (db[i] != d && db[i] != 1)) return EQ_ERR_SHAPE;
    if (da[i] == 0 || db[i] == 0) d = 0;
    if (dout[i] != d) return EQ_ERR_SHAPE;
    bc->dims[i] = d;
    bc->stride_a[i] = da[i] == 1 ? 0 : sa;
    bc->stride_b[i] = db[i] == 1 ? 0 : sb;
    sa *= da[i];
    sb *= db[i];
    count *= d;
  }
  if (count > INT32_MAX) return EQ_ERR_SHAPE;
  bc->count = (int32_t)count;
  return EQ_OK;
}

void eq_broadcast_each(const eq_broadcast *bc, eq_broadcast_fn fn, void *user) {
  if (bc->count == 0) return;
  int32_t idx[EQ_MAX_DIMS] = {0};
  int32_t ia = 0, ib = 0;
  for (int32_t o = 0; o < bc->count; ++o) {
    fn(user, o, ia, ib);
    for (int d = EQ_MAX_DIMS - 1; d >= 0; --d) { /* odometer increment, innermost dim first */
      ia += bc->stride_a[d];
      ib += bc->stride_b[d];
      if (++idx[d] < bc->dims[d]) break;
      ia -= bc->stride_a[d] * bc->dims[d];
      ib -= bc->stride_b[d] * bc->dims[d];
      idx[d] = 0;
    }
  }
}
