/* DEPTHWISE_CONV_2D: int8, filter [1, kh, kw, in_c * multiplier], per-channel or per-tensor weights;
 * the same with packed INT4 weights; 16x8 (int16 input/output, int64 bias); float; hybrid (float
 * input/output, int8 weights, input quantized per batch with a zero point at run time).
 * Options (DepthwiseConv2DOptions): padding 0, stride_w 1, stride_h 2, depth_multiplier 3,
 * activation 4, dilation_w 5, dilation_h 6. The multiplier is taken from the shapes, as TFLite does. */
#include "../op_util.h"
#include "matmul_common.h"

typedef struct {
  eq_conv_params p;
  eq_channel_quant q;
  eq_shape4 in, filter, out;
} dw_data;

/* Float and hybrid runs. */
typedef struct {
  eq_conv_fparams p;
  eq_shape4 in, filter, out;
  const float *w_scale; /* hybrid: per output channel; NULL for float weights */
} dw_f_data;

static eq_status geometry(const eq_node *n, eq_shape4 *in_s, eq_shape4 *f_s, eq_shape4 *out_s, eq_conv_params *p);

static eq_status prepare_float(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *w = n->in[1];
  eq_status st = eq_float_matmul_types(n);
  if (st != EQ_OK) return st;
  dw_f_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_conv_params g;
  st = geometry(n, &d->in, &d->filter, &d->out, &g);
  if (st != EQ_OK) return st;
  st = eq_conv_fparams_from(&d->p, &g, g.depth_multiplier, eq_opt_i32(&n->options, 4, EQ_ACT_NONE));
  if (st != EQ_OK) return st;
  d->w_scale = NULL;
  if (w->type != EQ_FLOAT32) {
    /* LiteRT's hybrid depthwise is per-channel only; a per-tensor scale is repeated (same arithmetic). */
    st = eq_hybrid_weights_ok(w, d->out.c);
    if (st != EQ_OK) return st;
    d->w_scale = eq_filter_scales(ctx, w, d->out.c);
    EQ_ENSURE(d->w_scale, EQ_ERR_ARENA_TOO_SMALL);
    st = eq_request_scratch(ctx, eq_hybrid_scratch_bytes(d->in.n, d->in.h * d->in.w * d->in.c), &n->scratch[0]);
    if (st != EQ_OK) return st;
#if defined(__x86_64__) || defined(__i386__)
    /* int8 weights on an x86 host with a SIMD variant chosen: the AVX2 twin's scratch, when it
     * vectorizes the shape */
    if (eq_depthwise_conv2d_hybrid_avx2 && w->type == EQ_INT8 && eq_host_simd()) {
      const size_t bytes = eq_depthwise_conv2d_hybrid_avx2_scratch_size(&d->p, &d->in, &d->filter, &d->out);
      if (bytes && (st = eq_request_scratch(ctx, bytes, &n->scratch[1])) != EQ_OK) return st;
    }
#endif
  }
  n->data = d;
  return EQ_OK;
}

