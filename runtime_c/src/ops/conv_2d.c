/* CONV_2D: int8 input/output, int8 weights (per-channel or per-tensor, symmetric), int32 bias; the same
 * with packed INT4 weights; 16x8 (int16 input/output, int64 or int32 bias); float; hybrid (float
 * input/output, int8 weights, input quantized per batch at run time).
 * Options (Conv2DOptions): padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4, dilation_h 5,
 * quantized_bias_type 6 (16x8: INT32 selects the int32 accumulator). */
#include "../op_util.h"
#include "matmul_common.h"

typedef struct {
  eq_conv_params p;
  eq_channel_quant q;
  eq_shape4 in, filter, out;
  const void *packed; /* weights packed at prepare by the variant, or NULL (ref packs nothing) */
} conv_data;

/* Float and hybrid runs. */
typedef struct {
  eq_conv_fparams p;
  eq_shape4 in, filter, out;
  int32_t hybrid, per_channel; /* per-channel hybrid: asymmetric input rows, w_scale per channel */
  float w_scale1;              /* per-tensor hybrid filter scale */
  const float *w_scale;
  const void *wpack; /* hybrid on an x86 SIMD host: the constant filter in the AVX2 twin's order, or NULL */
} conv_f_data;

/* Shapes, strides, dilations and padding, checked. */
static eq_status geometry(const eq_node *n, eq_shape4 *in_s, eq_shape4 *f_s, eq_shape4 *out_s, eq_conv_params *p) {
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  eq_status st = eq_conv_shapes(n, in_s, f_s, out_s);
  if (st != EQ_OK) return st;
  const int32_t oc = out_s->c;
  EQ_ENSURE(f_s->n == oc && f_s->c > 0 && in_s->c % f_s->c == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(oc % (in_s->c / f_s->c) == 0 && out_s->n == in_s->n, EQ_ERR_SHAPE);
  EQ_ENSURE(!bias || eq_num_elements(bias) == oc, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)f_s->h * f_s->w * f_s->c <= EQ_MAX_TAPS, EQ_ERR_LIMIT);
  const eq_options *o = &n->options;
  const int32_t padding = eq_opt_i32(o, 0, EQ_PAD_SAME);
  p->stride_w = eq_opt_i32(o, 1, 0);
  p->stride_h = eq_opt_i32(o, 2, 0);
  p->dilation_w = eq_opt_i32(o, 4, 1);
  p->dilation_h = eq_opt_i32(o, 5, 1);
  p->depth_multiplier = 1;
  return eq_conv_window(padding, in_s, f_s, out_s, p);
}

