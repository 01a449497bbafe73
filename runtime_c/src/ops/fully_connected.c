/* FULLY_CONNECTED: int8 input/output, int8 weights [out_depth, in_depth], optional int32 bias; the same
 * with packed INT4 weights; 16x8 (int16 input/output, int64 or int32 bias); float; hybrid (float
 * input/output, int8 weights, each input row quantized at run time).
 * Options (FullyConnectedOptions): activation 0, weights_format 1 (DEFAULT only), keep_num_dims 2,
 * asymmetric_quantize_inputs 3 (hybrid), quantized_bias_type 4 (16x8: INT32 selects int32 accumulation).
 * Per-tensor weights use TFLite's per-tensor multiplier (input_scale * weight_scale rounded to float
 * first); per-channel weights use the per-channel formula (all in double) — they differ in the last
 * bit for some scales, which changes outputs. */
#include "../op_util.h"
#include "matmul_common.h"

/* Per-tensor weights with one batch run the kernel over blocks of FC_BLOCK outputs, with the
 * replicated multiplier arrays the kernel signature wants built on the stack at eval: the arena keeps
 * one multiplier and shift, not FC_BLOCK (or out_depth) copies. */
#define FC_BLOCK 16

typedef struct {
  eq_fc_params p;
  eq_channel_quant q;      /* unused when blocked */
  int32_t batches, in_depth, out_depth;
  int32_t block;           /* outputs per kernel call: out_depth, or FC_BLOCK for blocked per-tensor runs */
  int32_t mult1, shift1;   /* the per-tensor multiplier of blocked runs */
} fc_data;

static eq_status per_tensor_quant(eq_ctx *ctx, const eq_tensor *in, const eq_tensor *w, const eq_tensor *out,
                                  int32_t channels, fc_data *d) {
  eq_channel_quant *q = &d->q;
  const float product = in->scale * w->scale;
  EQ_ENSURE(product >= 0.0f && out->scale > 0.0f, EQ_ERR_QUANT);
  int32_t m, s;
  eq_status st = eq_quantize_multiplier((double)product / (double)out->scale, &m, &s);
  if (st != EQ_OK) return st;
  d->mult1 = m;
  d->shift1 = s;
  if (channels == 0) return EQ_OK; /* blocked: built at eval */
  int32_t *mult = eq_alloc_persistent(ctx, sizeof(int32_t) * (size_t)channels);
  int32_t *shift = eq_alloc_persistent(ctx, sizeof(int32_t) * (size_t)channels);
  EQ_ENSURE(mult && shift, EQ_ERR_ARENA_TOO_SMALL);
  for (int32_t c = 0; c < channels; ++c) {
    mult[c] = m;
    shift[c] = s;
  }
  q->multiplier = mult;
  q->shift = shift;
  return EQ_OK;
}

/* 16x8 runs: LiteRT's reference requantizes in double, so the op keeps one double scale per output. */
typedef struct {
  eq_fc_params p;
  const double *scale;
  int32_t batches, in_depth, out_depth, acc32;
} fc16_data;

/* Float and hybrid runs. */
typedef struct {
  float act_min, act_max;
  int32_t batches, in_depth, out_depth;
  int32_t hybrid, asymmetric;
  float w_scale1;       /* per-tensor hybrid filter scale */
  const float *w_scale; /* per-channel hybrid filter scales, else NULL */
} fc_f_data;

/* batches, in_depth, out_depth from the shapes, checked. */
static eq_status fc_dims(const eq_node *n, int32_t *batches, int32_t *in_depth, int32_t *out_depth) {
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  EQ_ENSURE(eq_opt_i32(&n->options, 1, 0) == 0, EQ_ERR_UNSUPPORTED_TYPE); /* shuffled weights */
  EQ_ENSURE(w->ndim == 2 && w->dims[1] > 0, EQ_ERR_SHAPE);
  *in_depth = w->dims[1];
  *out_depth = w->dims[0];
  const int32_t total = eq_num_elements(in);
  EQ_ENSURE(total % *in_depth == 0, EQ_ERR_SHAPE);
  *batches = total / *in_depth;
  EQ_ENSURE(out->ndim >= 1 && out->dims[out->ndim - 1] == *out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)eq_num_elements(out) == (int64_t)*batches * *out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE(!bias || eq_num_elements(bias) == *out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)*in_depth <= EQ_MAX_TAPS, EQ_ERR_LIMIT);
  return EQ_OK;
}

