/* The loops of the x86 DEPTHWISE_CONV_2D kernels with int8 activations: depthwise_conv2d_s8.c and
 * depthwise_conv2d_s8_vnni.c (int8 weights), depthwise_conv2d_s4.c and depthwise_conv2d_s4_vnni.c (packed
 * INT4 weights read in place). They differ only in how a tap's weights reach the int32 lanes, so each kernel
 * passes its load_tap; it is a constant at the call and inlines.
 *
 * int32 lanes, 8 (AVX2) or 16 (AVX-512) output channels a vector. For a block of channels the widened taps
 * stay on the stack (L1) while every output pixel is visited. Interior pixels fold the input offset into the
 * bias (bias + offset * sum(w)); border pixels add it per valid tap, so skipped padding taps contribute
 * nothing, as in the reference. A depth multiplier > 1 spreads each input channel over its outputs with one
 * lane permute. On AVX-512, narrow layers put several output pixels in one vector. */
#ifndef EDGEQ_X86_DEPTHWISE_S8_LOOP_H
#define EDGEQ_X86_DEPTHWISE_S8_LOOP_H

#include <string.h>

#include "x86_common.h"

#define EQ_DW_S8_MAX_TAPS 64

/* What the vector loops run; the kernels hand anything else to their reference kernel. */
static inline int eq_dw_s8_supported(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                     const eq_shape4 *os) {
  return p->depth_multiplier >= 1 && os->c == is->c * p->depth_multiplier && fs->c == os->c &&
         fs->h * fs->w <= EQ_DW_S8_MAX_TAPS && p->act_min >= -128 && p->act_max <= 127 &&
         eq_offset_fits_s8_zero_point(p->input_offset);
}

/* A tap's weights: channels [first, first + n) of the filter flattened as [taps][channels], as int32 lanes
 * (n at most the lane count, zeros past n), reading nothing past those weights. */
typedef __m256i (*eq_dw256_load_tap)(const void *filter, int64_t first, int32_t n);
typedef __m512i (*eq_dw512_load_tap)(const void *filter, int64_t first, int32_t n);

/* ---- AVX2: 8 channels a vector */

typedef struct {
  const eq_conv_params *p;
  const eq_shape4 *is, *fs, *os;
  const int8_t *in;
  int32_t c0;   /* first output channel of the block */
  int32_t ic0;  /* first input channel it reads */
  int32_t n_in; /* input channels of the block */
  __m256i idx;  /* lane -> input channel - ic0 (depth multiplier > 1) */
  int spread;
} eq_dw256_block;

/* n int8 values (at most 8) in the low bytes, zeros past n; nothing read past src + n. */
EQ_INLINE EQ_AVX2 __m128i eq_dw256_load8(const int8_t *src, int32_t n) {
  if (n >= 8) return _mm_loadl_epi64((const __m128i *)src);
  int8_t tmp[8] = {0};
  memcpy(tmp, src, (size_t)n);
  return _mm_loadl_epi64((const __m128i *)tmp);
}

EQ_INLINE EQ_AVX2 __m256i eq_dw256_input(const eq_dw256_block *bk, const int8_t *px) {
  __m256i x = _mm256_cvtepi8_epi32(eq_dw256_load8(px + bk->ic0, bk->n_in));
  return bk->spread ? _mm256_permutevar8x32_epi32(x, bk->idx) : x;
}

/* Every output pixel of one block of nc channels; w: its taps. */
EQ_INLINE EQ_AVX2 void eq_dw256_pixels(const eq_dw256_block *bk, const __m256i *w, __m256i bias_v, __m256i corr,
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
              acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(eq_dw256_input(bk, px), w[ky * fs->w + kx]));
          }
        } else {
          acc = bias_v;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= is->h) continue;
            for (int32_t kx = 0; kx < fs->w; kx++) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              if (ix < 0 || ix >= is->w) continue;
              __m256i x = _mm256_add_epi32(eq_dw256_input(bk, img + (size_t)iy * row + (size_t)ix * is->c), off);
              acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(x, w[ky * fs->w + kx]));
            }
          }
        }
        eq256_store_n(o, eq256_finish(acc, *qq, out_off, lo, hi), nc);
      }
    }
  }
}

