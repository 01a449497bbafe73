/* CONV_2D: int8 input/output, int8 weights (per-channel or per-tensor, symmetric), int32 bias.
 * Options (Conv2DOptions): padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4, dilation_h 5. */
#include "../op_util.h"

typedef struct {
  eq_conv_params p;
  eq_channel_quant q;
  eq_shape4 in, filter, out;
  const void *packed; /* weights packed at prepare by the variant, or NULL (ref packs nothing) */
} conv_data;

static eq_status prepare(eq_ctx *ctx, eq_node *n) {
  EQ_ENSURE(n->n_in >= 2 && n->n_in <= 3 && n->n_out == 1 && n->in[0] && n->in[1], EQ_ERR_MODEL);
  const eq_tensor *in = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL, *out = n->out[0];
  EQ_ENSURE(in->type == EQ_INT8 && w->type == EQ_INT8 && out->type == EQ_INT8, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(!bias || bias->type == EQ_INT32, EQ_ERR_UNSUPPORTED_TYPE);
  EQ_ENSURE(in->ndim == 4 && w->ndim == 4 && out->ndim == 4, EQ_ERR_SHAPE);
  conv_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  eq_shape4_of(in, &d->in);
  eq_shape4_of(w, &d->filter);
  eq_shape4_of(out, &d->out);
  const int32_t oc = d->out.c;
  EQ_ENSURE(d->filter.n == oc && d->filter.c > 0 && d->in.c % d->filter.c == 0, EQ_ERR_SHAPE);
  EQ_ENSURE(oc % (d->in.c / d->filter.c) == 0 && d->out.n == d->in.n, EQ_ERR_SHAPE);
  EQ_ENSURE(!bias || eq_num_elements(bias) == oc, EQ_ERR_SHAPE);
  EQ_ENSURE((int64_t)d->filter.h * d->filter.w * d->filter.c <= EQ_MAX_TAPS, EQ_ERR_LIMIT);
  const eq_options *o = &n->options;
  const int32_t padding = eq_opt_i32(o, 0, EQ_PAD_SAME);
  eq_conv_params *p = &d->p;
  p->stride_w = eq_opt_i32(o, 1, 0);
  p->stride_h = eq_opt_i32(o, 2, 0);
  p->dilation_w = eq_opt_i32(o, 4, 1);
  p->dilation_h = eq_opt_i32(o, 5, 1);
  p->depth_multiplier = 1;
  EQ_ENSURE(p->stride_w > 0 && p->stride_h > 0 && p->dilation_w > 0 && p->dilation_h > 0, EQ_ERR_MODEL);
  EQ_ENSURE(eq_conv_out_size(padding, d->in.h, d->filter.h, p->stride_h, p->dilation_h) == d->out.h &&
                eq_conv_out_size(padding, d->in.w, d->filter.w, p->stride_w, p->dilation_w) == d->out.w,
            EQ_ERR_SHAPE);
  p->pad_h = eq_conv_padding(p->stride_h, p->dilation_h, d->in.h, d->filter.h, d->out.h);
  p->pad_w = eq_conv_padding(p->stride_w, p->dilation_w, d->in.w, d->filter.w, d->out.w);
  EQ_ENSURE(in->nq >= 1 && out->nq >= 1 && w->nq >= 1, EQ_ERR_QUANT);
  for (int32_t c = 0; c < w->nq; ++c) EQ_ENSURE(eq_q_zero_point(w, c) == 0, EQ_ERR_QUANT);
  p->input_offset = -in->zero_point;
  p->output_offset = out->zero_point;
  eq_status st = eq_activation_range(eq_opt_i32(o, 3, EQ_ACT_NONE), out, &p->act_min, &p->act_max);
  if (st != EQ_OK) return st;
  st = eq_conv_channel_quant(ctx, in, w, out, oc, &d->q);
  if (st != EQ_OK) return st;
  /* Constant weights are packed once when the variant packs this shape; eval then skips repacking. */
  const eq_conv_pack *pk = eq_kernels()->conv2d_s8_pack;
  const size_t packed = pk && w->is_const && (!bias || bias->is_const) ? pk->packed_size(p, &d->in, &d->filter, &d->out) : 0;
  d->packed = NULL;
  if (packed) {
    void *buf = eq_alloc_persistent(ctx, packed);
    EQ_ENSURE(buf, EQ_ERR_ARENA_TOO_SMALL);
    pk->pack(p, &d->q, &d->in, &d->filter, w->data, bias ? bias->data : NULL, &d->out, buf);
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
  const conv_data *d = n->data;
  const eq_tensor *bias = n->n_in > 2 ? n->in[2] : NULL;
  void *scratch = n->scratch[0] >= 0 ? eq_scratch(ctx, n->scratch[0]) : NULL;
  if (d->packed) {
    eq_kernels()->conv2d_s8_pack->run(&d->p, &d->in, n->in[0]->data, &d->filter, d->packed, &d->out,
                                      n->out[0]->data, scratch);
    return EQ_OK;
  }
  eq_kernels()->conv2d_s8(&d->p, &d->q, &d->in, n->in[0]->data, &d->filter, n->in[1]->data,
                          bias ? bias->data : NULL, &d->out, n->out[0]->data, scratch);
  return EQ_OK;
}

const eq_op_impl eq_op_conv_2d = {"CONV_2D", prepare, eval};