static eq_status prepare_float(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *w = n->in[1];
  eq_status st = eq_float_matmul_types(n);
  if (st != EQ_OK) return st;
  fc_f_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  st = fc_dims(n, &d->batches, &d->in_depth, &d->out_depth);
  if (st != EQ_OK) return st;
  st = eq_float_activation(eq_opt_i32(&n->options, 0, EQ_ACT_NONE), &d->act_min, &d->act_max);
  if (st != EQ_OK) return st;
  d->hybrid = w->type != EQ_FLOAT32;
  d->asymmetric = eq_opt_i32(&n->options, 3, 0) != 0;
  d->w_scale = NULL;
  if (d->hybrid) {
    st = eq_hybrid_weights_ok(w, d->out_depth);
    if (st != EQ_OK) return st;
    d->w_scale1 = eq_q_scale(w, 0);
    if (w->nq > 1) {
      d->w_scale = eq_filter_scales(ctx, w, d->out_depth);
      EQ_ENSURE(d->w_scale, EQ_ERR_ARENA_TOO_SMALL);
    }
    st = eq_request_scratch(ctx, eq_hybrid_scratch_bytes(d->batches, d->in_depth), &n->scratch[0]);
    if (st != EQ_OK) return st;
  }
  n->data = d;
  return EQ_OK;
}

static eq_status eval_float(eq_ctx *ctx, eq_node *n) {
  const fc_f_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  const float *b = bias ? bias->data : NULL;
  if (!d->hybrid) {
    eq_fully_connected_f32(d->act_min, d->act_max, d->batches, d->in_depth, d->out_depth, n->in[0]->data,
                           n->in[1]->data, b, n->out[0]->data);
    return EQ_OK;
  }
  const eq_hybrid_rows r = eq_hybrid_quantize(eq_scratch(ctx, n->scratch[0]), n->in[0]->data, d->batches,
                                              d->in_depth, d->asymmetric, d->w_scale ? 0.0f : d->w_scale1);
  void (*hybrid)(float, float, int32_t, int32_t, int32_t, const int8_t *, const float *, const int32_t *,
                 const void *, int, const float *, const float *, float *) = eq_fully_connected_hybrid;
#if defined(__x86_64__) || defined(__i386__)
  if (eq_fully_connected_hybrid_avx2 && eq_host_simd()) hybrid = eq_fully_connected_hybrid_avx2; /* a SIMD variant */
#endif
  hybrid(d->act_min, d->act_max, d->batches, d->in_depth, d->out_depth, r.q, r.scale, r.zp, n->in[1]->data,
         n->in[1]->type == EQ_INT4, d->w_scale, b, n->out[0]->data);
  return EQ_OK;
}