static eq_status prepare_float(eq_ctx *ctx, eq_node *n) {
  const eq_tensor *w = n->in[1];
  eq_status st = eq_float_matmul_types(n);
  if (st != EQ_OK) return st;
  conv_f_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_conv_params g;
  st = geometry(n, &d->in, &d->filter, &d->out, &g);
  if (st != EQ_OK) return st;
  st = eq_conv_fparams_from(&d->p, &g, 1, eq_opt_i32(&n->options, 3, EQ_ACT_NONE));
  if (st != EQ_OK) return st;
  d->hybrid = w->type != EQ_FLOAT32;
  d->per_channel = 0;
  d->w_scale = NULL;
  d->wpack = NULL;
  if (d->hybrid) {
    st = eq_hybrid_weights_ok(w, d->out.c);
    if (st != EQ_OK) return st;
    for (int32_t c = 1; c < w->nq; ++c)
      if (eq_q_scale(w, c) != eq_q_scale(w, 0)) d->per_channel = 1;
    /* Grouped hybrid convolutions run the per-channel form, as in LiteRT. */
    if (d->in.c != d->filter.c) d->per_channel = 1;
    d->w_scale1 = eq_q_scale(w, 0);
    if (d->per_channel) {
      d->w_scale = eq_filter_scales(ctx, w, d->out.c);
      EQ_ENSURE(d->w_scale, EQ_ERR_ARENA_TOO_SMALL);
    }
    st = eq_request_scratch(ctx, eq_hybrid_scratch_bytes(d->in.n, d->in.h * d->in.w * d->in.c), &n->scratch[0]);
    if (st != EQ_OK) return st;
#if defined(__x86_64__) || defined(__i386__)
    /* int8 weights on an x86 host with a SIMD variant chosen: the AVX2 twin's patch scratch and, for a
     * constant filter, its interleaved copy (host only) */
    if (eq_conv2d_hybrid_avx2 && w->type == EQ_INT8 && eq_host_simd()) {
      st = eq_request_scratch(ctx, eq_conv2d_hybrid_avx2_scratch_size(&d->filter), &n->scratch[1]);
      if (st != EQ_OK) return st;
      const size_t packed = w->is_const ? eq_conv2d_hybrid_avx2_packed_size(&d->in, &d->filter) : 0;
      if (packed) {
        void *buf = eq_alloc_persistent(ctx, packed);
        EQ_ENSURE(buf, EQ_ERR_ARENA_TOO_SMALL);
        eq_conv2d_hybrid_avx2_pack(&d->filter, w->data, buf);
        d->wpack = buf;
      }
    }
#endif
  }
  n->data = d;
  return EQ_OK;
}