/* The whole layer, eq_dw_s8_supported's shapes only. */
EQ_INLINE EQ_AVX2 void eq_dw256_run(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                    const int8_t *in, const eq_shape4 *fs, const void *filter, const int32_t *bias,
                                    const eq_shape4 *os, int8_t *out, eq_dw256_load_tap load_tap) {
  const int32_t C = os->c, dm = p->depth_multiplier, taps = fs->h * fs->w;
  __m256i w[EQ_DW_S8_MAX_TAPS];
  for (int32_t c0 = 0; c0 < C; c0 += 8) {
    const int32_t nc = C - c0 < 8 ? C - c0 : 8;
    eq_dw256_block bk = {p, is, fs, os, in, c0, c0 / dm, 0, _mm256_setzero_si256(), dm > 1};
    bk.n_in = (c0 + nc - 1) / dm - bk.ic0 + 1;
    if (dm > 1) {
      int32_t lanes[8];
      for (int l = 0; l < 8; l++) lanes[l] = l < nc ? (c0 + l) / dm - bk.ic0 : 0;
      bk.idx = _mm256_loadu_si256((const __m256i *)lanes);
    }
    __m256i wsum = _mm256_setzero_si256();
    for (int32_t t = 0; t < taps; t++) {
      w[t] = load_tap(filter, (int64_t)t * C + c0, nc);
      wsum = _mm256_add_epi32(wsum, w[t]);
    }
    int32_t bias_lanes[8] = {0};
    for (int32_t l = 0; l < nc && bias; l++) bias_lanes[l] = bias[c0 + l];
    __m256i bias_v = _mm256_loadu_si256((const __m256i *)bias_lanes);
    __m256i corr = _mm256_add_epi32(bias_v, _mm256_mullo_epi32(_mm256_set1_epi32(p->input_offset), wsum));
    eq256_quant qq = nc == 8 ? eq256_load_quant(q->multiplier + c0, q->shift + c0)
                             : eq256_load_quant_n(q->multiplier + c0, q->shift + c0, nc);
    eq_dw256_pixels(&bk, w, bias_v, corr, &qq, nc, out);
  }
}

/* ---- AVX-512: 16 channels a vector */

typedef struct {
  const eq_conv_params *p;
  const eq_shape4 *is, *fs, *os;
  const int8_t *in;
  int32_t c0;        /* first output channel of the block */
  int32_t ic0;       /* first input channel it reads */
  __mmask16 in_mask; /* input channels of the block */
  __m512i idx;       /* lane -> input channel - ic0 (depth multiplier > 1) */
  int spread;
} eq_dw512_block;

EQ_INLINE EQ_AVX512 __m512i eq_dw512_input(const eq_dw512_block *bk, const int8_t *px) {
  __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(bk->in_mask, px + bk->ic0));
  return bk->spread ? _mm512_permutexvar_epi32(bk->idx, x) : x;
}

/* Every output pixel of one block of channels (out_mask's); w: its taps. */
EQ_INLINE EQ_AVX512 void eq_dw512_pixels(const eq_dw512_block *bk, const __m512i *w, __m512i bias_v, __m512i corr,
                                         const eq512_quant *qq, __mmask16 out_mask, int8_t *out) {
  const eq_conv_params *p = bk->p;
  const eq_shape4 *is = bk->is, *fs = bk->fs, *os = bk->os;
  const __m512i off = _mm512_set1_epi32(p->input_offset);
  const __m512i out_off = _mm512_set1_epi32(p->output_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
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
        __m512i acc;
        if (rows_inside && ix0 >= 0 && ix0 + span_w < is->w) {
          acc = corr;
          const int8_t *px0 = img + (size_t)iy0 * row + (size_t)ix0 * is->c;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int8_t *px = px0 + (size_t)ky * p->dilation_h * row;
            for (int32_t kx = 0; kx < fs->w; kx++, px += (size_t)p->dilation_w * is->c)
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(eq_dw512_input(bk, px), w[ky * fs->w + kx]));
          }
        } else {
          acc = bias_v;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= is->h) continue;
            for (int32_t kx = 0; kx < fs->w; kx++) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              if (ix < 0 || ix >= is->w) continue;
              __m512i x = _mm512_add_epi32(eq_dw512_input(bk, img + (size_t)iy * row + (size_t)ix * is->c), off);
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(x, w[ky * fs->w + kx]));
            }
          }
        }
        eq512_finish_store(o, acc, qq, out_off, lo, hi, out_mask);
      }
    }
  }
}

/* Narrow layers (c = 1, 2, 4 or 8 channels, multiplier 1, horizontal stride 1): 16 / c neighbouring
 * output pixels share one vector, since their input taps are 16 contiguous bytes. Pixels near the border
 * (or a row's last few) take one pixel per vector with the reference's valid-tap walk. */
static inline int eq_dw512_narrow(const eq_conv_params *p, const eq_shape4 *is) {
  return p->depth_multiplier == 1 && p->stride_w == 1 && (is->c == 1 || is->c == 2 || is->c == 4 || is->c == 8);
}