static eq_status eval_float(eq_ctx *ctx, eq_node *n) {
  const dw_f_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  const float *b = bias ? bias->data : NULL;
  if (!d->w_scale) {
    void (*f32)(const eq_conv_fparams *, const eq_shape4 *, const float *, const eq_shape4 *, const float *,
                const float *, const eq_shape4 *, float *) = eq_depthwise_conv2d_f32;
#if defined(__x86_64__) || defined(__i386__)
    if (eq_depthwise_conv2d_f32_avx2 && eq_host_simd()) f32 = eq_depthwise_conv2d_f32_avx2; /* same bytes */
#endif
    f32(&d->p, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, b, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  const eq_hybrid_rows r = eq_hybrid_quantize(eq_scratch(ctx, n->scratch[0]), n->in[0]->data, d->in.n,
                                              d->in.h * d->in.w * d->in.c, 1, 0.0f);
#if defined(__x86_64__) || defined(__i386__)
  if (n->scratch[1] >= 0) { /* prepare_float chose the AVX2 twin */
    eq_depthwise_conv2d_hybrid_avx2(&d->p, &d->in, r.q, r.scale, r.zp, &d->filter, n->in[1]->data, 0, d->w_scale, b,
                                    &d->out, n->out[0]->data, eq_scratch(ctx, n->scratch[1]));
    return EQ_OK;
  }
#endif
  eq_depthwise_conv2d_hybrid(&d->p, &d->in, r.q, r.scale, r.zp, &d->filter, n->in[1]->data,
                             n->in[1]->type == EQ_INT4, d->w_scale, b, &d->out, n->out[0]->data);
  return EQ_OK;
}

static eq_status geometry(const eq_node *n, eq_shape4 *in_s, eq_shape4 *f_s, eq_shape4 *out_s, eq_conv_params *p) {
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  eq_status st = eq_conv_shapes(n, in_s, f_s, out_s);
  if (st != EQ_OK) return st;
  const int32_t oc = out_s->c;
  EQ_ENSURE(f_s->n == 1 && f_s->c == oc && in_s->c > 0 && oc % in_s->c == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(out_s->n == in_s->n && (!bias || eq_num_elements(bias) == oc), EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)f_s->h * f_s->w <= EQ_MAX_TAPS, EQ_ERR_LIMIT);
  const eq_options *o = &n->options;
  const int32_t padding = eq_opt_i32(o, 0, EQ_PAD_SAME);
  p->stride_w = eq_opt_i32(o, 1, 0);
  p->stride_h = eq_opt_i32(o, 2, 0);
  p->dilation_w = eq_opt_i32(o, 5, 1);
  p->dilation_h = eq_opt_i32(o, 6, 1);
  p->depth_multiplier = oc / in_s->c;
  return eq_conv_window(padding, in_s, f_s, out_s, p);
}

/* 16x8 with int8 weights on an x86 host with a SIMD variant chosen: the AVX2 twin's scratch (interleaved
 * weights), when it vectorizes the shape. Otherwise the reference kernel runs, scratch-free. */
static eq_status prepare_s16_simd(eq_ctx *ctx, eq_node *n, const dw_data *d) {
#if defined(__x86_64__) || defined(__i386__)
  if (eq_depthwise_conv2d_s16_avx2 && n->in[1]->type == EQ_INT8 && eq_host_simd()) {
    const size_t bytes = eq_depthwise_conv2d_s16_avx2_scratch_size(&d->p, &d->in, &d->filter, &d->out);
    if (bytes) return eq_request_scratch(ctx, bytes, &n->scratch[0]);
  }
#endif
  (void)ctx, (void)n, (void)d;
  return EQ_OK;
}

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in >= 2 && n->n_in <= 3 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  if (in->type == EQ_FLOAT32) return EQ_WITH_FLOAT ? prepare_float(ctx, n) : EQ_ERR_UNSUPPORTED_TYPE;
  const int s16 = EQ_WITH_INT16 && in->type == EQ_INT16;
  EQ_ENSURE(eq_conv_int_types_ok(in, w, out, s16), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(!bias || bias->type == (s16 ? EQ_INT64 : EQ_INT32), EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(!s16 || (in->zero_point == 0 && out->zero_point == 0), EQ_ERR_QUANT);
  EQ_ENSURE(eq_int4_bytes_ok(w), EQ_ERR_SHAPE);
  dw_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = geometry(n, &d->in, &d->filter, &d->out, &d->p);
  if (st != EQ_OK) return st;
  eq_conv_params *p = &d->p;
  st = eq_conv_int_quant(ctx, n, eq_opt_i32(&n->options, 4, EQ_ACT_NONE), s16, d->out.c, p, &d->q);
  if (st != EQ_OK) return st;
  n->data = d;
  if (s16) return prepare_s16_simd(ctx, n, d);
  /* INT4: the reference kernel or (x86 host, SIMD variant chosen) its AVX2 / AVX-512 twin, all reading
   * the nibbles in place with no scratch and nothing persistent */
  if (w->type == EQ_INT4) return EQ_OK;
  size_t scratch = eq_kernels()->depthwise_conv2d_s8_scratch_size(p, &d->in, &d->filter, &d->out);
  if (scratch) {
    st = eq_request_scratch(ctx, scratch, &n->scratch[0]);
    if (st != EQ_OK) return st;
  }
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  if (EQ_WITH_FLOAT && n->in[0]->type == EQ_FLOAT32) return eval_float(ctx, n);
  const dw_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  if (EQ_WITH_INT16 && n->in[0]->type == EQ_INT16) {
#if defined(__x86_64__) || defined(__i386__)
    if (n->scratch[0] >= 0) { /* prepare_s16_simd chose the AVX2 twin */
      eq_depthwise_conv2d_s16_avx2(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, 0,
                                   bias ? bias->data : NULL, &d->out, n->out[0]->data, eq_scratch(ctx, n->scratch[0]));
      return EQ_OK;
    }
#endif
    eq_depthwise_conv2d_s16(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data,
                            n->in[1]->type == EQ_INT4, bias ? bias->data : NULL, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  const int8_t *w8 = n->in[1]->data;
  if (EQ_WITH_INT4 && n->in[1]->type == EQ_INT4) {
    void (*kernel)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                   const eq_shape4 *, const uint8_t *, const int32_t *, const eq_shape4 *, int8_t *) =
        eq_depthwise_conv2d_s4;
#if defined(__x86_64__) || defined(__i386__)
    if (eq_depthwise_conv2d_s4_avx2 && eq_host_simd()) {
      const char *isa = eq_kernels()->isa; /* "avx512vnni" or "avx2" */
      const int avx512 = isa[0] == 'a' && isa[1] == 'v' && isa[2] == 'x' && isa[3] == '5';
      kernel = avx512 && eq_depthwise_conv2d_s4_avx512vnni ? eq_depthwise_conv2d_s4_avx512vnni
                                                           : eq_depthwise_conv2d_s4_avx2;
    }
#endif
    kernel(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, bias ? bias->data : NULL, &d->out,
           n->out[0]->data);
    return EQ_OK;
  }
  void *scratch = n->scratch[0] >= 0 ? eq_scratch(ctx, n->scratch[0]) : NULL;
  eq_kernels()->depthwise_conv2d_s8(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, w8,
                                    bias ? bias->data : NULL, &d->out, n->out[0]->data, scratch);
  return EQ_OK;
}

const eq_op_impl eq_op_depthwise_conv_2d = {"DEPTHWISE_CONV_2D", prepare, eval};