static eq_status prepare_s16(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  EQ_ENSURE((w->type == EQ_INT8 || w->type == EQ_INT4) && out->type == EQ_INT16, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_int4_bytes_ok(w), EQ_ERR_SHAPE);
  fc16_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = fc_dims(n, &d->batches, &d->in_depth, &d->out_depth);
  if (st != EQ_OK) return st;
  d->acc32 = eq_opt_i32(&n->options, 4, EQ_FLOAT32) == EQ_INT32;
  EQ_ENSURE(!bias || bias->type == (d->acc32 ? EQ_INT32 : EQ_INT64), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1 && w->nq >= 1 && out->scale > 0.0f, EQ_ERR_QUANT);
  EQ_ENSURE(in->zero_point == 0 && out->zero_point == 0, EQ_ERR_QUANT);
  EQ_ENSURE(w->nq == 1 || w->nq == d->out_depth, EQ_ERR_QUANT);
  d->p.input_offset = 0;
  d->p.output_offset = 0;
  /* Per-tensor weights apply their zero point; per-channel ones are symmetric by definition. */
  d->p.filter_offset = w->nq == 1 ? -w->zero_point : 0;
  for (int32_t c = 0; c < w->nq && w->nq > 1; ++c) EQ_ENSURE(eq_q_zero_point(w, c) == 0, EQ_ERR_QUANT);
  st = eq_activation_range(eq_opt_i32(&n->options, 0, EQ_ACT_NONE), out, &d->p.act_min, &d->p.act_max);
  if (st != EQ_OK) return st;
  double *scale = eq_alloc_persistent(ctx, sizeof(double) * (size_t)d->out_depth);
  EQ_ENSURE(scale, EQ_ERR_ARENA_TOO_SMALL);
  for (int32_t c = 0; c < d->out_depth; ++c)
    scale[c] = (double)in->scale * (double)eq_q_scale(w, w->nq > 1 ? c : 0) / (double)out->scale;
  d->scale = scale;
  n->data = d;
  return EQ_OK;
}

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in >= 2 && n->n_in <= 3 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  if (in->type == EQ_FLOAT32) return EQ_WITH_FLOAT ? prepare_float(ctx, n) : EQ_ERR_UNSUPPORTED_TYPE;
  if (in->type == EQ_INT16) return EQ_WITH_INT16 ? prepare_s16(ctx, n) : EQ_ERR_UNSUPPORTED_TYPE;
  EQ_ENSURE(in->type == EQ_INT8 && (w->type == EQ_INT8 || (EQ_WITH_INT4 && w->type == EQ_INT4)) && out->type == EQ_INT8,
            EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(!bias || bias->type == EQ_INT32, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(eq_opt_i32(&n->options, 1, 0) == 0, EQ_ERR_UNSUPPORTED_TYPE); /* shuffled weights */
  EQ_ENSURE(w->ndim == 2 && w->dims[1] > 0, EQ_ERR_SHAPE);
  EQ_ENSURE(eq_int4_bytes_ok(w), EQ_ERR_SHAPE);
  fc_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  d->in_depth = w->dims[1];
  d->out_depth = w->dims[0];
  const int32_t total = eq_num_elements(in);
  EQ_ENSURE(total % d->in_depth == 0, EQ_ERR_SHAPE);
  d->batches = total / d->in_depth;
  EQ_ENSURE(out->ndim >= 1 && out->dims[out->ndim - 1] == d->out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)eq_num_elements(out) == (int64_t)d->batches * d->out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE(!bias || eq_num_elements(bias) == d->out_depth, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)d->in_depth <= EQ_MAX_TAPS, EQ_ERR_LIMIT);
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1 && w->nq >= 1, EQ_ERR_QUANT);
  d->p.input_offset = -in->zero_point;
  d->p.output_offset = out->zero_point;
  eq_status st = eq_activation_range(eq_opt_i32(&n->options, 0, EQ_ACT_NONE), out, &d->p.act_min, &d->p.act_max);
  if (st != EQ_OK) return st;
  d->block = d->out_depth;
  if (w->nq == 1) {
    d->p.filter_offset = -w->zero_point;
    /* INT4 rows may start mid-byte, so INT4 runs are never blocked. */
    const int blocked = d->batches == 1 && w->type == EQ_INT8;
    if (blocked) d->block = FC_BLOCK;
    st = per_tensor_quant(ctx, in, w, out, blocked ? 0 : d->block, d);
  } else {
    EQ_ENSURE(w->nq == d->out_depth, EQ_ERR_QUANT);
    for (int32_t c = 0; c < w->nq; ++c) EQ_ENSURE(eq_q_zero_point(w, c) == 0, EQ_ERR_QUANT);
    d->p.filter_offset = 0;
    st = eq_conv_channel_quant(ctx, in, w, out, d->out_depth, &d->q);
  }
  if (st != EQ_OK) return st;
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  if (EQ_WITH_FLOAT && n->in[0]->type == EQ_FLOAT32) return eval_float(ctx, n);
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  if (EQ_WITH_INT16 && n->in[0]->type == EQ_INT16) {
    const fc16_data *e = n->data;
    void (*s16)(const eq_fc_params *, const double *, int32_t, int32_t, int32_t, const int16_t *, const void *, int,
                const void *, int, int16_t *) = eq_fully_connected_s16;
#if defined(__x86_64__) || defined(__i386__)
    if (eq_fully_connected_s16_avx2 && eq_host_simd()) s16 = eq_fully_connected_s16_avx2; /* a SIMD variant */
#endif
    s16(&e->p, e->scale, e->batches, e->in_depth, e->out_depth, n->in[0]->data, n->in[1]->data,
        n->in[1]->type == EQ_INT4, bias ? bias->data : NULL, e->acc32, n->out[0]->data);
    return EQ_OK;
  }
  const fc_data *d = n->data;
  if (EQ_WITH_INT4 && n->in[1]->type == EQ_INT4) {
#if defined(__x86_64__) || defined(__i386__)
    if (eq_fully_connected_s4_avx2 && eq_host_simd()) { /* a SIMD variant: it reads nibbles in place */
      const char *isa = eq_kernels()->isa; /* "avx512vnni" or "avx2" */
      const int vnni = isa[0] == 'a' && isa[1] == 'v' && isa[2] == 'x' && isa[3] == '5';
      (vnni ? eq_fully_connected_s4_avx512vnni : eq_fully_connected_s4_avx2)(
          &d->p, &d->q, d->batches, d->in_depth, d->out_depth, n->in[0]->data, n->in[1]->data,
          bias ? bias->data : NULL, n->out[0]->data);
      return EQ_OK;
    }
#endif
    eq_fully_connected_s4(&d->p, &d->q, d->batches, d->in_depth, d->out_depth, n->in[0]->data, n->in[1]->data,
                          bias ? bias->data : NULL, n->out[0]->data);
    return EQ_OK;
  }
  const int8_t *w = n->in[1]->data;
  const int32_t *b = bias ? bias->data : NULL;
  int8_t *out = n->out[0]->data;
  int32_t mult[FC_BLOCK], shift[FC_BLOCK];
  eq_channel_quant q = d->q;
  if (d->block == FC_BLOCK && !q.multiplier) {
    for (int32_t c = 0; c < FC_BLOCK; ++c) {
      mult[c] = d->mult1;
      shift[c] = d->shift1;
    }
    q.multiplier = mult;
    q.shift = shift;
  }
  for (int32_t o = 0; o < d->out_depth; o += d->block) { /* one pass unless blocked (batches == 1) */
    const int32_t m = d->out_depth - o < d->block ? d->out_depth - o : d->block;
    eq_kernels()->fully_connected_s8(&d->p, &q, d->batches, d->in_depth, m, n->in[0]->data,
                                     w + (int64_t)o * d->in_depth, b ? b + o : NULL, out + o);
  }
  return EQ_OK;
}

const eq_op_impl eq_op_fully_connected = {"FULLY_CONNECTED", prepare, eval};
