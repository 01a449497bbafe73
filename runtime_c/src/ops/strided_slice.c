/* STRIDED_SLICE (int8, int16): constant begin/end/strides with TFLite's begin, end, ellipsis, new-axis and
 * shrink-axis masks and the `offset` flag. prepare() resolves them into a start/stop/stride per
 * (effective) axis exactly as LiteRT does, and checks the output shape they imply. */
#include "../../kernels/eq_kernels_elementwise.h"
#include "../../kernels/eq_kernels_s16.h"
#include "elementwise_common.h"
#include "int16_common.h"

typedef struct {
  int32_t ndim;
  int32_t dims[EQ_SLICE_MAX_DIMS], start[EQ_SLICE_MAX_DIMS], stop[EQ_SLICE_MAX_DIMS], stride[EQ_SLICE_MAX_DIMS];
} slice_data;

static int32_t clampi(int32_t v, int32_t lo, int32_t hi) { return v > hi ? hi : (v < lo ? lo : v); }

#define BIT(m, i) (((uint32_t)(m) >> (i)) & 1u)

static eq_status strided_slice_prepare(eq_ctx *ctx, eq_node *node) {
  EQ_ENSURE(node->n_in == 4 && node->n_out == 1, EQ_ERR_MODEL);
  const eq_tensor *in = node->in[0], *begin = node->in[1], *end = node->in[2], *strides = node->in[3];
  const eq_tensor *out = node->out[0];
  EQ_ENSURE(in && begin && end && strides, EQ_ERR_MODEL);
  EQ_ENSURE((in->type == EQ_INT8 || EQ_IS_INT16(in)) && out->type == in->type, EQ_ERR_UNSUPPORTED_TYPE);
  const int32_t n = eq_num_elements(begin);
  EQ_ENSURE(begin->ndim == 1 && end->ndim == 1 && strides->ndim == 1 && n <= 31, EQ_ERR_SHAPE);
  EQ_ENSURE(eq_num_elements(end) == n && eq_num_elements(strides) >= n, EQ_ERR_SHAPE);
  EQ_ENSURE(begin->type == EQ_INT32 && eq_is_const_index(begin, n) && end->type == EQ_INT32 &&
                eq_is_const_index(end, n) && strides->type == EQ_INT32 && eq_is_const_index(strides, n),
            EQ_ERR_UNSUPPORTED_TYPE);
  const eq_options *o = &node->options;
  const uint32_t begin_mask = (uint32_t)eq_opt_i32(o, 0, 0), end_mask = (uint32_t)eq_opt_i32(o, 1, 0);
  const uint32_t ellipsis_mask = (uint32_t)eq_opt_i32(o, 2, 0), new_axis_mask = (uint32_t)eq_opt_i32(o, 3, 0);
  const uint32_t shrink_mask = (uint32_t)eq_opt_i32(o, 4, 0);
  const int offset = eq_opt_i32(o, 5, 0) != 0;

  /* Expand the ellipsis and new axes into an effective input shape of rank in->ndim + new axes. */
  int32_t num_add = 0;
  for (int32_t i = 0; i < n; ++i) num_add += !BIT(ellipsis_mask, i) && BIT(new_axis_mask, i);
  const int32_t ed = in->ndim + num_add;
  EQ_ENSURE(ed <= EQ_SLICE_MAX_DIMS, EQ_ERR_LIMIT);
  uint32_t e_ellipsis = 0, e_new = 0;
  int32_t ellipsis_start = ed, expanded = 0;
  for (int32_t i = 0; i < ed;) {
    if (BIT(ellipsis_mask, i)) {
      ellipsis_start = i;
      int32_t stop = i + 1 + num_add + in->ndim - n;
      if (stop > ed) stop = ed;
      if (stop < i + 1) stop = i + 1;
      expanded = stop - ellipsis_start - 1;
      for (; i < stop; ++i) e_ellipsis |= 1u << i;
      continue;
    }
    if (BIT(new_axis_mask, i - expanded)) e_new |= 1u << i;
    ++i;
  }
  slice_data *d = eq_alloc_persistent(ctx, sizeof *d);
  EQ_ENSURE(d, EQ_ERR_ARENA_TOO_SMALL);
  int32_t starts[EQ_SLICE_MAX_DIMS], stops[EQ_SLICE_MAX_DIMS], strd[EQ_SLICE_MAX_DIMS];
  uint32_t bm = 0, em = 0, sm = 0;
  int32_t added_ellipsis = 0, added_axes = 0;
  for (int32_t i = 0; i < ed; ++i) {
    starts[i] = 0;
    stops[i] = 0;
    strd[i] = 1;
    if (!BIT(e_new, i)) EQ_ENSURE(i - added_axes >= 0 && i - added_axes < in->ndim, EQ_ERR_SHAPE);
    if (BIT(e_ellipsis, i)) {
      added_ellipsis = i - ellipsis_start > 0 ? i - ellipsis_start : 0;
      bm |= 1u << i;
      em |= 1u << i;
      d->dims[i] = in->dims[i - added_axes];
    } else if (BIT(e_new, i)) {
      stops[i] = 1;
      d->dims[i] = 1;
      ++added_axes;
    } else if (i >= n + expanded) {
      bm |= 1u << i;
      em |= 1u << i;
      d->dims[i] = in->dims[i - added_axes];
    } else {
      const int32_t oi = i - added_ellipsis;
      EQ_ENSURE(oi >= 0 && oi < n, EQ_ERR_SHAPE);
      starts[i] = (int32_t)eq_const_index(begin, oi);
      stops[i] = (int32_t)eq_const_index(end, oi);
      strd[i] = (int32_t)eq_const_index(strides, oi);
      if (BIT(begin_mask, oi)) bm |= 1u << i;
      if (BIT(end_mask, oi)) em |= 1u << i;
      if (BIT(shrink_mask, oi)) sm |= 1u << i;
      d->dims[i] = in->dims[i - added_axes];
    }
  }
  /* Resolve each axis (LiteRT's StartForAxis / EndForAxis) and the output shape it implies. */
  int32_t out_dims[EQ_SLICE_MAX_DIMS], n_out = 0;
  d->ndim = ed;
  for (int32_t i = 0; i < ed; ++i) {
    const int32_t size = d->dims[i], s = strd[i];
    EQ_ENSURE(s != 0 && s != INT32_MIN, EQ_ERR_SHAPE);
    int32_t st = starts[i];
    if (st < 0) st += size;
    st = s > 0 ? clampi(st, 0, size) : clampi(st, -1, size - 1);
    if (BIT(bm, i)) st = s > 0 ? 0 : size - 1;
    int32_t en;
    if (BIT(sm, i)) {
      en = st >= size ? st : st + 1;
    } else {
      en = stops[i];
      if (offset) en += st;
      if (en < 0) en += size;
      en = s > 0 ? clampi(en, 0, size) : clampi(en, -1, size - 1);
      if (BIT(em, i)) en = s > 0 ? size : -1;
    }
    d->start[i] = st;
    d->stop[i] = en;
    d->stride[i] = s;
    if (!BIT(sm, i)) {
      const int64_t span = (int64_t)en - st;
      int64_t len = 0;
      if ((span < 0) == (s < 0)) len = s < 0 ? (span + 1) / s + 1 : (span == 0 ? 0 : (span - 1) / s + 1);
      out_dims[n_out++] = (int32_t)len;
    }
  }
  EQ_ENSURE(n_out == out->ndim, EQ_ERR_SHAPE);
  for (int32_t k = 0; k < n_out; ++k) EQ_ENSURE(out_dims[k] == out->dims[k], EQ_ERR_SHAPE);
  node->data = d;
  return EQ_OK;
}

static eq_status strided_slice_eval(eq_ctx *ctx, eq_node *node) {
  (void)ctx;
  const slice_data *d = node->data;
  eq_strided_slice(d->ndim, d->dims, d->start, d->stop, d->stride, EQ_IS_INT16(node->out[0]) ? 2 : 1,
                   node->in[0]->data, node->out[0]->data);
  return EQ_OK;
}

const eq_op_impl eq_op_strided_slice = {"STRIDED_SLICE", strided_slice_prepare, strided_slice_eval};