EQ_INLINE EQ_AVX512 void eq_dw512_run_narrow(const eq_conv_params *p, const eq_channel_quant *q,
                                             const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                                             const void *filter, const int32_t *bias, const eq_shape4 *os,
                                             int8_t *out, eq_dw512_load_tap load_tap) {
  const int32_t C = is->c, G = 16 / C, taps = fs->h * fs->w;
  int32_t lane_ch[16], bias_l[16] = {0}, mult_l[16], shift_l[16];
  for (int l = 0; l < 16; l++) {
    lane_ch[l] = l % C;
    if (bias) bias_l[l] = bias[l % C];
    mult_l[l] = q->multiplier[l % C];
    shift_l[l] = q->shift[l % C];
  }
  const __m512i ch = _mm512_loadu_si512(lane_ch);
  __m512i w[EQ_DW_S8_MAX_TAPS], wsum = _mm512_setzero_si512();
  for (int32_t t = 0; t < taps; t++) { /* lane l holds channel l % C */
    w[t] = _mm512_permutexvar_epi32(ch, load_tap(filter, (int64_t)t * C, C));
    wsum = _mm512_add_epi32(wsum, w[t]);
  }
  const __m512i off = _mm512_set1_epi32(p->input_offset);
  const __m512i bias_v = _mm512_loadu_si512(bias_l);
  const __m512i corr = _mm512_add_epi32(bias_v, _mm512_mullo_epi32(off, wsum));
  const eq512_quant qq = eq512_load_quant(mult_l, shift_l, 16);
  const __m512i out_off = _mm512_set1_epi32(p->output_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  const __mmask16 one_px = eq512_mask(C);
  const int32_t span_h = (fs->h - 1) * p->dilation_h, span_w = (fs->w - 1) * p->dilation_w;
  const size_t row = (size_t)is->w * C;
  for (int32_t b = 0; b < os->n; b++) {
    const int8_t *img = in + (size_t)b * is->h * row;
    for (int32_t oy = 0; oy < os->h; oy++) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int rows_inside = iy0 >= 0 && iy0 + span_h < is->h;
      int8_t *orow = out + (((size_t)b * os->h + oy) * os->w) * C;
      for (int32_t ox = 0; ox < os->w;) {
        const int32_t ix0 = ox - p->pad_w;
        if (rows_inside && ix0 >= 0 && ix0 + G - 1 + span_w < is->w && ox + G <= os->w) {
          __m512i acc = corr;
          const int8_t *px0 = img + (size_t)iy0 * row + (size_t)ix0 * C;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int8_t *px = px0 + (size_t)ky * p->dilation_h * row;
            for (int32_t kx = 0; kx < fs->w; kx++, px += (size_t)p->dilation_w * C)
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)px)),
                                                             w[ky * fs->w + kx]));
          }
          eq512_finish_store(orow + (size_t)ox * C, acc, &qq, out_off, lo, hi, 0xFFFF);
          ox += G;
          continue;
        }
        __m512i acc = bias_v; /* one pixel, valid taps only */
        for (int32_t ky = 0; ky < fs->h; ky++) {
          const int32_t iy = iy0 + ky * p->dilation_h;
          if (iy < 0 || iy >= is->h) continue;
          for (int32_t kx = 0; kx < fs->w; kx++) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (ix < 0 || ix >= is->w) continue;
            __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(one_px, img + (size_t)iy * row + (size_t)ix * C));
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_add_epi32(x, off), w[ky * fs->w + kx]));
          }
        }
        eq512_finish_store(orow + (size_t)ox * C, acc, &qq, out_off, lo, hi, one_px);
        ox++;
      }
    }
  }
}

/* The whole layer, eq_dw_s8_supported's shapes only (narrow ones included). */
EQ_INLINE EQ_AVX512 void eq_dw512_run(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                      const int8_t *in, const eq_shape4 *fs, const void *filter, const int32_t *bias,
                                      const eq_shape4 *os, int8_t *out, eq_dw512_load_tap load_tap) {
  if (eq_dw512_narrow(p, is)) {
    eq_dw512_run_narrow(p, q, is, in, fs, filter, bias, os, out, load_tap);
    return;
  }
  const int32_t C = os->c, dm = p->depth_multiplier, taps = fs->h * fs->w;
  __m512i w[EQ_DW_S8_MAX_TAPS];
  for (int32_t c0 = 0; c0 < C; c0 += 16) {
    const int32_t nc = C - c0 < 16 ? C - c0 : 16;
    const __mmask16 out_mask = eq512_mask(nc);
    eq_dw512_block bk = {p, is, fs, os, in, c0, c0 / dm, 0, _mm512_setzero_si512(), dm > 1};
    bk.in_mask = eq512_mask((c0 + nc - 1) / dm - bk.ic0 + 1);
    if (dm > 1) {
      int32_t lanes[16];
      for (int l = 0; l < 16; l++) lanes[l] = l < nc ? (c0 + l) / dm - bk.ic0 : 0;
      bk.idx = _mm512_loadu_si512(lanes);
    }
    __m512i wsum = _mm512_setzero_si512();
    for (int32_t t = 0; t < taps; t++) {
      w[t] = load_tap(filter, (int64_t)t * C + c0, nc);
      wsum = _mm512_add_epi32(wsum, w[t]);
    }
    __m512i bias_v = bias ? _mm512_maskz_loadu_epi32(out_mask, bias + c0) : _mm512_setzero_si512();
    __m512i corr = _mm512_add_epi32(bias_v, _mm512_mullo_epi32(_mm512_set1_epi32(p->input_offset), wsum));
    eq512_quant qq = eq512_load_quant(q->multiplier + c0, q->shift + c0, nc);
    eq_dw512_pixels(&bk, w, bias_v, corr, &qq, out_mask, out);
  }
}

#endif
