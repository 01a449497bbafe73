/* MEAN, int8 or int16: int32 sum over the reduced axes (wrapping as LiteRT's int32 accumulator does), then
 * one requantization that folds in 1/count the way LiteRT's reference does (the multiplier is pre-scaled
 * by 2^floor(log2 count) / count). Only the element load and the output clamp depend on the type. */
#include "eq_kernels_elementwise.h"
#include "fixedpoint.h"

static int floor_log2_u64(uint64_t v) {
  int r = -1;
  while (v) {
    v >>= 1;
    ++r;
  }
  return r;
}

void eq_mean(const eq_mean_params *p, int32_t ndim, const int32_t *dims, const uint8_t *reduced,
             size_t elem_bytes, const void *in, void *out) {
  int32_t kd[EQ_BCAST_MAX_DIMS], ks[EQ_BCAST_MAX_DIMS], rd[EQ_BCAST_MAX_DIMS], rs[EQ_BCAST_MAX_DIMS];
  int32_t nk = 0, nr = 0, stride = 1;
  int64_t count = 1, n_out = 1;
  int32_t st[EQ_BCAST_MAX_DIMS];
  for (int32_t k = ndim - 1; k >= 0; --k) {
    st[k] = stride;
    stride *= dims[k];
  }
  for (int32_t k = 0; k < ndim; ++k) {
    if (reduced[k]) {
      rd[nr] = dims[k];
      rs[nr++] = st[k];
      count *= dims[k];
    } else {
      kd[nk] = dims[k];
      ks[nk++] = st[k];
      n_out *= dims[k];
    }
  }
  if (count == 0 || n_out == 0) return;
  int shift = floor_log2_u64((uint64_t)count);
  if (shift > 32) shift = 32;
  if (shift > 31 + p->shift) shift = 31 + p->shift;
  const int32_t mult = (int32_t)(((int64_t)p->multiplier * ((int64_t)1 << shift)) / count);
  const int32_t out_shift = p->shift - shift;
  const uint32_t zp_sum = (uint32_t)((int64_t)p->in_zp * count);
  const int s16 = elem_bytes == 2;

  int32_t ki[EQ_BCAST_MAX_DIMS] = {0}, ri[EQ_BCAST_MAX_DIMS];
  size_t kbase = 0;
  for (int64_t o = 0; o < n_out; ++o) {
    uint32_t sum = 0;
    size_t rbase = 0;
    for (int32_t j = 0; j < nr; ++j) ri[j] = 0;
    for (int64_t c = 0; c < count; ++c) {
      const size_t i = kbase + rbase;
      sum += (uint32_t)(s16 ? (int32_t)((const int16_t *)in)[i] : (int32_t)((const int8_t *)in)[i]);
      for (int32_t j = nr - 1; j >= 0; --j) {
        rbase += (size_t)rs[j];
        if (++ri[j] < rd[j]) break;
        rbase -= (size_t)rs[j] * (size_t)rd[j];
        ri[j] = 0;
      }
    }
    const int32_t r = eq_mul_by_quantized_mul((int32_t)(sum - zp_sum), mult, out_shift) + p->out_zp;
    if (s16) ((int16_t *)out)[o] = (int16_t)eq_clamp32(r, INT16_MIN, INT16_MAX);
    else ((int8_t *)out)[o] = (int8_t)eq_clamp32(r, -128, 127);
    for (int32_t j = nk - 1; j >= 0; --j) {
      kbase += (size_t)ks[j];
      if (++ki[j] < kd[j]) break;
      kbase -= (size_t)ks[j] * (size_t)kd[j];
      ki[j] = 0;
    }
  }
}
