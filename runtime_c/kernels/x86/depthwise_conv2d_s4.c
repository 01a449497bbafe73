/* DEPTHWISE_CONV_2D with packed INT4 weights for AVX2, reading the model's nibbles in place (no prepare
 * step, no copy in the arena): depthwise_conv2d_s8.c's scheme. For a block of 8 output channels each
 * tap's 8 nibbles (any nibble phase: 5 bytes shifted by 4 when the tap's first channel sits in a high
 * nibble) are spread to int32 lanes by one variable shift and sign-extended as (v ^ 8) - 8; those taps
 * stay on the stack (L1) while every output pixel is visited. Interior pixels fold the input offset into
 * the bias (bias + offset * sum(w)); border pixels add it per valid tap, so skipped padding taps add
 * nothing, as in the reference. A depth multiplier > 1 spreads each input channel over its outputs with
 * one lane permute. Offsets the int32 lanes would need the reference for are handed to it as there. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define MAX_TAPS 64

static int supported(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  return p->depth_multiplier >= 1 && os->c == is->c * p->depth_multiplier && fs->c == os->c &&
         fs->h * fs->w <= MAX_TAPS && p->act_min >= -128 && p->act_max <= 127 &&
         eq_offset_fits_s8_zero_point(p->input_offset);
}

typedef struct {
  const eq_conv_params *p;
  const eq_shape4 *is, *fs, *os;
  const int8_t *in;
  int32_t c0;  /* first output channel of the block */
  int32_t ic0; /* first input channel it reads */
  int32_t n_in; /* input channels of the block */
  __m256i idx; /* lane -> input channel - ic0 (depth multiplier > 1) */
  int spread;
} dw_block;

EQ_INLINE EQ_AVX2 __m128i load8(const int8_t *src, int32_t n) {
  if (n >= 8) return _mm_loadl_epi64((const __m128i *)src);
  int8_t tmp[8] = {0};
  memcpy(tmp, src, (size_t)n);
  return _mm_loadl_epi64((const __m128i *)tmp);
}

/* Nibbles [i, i + n) of the filter, n <= 8, as 8 int32 lanes (0 past n); reads only their bytes. */
EQ_INLINE EQ_AVX2 __m256i load_s4x8(const uint8_t *w, int64_t i, int32_t n) {
  const int phase = (int)(i & 1);
  uint64_t v = 0;
  memcpy(&v, w + (i >> 1), (size_t)((phase + n + 1) >> 1)); /* little-endian: nibble k at bits 4k */
  v >>= 4 * phase;
  const uint32_t lanes = (uint32_t)(n >= 8 ? v : v & ((1ull << (4 * n)) - 1));
  const __m256i x = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int32_t)lanes),
                                                       _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                     _mm256_set1_epi32(0x0F));
  const __m256i eight = _mm256_set1_epi32(8);
  const __m256i s = _mm256_sub_epi32(_mm256_xor_si256(x, eight), eight);
  /* lanes past n hold nibble 0 -> 0 already; (0 ^ 8) - 8 = 0 */
  return s;
}

EQ_INLINE EQ_AVX2 __m256i load_input(const dw_block *bk, const int8_t *px) {
  __m256i x = _mm256_cvtepi8_epi32(load8(px + bk->ic0, bk->n_in));
  return bk->spread ? _mm256_permutevar8x32_epi32(x, bk->idx) : x;
}

static EQ_AVX2 void depthwise_block(const dw_block *bk, const __m256i *w, __m256i bias_v, __m256i corr,
                                    const eq256_quant *qq, int32_t nc, int8_t *out) {
  const eq_conv_params *p = bk->p;
  const eq_shape4 *is = bk->is, *fs = bk->fs, *os = bk->os;
  const __m256i off = _mm256_set1_epi32(p->input_offset);
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const int32_t span_h = (fs->h - 1) * p->dilation_h, span_w = (fs->w - 1) * p->dilation_w;
  const size_t row = (size_t)is->w * is->c;
  for (int32_t b = 0; b < os->n; b++) {
    const int8_t *img = bk->in + (size_t)b * is->h * row;
    for (int32_t oy = 0; oy < os->h; oy++) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int rows_inside = iy0 >= 0 && iy0 + span_h < is->h;
      int8_t *o = out + (((size_t)b * os->h + oy) * os->w) * os->c + bk->c0;
      for (int32_t ox = 0; ox < os->w; ox++, o += os->c) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        __m256i acc;
        if (rows_inside && ix0 >= 0 && ix0 + span_w < is->w) {
          acc = corr;
          const int8_t *px0 = img + (size_t)iy0 * row + (size_t)ix0 * is->c;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int8_t *px = px0 + (size_t)ky * p->dilation_h * row;
            for (int32_t kx = 0; kx < fs->w; kx++, px += (size_t)p->dilation_w * is->c)
              acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(load_input(bk, px), w[ky * fs->w + kx]));
          }
        } else {
          acc = bias_v;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= is->h) continue;
            for (int32_t kx = 0; kx < fs->w; kx++) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              if (ix < 0 || ix >= is->w) continue;
              __m256i x = _mm256_add_epi32(load_input(bk, img + (size_t)iy * row + (size_t)ix * is->c), off);
              acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(x, w[ky * fs->w + kx]));
            }
          }
        }
        eq256_store_n(o, eq256_finish(acc, *qq, out_off, lo, hi), nc);
      }
    }
  }
}

EQ_AVX2 void eq_depthwise_conv2d_s4_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                         const int8_t *in, const eq_shape4 *fs, const uint8_t *filter,
                                         const int32_t *bias, const eq_shape4 *os, int8_t *out) {
  if (!supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const int32_t C = os->c, dm = p->depth_multiplier, taps = fs->h * fs->w;
  __m256i w[MAX_TAPS];
  for (int32_t c0 = 0; c0 < C; c0 += 8) {
    const int32_t nc = C - c0 < 8 ? C - c0 : 8;
    dw_block bk = {p, is, fs, os, in, c0, c0 / dm, 0, _mm256_setzero_si256(), dm > 1};
    bk.n_in = (c0 + nc - 1) / dm - bk.ic0 + 1;
    if (dm > 1) {
      int32_t lanes[8];
      for (int l = 0; l < 8; l++) lanes[l] = l < nc ? (c0 + l) / dm - bk.ic0 : 0;
      bk.idx = _mm256_loadu_si256((const __m256i *)lanes);
    }
    __m256i wsum = _mm256_setzero_si256();
    for (int32_t t = 0; t < taps; t++) {
      w[t] = load_s4x8(filter, (int64_t)t * C + c0, nc);
      wsum = _mm256_add_epi32(wsum, w[t]);
    }
    int32_t bias_lanes[8] = {0};
    for (int32_t l = 0; l < nc && bias; l++) bias_lanes[l] = bias[c0 + l];
    __m256i bias_v = _mm256_loadu_si256((const __m256i *)bias_lanes);
    __m256i corr = _mm256_add_epi32(bias_v, _mm256_mullo_epi32(_mm256_set1_epi32(p->input_offset), wsum));
    eq256_quant qq = nc == 8 ? eq256_load_quant(q->multiplier + c0, q->shift + c0)
                             : eq256_load_quant_n(q->multiplier + c0, q->shift + c0, nc);
    depthwise_block(&bk, w, bias_v, corr, &qq, nc, out);
  }
}
