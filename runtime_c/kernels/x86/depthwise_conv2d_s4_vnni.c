/* DEPTHWISE_CONV_2D with packed INT4 weights for AVX-512, reading the model's nibbles in place (no
 * prepare step, nothing in the arena): depthwise_conv2d_s8_vnni.c's scheme with each tap's 16 nibbles
 * (any nibble phase) spread to int32 lanes by one variable shift and sign-extended as (v ^ 8) - 8. For a
 * block of channels the decoded taps stay on the stack (L1) while every output pixel is visited. Interior
 * pixels fold the input offset into the bias (bias + offset * sum(w)); border pixels add it per valid tap,
 * so skipped padding taps contribute nothing, as in the reference. A depth multiplier > 1 spreads each
 * input channel over its outputs with one lane permute; narrow layers share a vector between pixels. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define MAX_TAPS 64

static int supported(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  return p->depth_multiplier >= 1 && os->c == is->c * p->depth_multiplier && fs->c == os->c &&
         fs->h * fs->w <= MAX_TAPS && p->act_min >= -128 && p->act_max <= 127 &&
         eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Nibbles [i, i + n) of the filter, n <= 16, as 16 int32 lanes (0 past n); reads only their bytes. */
EQ_INLINE EQ_AVX512 __m512i load_s4x16(const uint8_t *w, int64_t i, int32_t n) {
  const int phase = (int)(i & 1);
  uint8_t b[16] = {0};
  memcpy(b, w + (i >> 1), (size_t)((phase + n + 1) >> 1)); /* little-endian: nibble k at bits 4k */
  uint64_t lo, hi;
  memcpy(&lo, b, 8);
  memcpy(&hi, b + 8, 8);
  uint64_t v = phase ? (lo >> 4) | (hi << 60) : lo;
  if (n < 16) v &= (1ull << (4 * n)) - 1;
  const __m512i halves = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int32_t)(uint32_t)v)),
                                            _mm256_set1_epi32((int32_t)(uint32_t)(v >> 32)), 1);
  const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  const __m512i x = _mm512_and_si512(_mm512_srlv_epi32(halves, shifts), _mm512_set1_epi32(0x0F));
  const __m512i eight = _mm512_set1_epi32(8);
  return _mm512_sub_epi32(_mm512_xor_si512(x, eight), eight);
}

typedef struct {
  const eq_conv_params *p;
  const eq_shape4 *is, *fs, *os;
  const int8_t *in;
  int32_t c0;          /* first output channel of the block */
  int32_t ic0;         /* first input channel it reads */
  __mmask16 in_mask;   /* input channels of the block */
  __m512i idx;         /* lane -> input channel - ic0 (depth multiplier > 1) */
  int spread;
} dw_block;

EQ_INLINE EQ_AVX512 __m512i load_input(const dw_block *bk, const int8_t *px) {
  __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(bk->in_mask, px + bk->ic0));
  return bk->spread ? _mm512_permutexvar_epi32(bk->idx, x) : x;
}

static EQ_AVX512 void depthwise_block(const dw_block *bk, const __m512i *w, __m512i bias_v, __m512i corr,
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
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(load_input(bk, px), w[ky * fs->w + kx]));
          }
        } else {
          acc = bias_v;
          for (int32_t ky = 0; ky < fs->h; ky++) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= is->h) continue;
            for (int32_t kx = 0; kx < fs->w; kx++) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              if (ix < 0 || ix >= is->w) continue;
              __m512i x = _mm512_add_epi32(load_input(bk, img + (size_t)iy * row + (size_t)ix * is->c), off);
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
static int narrow(const eq_conv_params *p, const eq_shape4 *is) {
  return p->depth_multiplier == 1 && p->stride_w == 1 && (is->c == 1 || is->c == 2 || is->c == 4 || is->c == 8);
}

static EQ_AVX512 void depthwise_narrow(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                       const int8_t *in, const eq_shape4 *fs, const uint8_t *filter,
                                       const int32_t *bias, const eq_shape4 *os, int8_t *out) {
  const int32_t C = is->c, G = 16 / C, taps = fs->h * fs->w;
  int32_t lane_ch[16], bias_l[16] = {0}, mult_l[16], shift_l[16];
  for (int l = 0; l < 16; l++) {
    lane_ch[l] = l % C;
    if (bias) bias_l[l] = bias[l % C];
    mult_l[l] = q->multiplier[l % C];
    shift_l[l] = q->shift[l % C];
  }
  const __m512i ch = _mm512_loadu_si512(lane_ch);
  __m512i w[MAX_TAPS], wsum = _mm512_setzero_si512();
  for (int32_t t = 0; t < taps; t++) { /* lane l holds channel l % C */
    w[t] = _mm512_permutexvar_epi32(ch, load_s4x16(filter, (int64_t)t * C, C));
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

EQ_AVX512 void eq_depthwise_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q,
                                                 const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                                                 const uint8_t *filter, const int32_t *bias, const eq_shape4 *os,
                                                 int8_t *out) {
  if (!supported(p, is, fs, os)) {
    eq_depthwise_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  if (narrow(p, is)) {
    depthwise_narrow(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const int32_t C = os->c, dm = p->depth_multiplier, taps = fs->h * fs->w;
  __m512i w[MAX_TAPS];
  for (int32_t c0 = 0; c0 < C; c0 += 16) {
    const int32_t nc = C - c0 < 16 ? C - c0 : 16;
    const __mmask16 out_mask = eq512_mask(nc);
    dw_block bk = {p, is, fs, os, in, c0, c0 / dm, 0, _mm512_setzero_si512(), dm > 1};
    bk.in_mask = eq512_mask((c0 + nc - 1) / dm - bk.ic0 + 1);
    if (dm > 1) {
      int32_t lanes[16];
      for (int l = 0; l < 16; l++) lanes[l] = l < nc ? (c0 + l) / dm - bk.ic0 : 0;
      bk.idx = _mm512_loadu_si512(lanes);
    }
    __m512i wsum = _mm512_setzero_si512();
    for (int32_t t = 0; t < taps; t++) {
      w[t] = load_s4x16(filter, (int64_t)t * C + c0, nc);
      wsum = _mm512_add_epi32(wsum, w[t]);
    }
    __m512i bias_v = bias ? _mm512_maskz_loadu_epi32(out_mask, bias + c0) : _mm512_setzero_si512();
    __m512i corr = _mm512_add_epi32(bias_v, _mm512_mullo_epi32(_mm512_set1_epi32(p->input_offset), wsum));
    eq512_quant qq = eq512_load_quant(q->multiplier + c0, q->shift + c0, nc);
    depthwise_block(&bk, w, bias_v, corr, &qq, out_mask, out);
  }
}