static eq_status eval_float(eq_ctx *ctx, eq_node *n) {
  const conv_f_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  const float *b = bias ? bias->data : NULL;
  if (!d->hybrid) {
    eq_conv2d_f32(&d->p, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, b, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  const eq_hybrid_rows r = eq_hybrid_quantize(eq_scratch(ctx, n->scratch[0]), n->in[0]->data, d->in.n,
                                              d->in.h * d->in.w * d->in.c, d->per_channel,
                                              d->per_channel ? 0.0f : d->w_scale1);
#if defined(__x86_64__) || defined(__i386__)
  if (n->scratch[1] >= 0) { /* prepare_float chose the AVX2 twin */
    eq_conv2d_hybrid_avx2(&d->p, &d->in, r.q, r.scale, r.zp, &d->filter, n->in[1]->data, 0, d->w_scale, b, &d->out,
                          n->out[0]->data, d->wpack, eq_scratch(ctx, n->scratch[1]));
    return EQ_OK;
  }
#endif
  eq_conv2d_hybrid(&d->p, &d->in, r.q, r.scale, r.zp, &d->filter, n->in[1]->data, n->in[1]->type == EQ_INT4,
                   d->w_scale, b, &d->out, n->out[0]->data);
  return EQ_OK;
}

/* 16x8 with int8 weights on an x86 host with a SIMD variant chosen: the AVX2 twin's patch scratch.
 * Without it (microcontrollers, EDGEQ_ISA=ref, INT4 weights) the reference kernel runs, scratch-free. */
static eq_status prepare_s16_simd(eq_ctx *ctx, eq_node *n, const conv_data *d) {
#if defined(__x86_64__) || defined(__i386__)
  if (eq_conv2d_s16_avx2 && n->in[1]->type == EQ_INT8 && eq_host_simd())
    return eq_request_scratch(ctx, eq_conv2d_s16_avx2_scratch_size(&d->filter), &n->scratch[0]);
#endif
  (void)ctx, (void)n, (void)d;
  return EQ_OK;
}

/* INT4 weights with int8 activations on an x86 host with a SIMD variant chosen: the AVX2 or AVX-512
 * VNNI twin, which repacks the nibbles at prepare into its panel order (still 4 bits a weight) and
 * decodes them in registers; NULL elsewhere (the reference kernel runs). */
typedef struct {
  size_t (*scratch_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
  void (*run)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *, const eq_shape4 *,
              const uint8_t *, const int32_t *, const eq_shape4 *, int8_t *, void *);
  const eq_conv_pack *pack;
} conv_s4_twin;

static conv_s4_twin s4_twin(void) {
  conv_s4_twin t = {NULL, NULL, NULL};
#if defined(__x86_64__) || defined(__i386__)
  if (eq_conv2d_s4_avx2 && eq_host_simd()) {
    const char *isa = eq_kernels()->isa; /* "avx512vnni" or "avx2" */
    const int vnni = isa[0] == 'a' && isa[1] == 'v' && isa[2] == 'x' && isa[3] == '5' && eq_conv2d_s4_avx512vnni;
    t.scratch_size = vnni ? eq_conv2d_s4_avx512vnni_scratch_size : eq_conv2d_s4_avx2_scratch_size;
    t.run = vnni ? eq_conv2d_s4_avx512vnni : eq_conv2d_s4_avx2;
    t.pack = vnni ? &eq_conv2d_s4_avx512vnni_pack : &eq_conv2d_s4_avx2_pack;
  }
#endif
  return t;
}

/* Constant weights and bias: the twin's panel (the packed size plus padding and 16 bytes a channel) in
 * persistent memory, built once, and its im2col scratch. Otherwise the twin repacks into scratch at
 * every call. A shape the twin hands to the reference needs neither, and without a twin the reference
 * kernel runs, scratch-free. */
static eq_status prepare_s4(eq_ctx *ctx, eq_node *n, conv_data *d) {
  const conv_s4_twin t = s4_twin();
  if (!t.run) return EQ_OK;
  const eq_tensor *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL;
  const size_t packed =
      t.pack && w->is_const && (!bias || bias->is_const) ? t.pack->packed_size(&d->p, &d->in, &d->filter, &d->out) : 0;
  if (packed) {
    void *buf = eq_alloc_persistent(ctx, packed);
    EQ_ENSURE(buf, EQ_ERR_ARENA_TOO_SMALL);
    t.pack->pack(&d->p, &d->q, &d->in, &d->filter, w->data, bias ? bias->data : NULL, &d->out, buf);
    d->packed = buf;
    return eq_request_scratch(ctx, t.pack->scratch_size(&d->p, &d->in, &d->filter, &d->out), &n->scratch[0]);
  }
  const size_t bytes = t.scratch_size(&d->p, &d->in, &d->filter, &d->out);
  return bytes ? eq_request_scratch(ctx, bytes, &n->scratch[0]) : EQ_OK;
}

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in >= 2 && n->n_in <= 3 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  if (in->type == EQ_FLOAT32) return EQ_WITH_FLOAT ? prepare_float(ctx, n) : EQ_ERR_UNSUPPORTED_TYPE;
  const int s16 = EQ_WITH_INT16 && in->type == EQ_INT16;
  EQ_ENSURE(eq_conv_int_types_ok(in, w, out, s16), EQ_ERR_UNSUPPORTED_TYPE);
  if (s16) { /* the option names the bias type; without it, int64 */
    const int acc32 = eq_opt_i32(&n->options, 6, EQ_FLOAT32) == EQ_INT32;
    EQ_ENSURE(!bias || bias->type == (acc32 ? EQ_INT32 : EQ_INT64), EQ_ERR_UNSUPPORTED_TYPE);
    EQ_ENSURE(in->zero_point == 0 && out->zero_point == 0, EQ_ERR_QUANT);
  } else {
    EQ_ENSURE(!bias || bias->type == EQ_INT32, EQ_ERR_UNSUPPORTED_TYPE);
  }
  EQ_ENSURE(eq_int4_bytes_ok(w), EQ_ERR_SHAPE);
  conv_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_status st = geometry(n, &d->in, &d->filter, &d->out, &d->p);
  if (st != EQ_OK) return st;
  eq_conv_params *p = &d->p;
  st = eq_conv_int_quant(ctx, n, eq_opt_i32(&n->options, 3, EQ_ACT_NONE), s16, d->out.c, p, &d->q);
  if (st != EQ_OK) return st;
  /* Constant weights are packed once when the variant packs this shape; eval then skips repacking. */
  d->packed = NULL;
  n->data = d;
  if (s16) return prepare_s16_simd(ctx, n, d);
  if (EQ_WITH_INT4 && w->type == EQ_INT4) return prepare_s4(ctx, n, d);
  const int8_t *w8 = w->data;
  const eq_conv_pack *pk = eq_kernels()->conv2d_s8_pack;
  const size_t packed = pk && w->is_const && (!bias || bias->is_const) ? pk->packed_size(p, &d->in, &d->filter, &d->out) : 0;
  if (packed) {
    void *buf = eq_alloc_persistent(ctx, packed);
    EQ_ENSURE(buf, EQ_ERR_ARENA_TOO_SMALL);
    pk->pack(p, &d->q, &d->in, &d->filter, w8, bias ? bias->data : NULL, &d->out, buf);
    d->packed = buf;
  }
  size_t scratch = packed ? pk->scratch_size(p, &d->in, &d->filter, &d->out)
                          : eq_kernels()->conv2d_s8_scratch_size(p, &d->in, &d->filter, &d->out);
  if (scratch) {
    st = eq_request_scratch(ctx, scratch, &n->scratch[0]);
    if (st != EQ_OK) return st;
  }
  n->data = d;
  return EQ_OK;
}

static eq_status eval(eq_ctx *ctx, eq_node *n) {
  if (EQ_WITH_FLOAT && n->in[0]->type == EQ_FLOAT32) return eval_float(ctx, n);
  const conv_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  if (EQ_WITH_INT16 && n->in[0]->type == EQ_INT16) {
    const int acc32 = eq_opt_i32(&n->options, 6, EQ_FLOAT32) == EQ_INT32;
#if defined(__x86_64__) || defined(__i386__)
    if (n->scratch[0] >= 0) { /* prepare_s16_simd chose the AVX2 twin */
      eq_conv2d_s16_avx2(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, 0,
                         bias ? bias->data : NULL, acc32, &d->out, n->out[0]->data, eq_scratch(ctx, n->scratch[0]));
      return EQ_OK;
    }
#endif
    eq_conv2d_s16(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, n->in[1]->type == EQ_INT4,
                  bias ? bias->data : NULL, acc32, &d->out, n->out[0]->data);
    return EQ_OK;
  }
  const int8_t *w8 = n->in[1]->data;
  if (EQ_WITH_INT4 && n->in[1]->type == EQ_INT4) {
    if (d->packed) /* prepare_s4 built the twin's panel */
      s4_twin().pack->run(&d->p, &d->in, n->in[0]->data, &d->filter, d->packed, &d->out, n->out[0]->data,
                          eq_scratch(ctx, n->scratch[0]));
    else if (n->scratch[0] >= 0) /* prepare_s4 chose an x86 twin, repacking at every call */
      s4_twin().run(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, bias ? bias->data : NULL,
                    &d->out, n->out[0]->data, eq_scratch(ctx, n->scratch[0]));
    else
      eq_conv2d_s4(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data, bias ? bias->data : NULL,
                   &d->out, n->out[0]->data);
    return EQ_OK;
  }
  void *scratch = n->scratch[0] >= 0 ? eq_scratch(ctx, n->scratch[0]) : NULL;
  if (d->packed) {
    eq_kernels()->conv2d_s8_pack->run(&d->p, &d->in, n->in[0]->data, &d->filter, d->packed, &d->out,
                                      n->out[0]->data, scratch);
    return EQ_OK;
  }
  eq_kernels()->conv2d_s8(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, w8,
                          bias ? bias->data : NULL, &d->out, n->out[0]->data, scratch);
  return EQ_OK;
}

const eq_op_impl eq_op_conv_2d = {"CONV_2D", prepare, eval};
