/* Exact integer dot products shared by the AVX2 16x8 and hybrid kernels (conv2d_s16.c,
 * fully_connected_s16.c, fully_connected_hybrid.c, depthwise_conv2d_s16.c, depthwise_conv2d_hybrid.c).
 *
 * Operands are int16 lanes multiplied pairwise by vpmaddwd into int32 lanes: activations as they are
 * (16x8) or int8 minus a zero point (hybrid, |x - zp| <= 255), weights int8 sign-extended. A product is
 * at most 32768 * 128 = 2^22 in magnitude, so an int32 lane stays exact for 511 products; row dot
 * products are summed in chunks of EQ_DOT_CHUNK steps of 16 (496 products per result, 496 * 2^22 < 2^31)
 * and each chunk's total is widened into int64. The results are therefore the exact sums the reference
 * kernels form in int64 (and, reduced mod 2^32, their wrapping int32 ones), for any depth. */
#ifndef EDGEQ_X86_DOT_S16X8_H
#define EDGEQ_X86_DOT_S16X8_H

#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define EQ_DOT_CHUNK 31

/* The activation vectors of a dot block: int16 (x8 == 0) or int8 less zp (x8 == 1). padded: each x is
 * zero-padded to a multiple of 16 elements, so its last partial step is read in place. */
typedef struct {
  const void *x[8];
  int x8, padded;
  int16_t zp;
} eq_dot_src;

EQ_INLINE EQ_AVX2 __m256i eq_dot_load_x(const void *p, int x8, __m256i zp) {
  if (x8) return _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)), zp);
  return _mm256_loadu_si256((const __m256i *)p);
}

EQ_INLINE EQ_AVX2 __m256i eq_dot_load_w(const int8_t *p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* acc[p * R + r] += x[p][k..k+16) . w[r][k..k+16) */
EQ_INLINE EQ_AVX2 void eq_dot_step(__m256i acc[8], const void *const *xp, size_t xoff, int x8, __m256i zp, int P,
                                   const int8_t *const *wp, size_t woff, int R) {
  __m256i xv[8];
#pragma GCC unroll 8
  for (int p = 0; p < P; p++)
    xv[p] = eq_dot_load_x((const uint8_t *)xp[p] + (x8 ? xoff : 2 * xoff), x8, zp);
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    const __m256i wv = eq_dot_load_w(wp[r] + woff);
#pragma GCC unroll 8
    for (int p = 0; p < P; p++) acc[p * R + r] = _mm256_add_epi32(acc[p * R + r], _mm256_madd_epi16(xv[p], wv));
  }
}

/* The sums over k < K of x[p][k] * w[r][k] (x less zp when int8), exactly, for R rows of int8 weights
 * and P activation vectors, R * P == 8 (constants at the call, so the loops unroll), in p-major order
 * (p * R + r): the first 4 to lo[0..3], the last 4 to hi[0..3], as two vector stores. wtail: the rows'
 * last K % 16 weights zero-padded to 16, or NULL (copied here). */
EQ_INLINE EQ_AVX2 void eq_dot8(const eq_dot_src *s, int P, const int8_t *const *w, const int8_t *const *wtail,
                               int R, int32_t K, int64_t *lo, int64_t *hi) {
  const int32_t S16 = K / 16, tail = K % 16, S = S16 + (tail != 0);
  const __m256i zp = _mm256_set1_epi16(s->zp);
  /* The last partial step reads zero-padded copies (no lane reads past a row). */
  int16_t xt16[8][16];
  int8_t xt8[8][16], wt[8][16];
  const void *xtp[8] = {0};
  const int8_t *wtp[8] = {0};
  if (tail) {
#pragma GCC unroll 8
    for (int p = 0; p < P; p++) {
      if (s->padded) {
        xtp[p] = (const uint8_t *)s->x[p] + (s->x8 ? 16u : 32u) * (size_t)S16;
      } else if (s->x8) {
        memset(xt8[p], s->zp, sizeof xt8[p]); /* pads to zp: contributes zero */
        memcpy(xt8[p], (const int8_t *)s->x[p] + 16 * S16, (size_t)tail);
        xtp[p] = xt8[p];
      } else {
        memset(xt16[p], 0, sizeof xt16[p]);
        memcpy(xt16[p], (const int16_t *)s->x[p] + 16 * S16, (size_t)tail * 2);
        xtp[p] = xt16[p];
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      if (wtail) {
        wtp[r] = wtail[r];
      } else {
        memset(wt[r], 0, sizeof wt[r]);
        memcpy(wt[r], w[r] + 16 * S16, (size_t)tail);
        wtp[r] = wt[r];
      }
    }
  }
  __m256i tot_lo = _mm256_setzero_si256(), tot_hi = _mm256_setzero_si256();
  int32_t step = 0;
  while (step < S) {
    const int32_t end = step + EQ_DOT_CHUNK < S ? step + EQ_DOT_CHUNK : S;
    const int32_t end16 = end < S16 ? end : S16;
    __m256i acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_si256();
    for (; step < end16; step++) eq_dot_step(acc, s->x, (size_t)step * 16, s->x8, zp, P, w, (size_t)step * 16, R);
    if (step < end) { /* the tail step */
      eq_dot_step(acc, xtp, 0, s->x8, zp, P, wtp, 0, R);
      step++;
    }
    const __m256i sum = eq256_hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
    tot_lo = _mm256_add_epi64(tot_lo, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(sum)));
    tot_hi = _mm256_add_epi64(tot_hi, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(sum, 1)));
  }
  _mm256_storeu_si256((__m256i *)lo, tot_lo);
  _mm256_storeu_si256((__m256i *)hi, tot_hi);
}

/* ---- Conv as dot products (conv2d_s16.c, conv2d_hybrid.c): each output pixel's receptive field is
 * gathered into a patch zero-padded to a multiple of 16 elements, then every output channel is a dot product
 * of it with the channel's filter row, EQ_DOT_ROWS channels x EQ_DOT_PIXELS pixels a block. */
#define EQ_DOT_PIXELS 2
#define EQ_DOT_ROWS 4

static inline int32_t eq_dot_patch_len(const eq_shape4 *fs) { return EQ_ROUND_UP(fs->h * fs->w * fs->c, 16); }

/* Rows of channel sums are written EQ_DOT_ROWS channels a store, the last ones past the channels: slack. */
static inline int32_t eq_dot_sum_stride(int32_t out_c) { return EQ_ROUND_UP(out_c, EQ_DOT_ROWS) + EQ_DOT_ROWS; }

/* eq_dot8's wtail for n filter rows of K weights: each row's last K % 16 weights zero-padded to 16 bytes
 * (nothing to do when K is a multiple of 16). */
static inline void eq_dot_pad_tails(const int8_t *w, int32_t n, int32_t K, int8_t *tails) {
  const int32_t tail = K % 16;
  if (!tail) return;
  for (int32_t r = 0; r < n; ++r) {
    memset(tails + (size_t)r * 16, 0, 16);
    memcpy(tails + (size_t)r * 16, w + (int64_t)r * K + (K - tail), (size_t)tail);
  }
}

/* The sums of output channels [begin, end) for src's EQ_DOT_PIXELS patches (src->x[1] == src->x[0] when
 * there is one pixel): pixel j's at sums + j * stride + channel. w: [channels][K] filter rows, tails:
 * eq_dot_pad_tails's. A block's channels past end are junk that a later call overwrites, or that lands
 * in the row's slack. */
EQ_INLINE EQ_AVX2 void eq_dot_channels(const eq_dot_src *src, const int8_t *w, const int8_t *tails, int32_t K,
                                       int32_t begin, int32_t end, int64_t *sums, int32_t stride) {
  for (int32_t oc0 = begin; oc0 < end; oc0 += EQ_DOT_ROWS) {
    const int nr = end - oc0 < EQ_DOT_ROWS ? end - oc0 : EQ_DOT_ROWS;
    const int8_t *rows[EQ_DOT_ROWS], *row_tails[EQ_DOT_ROWS];
    for (int r = 0; r < EQ_DOT_ROWS; ++r) {
      const int32_t oc = oc0 + (r < nr ? r : nr - 1);
      rows[r] = w + (int64_t)oc * K;
      row_tails[r] = tails + (size_t)oc * 16;
    }
    eq_dot8(src, EQ_DOT_PIXELS, rows, row_tails, EQ_DOT_ROWS, K, sums + oc0, sums + stride + oc0);
  }
}

/* ---- The 16x8 conv / depthwise requantization (eq_mul_by_quantized_mul_64 with the int64 bias and the
 * activation clamp) on 4 int64 lanes, bit for bit: x = acc + bias clamped to the 48 bits, times the
 * multiplier rounded to 16 bits (x split at bit 16 so both products are 32 x 32 -> 64 bit), plus the
 * rounding bit, arithmetic shift by 15 - shift, then the clamp (inside int32, so saturating first
 * changes nothing). Per-channel constants are laid out once per call: 3 int64 per channel. */
static inline size_t eq_rq48_bytes(int32_t channels) { return (size_t)EQ_ROUND_UP(channels, 4) * 24u; }

typedef struct {
  const int64_t *reduced, *total, *bias; /* each EQ_ROUND_UP(channels, 4) long */
} eq_rq48;

static inline eq_rq48 eq_rq48_setup(const eq_channel_quant *q, const int64_t *bias, int32_t channels, void *buf) {
  const int32_t n = EQ_ROUND_UP(channels, 4);
  int64_t *reduced = buf, *total = reduced + n, *b = total + n;
  for (int32_t c = 0; c < n; ++c) {
    const int32_t m = c < channels ? q->multiplier[c] : 0, sh = c < channels ? q->shift[c] : 0;
    reduced[c] = m < 0x7FFF0000 ? (m + (1 << 15)) >> 16 : 0x7FFF;
    total[c] = 15 - sh;
    b[c] = c < channels && bias ? eq_bias64(bias[c]) : 0;
  }
  eq_rq48 r = {reduced, total, b};
  return r;
}

EQ_INLINE EQ_AVX2 __m256i eq_rq48_x4(__m256i acc, const eq_rq48 *t, int32_t c, __m256i lo, __m256i hi) {
  const __m256i lim_hi = _mm256_set1_epi64x(((int64_t)1 << 47) - 1), lim_lo = _mm256_set1_epi64x(-((int64_t)1 << 47));
  const __m256i one = _mm256_set1_epi64x(1);
  __m256i x = _mm256_add_epi64(acc, _mm256_loadu_si256((const __m256i *)(t->bias + c)));
  x = _mm256_blendv_epi8(x, lim_hi, _mm256_cmpgt_epi64(x, lim_hi));
  x = _mm256_blendv_epi8(x, lim_lo, _mm256_cmpgt_epi64(lim_lo, x));
  const __m256i red = _mm256_loadu_si256((const __m256i *)(t->reduced + c));
  const __m256i total = _mm256_loadu_si256((const __m256i *)(t->total + c));
  /* x = xh * 2^16 + xl: xh = bits 16..47 (signed, in the low 32 bits mul_epi32 reads), xl = bits 0..15 */
  const __m256i ph = _mm256_mul_epi32(_mm256_srli_epi64(x, 16), red);
  const __m256i pl = _mm256_mul_epi32(_mm256_and_si256(x, _mm256_set1_epi64x(0xFFFF)), red);
  __m256i r = _mm256_add_epi64(_mm256_slli_epi64(ph, 16), pl);
  r = _mm256_add_epi64(r, _mm256_sllv_epi64(one, _mm256_sub_epi64(total, one)));
  r = eq256_sra64(r, total);
  r = _mm256_blendv_epi8(r, hi, _mm256_cmpgt_epi64(r, hi));
  return _mm256_blendv_epi8(r, lo, _mm256_cmpgt_epi64(lo, r));
}

/* out[c] for c < n from int64 (acc64) or int32 (acc_i32) channel sums. */
EQ_INLINE EQ_AVX2 void eq_rq48_row(const int64_t *acc64, const int32_t *acc_i32, const eq_rq48 *t,
                                   const eq_channel_quant *q, int32_t n, int32_t act_min, int32_t act_max,
                                   int16_t *out) {
  const __m256i lo = _mm256_set1_epi64x(act_min), hi = _mm256_set1_epi64x(act_max);
  const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  int32_t c = 0;
  for (; c + 4 <= n; c += 4) {
    const __m256i a = acc64 ? _mm256_loadu_si256((const __m256i *)(acc64 + c))
                            : _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc_i32 + c)));
    const __m256i v = _mm256_permutevar8x32_epi32(eq_rq48_x4(a, t, c, lo, hi), pick);
    _mm_storel_epi64((__m128i *)(out + c), _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_castsi256_si128(v)));
  }
  for (; c < n; ++c) {
    const int64_t x = (acc64 ? acc64[c] : acc_i32[c]) + t->bias[c];
    const int32_t v = eq_mul_by_quantized_mul_64(x, q->multiplier[c], q->shift[c]);
    out[c] = (int16_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
  }
}

/* ---- depthwise: 16 channels a vector, taps taken in pairs so one vpmaddwd adds two taps per channel.
 * Weights are interleaved once per call: for tap pair j and channel block cb, two vectors holding
 * (w[2j][c], w[2j+1][c]) for channels {0-3, 8-11} and {4-7, 12-15} of the block (vpunpck*wd's order);
 * an odd last tap is paired with zero weights, channels past the end are zero. */

/* Bytes of the interleaved weights for taps taps and c channels (32-byte aligned start not required). */
static inline size_t eq_dw_weights_bytes(int32_t taps, int32_t c) {
  return (size_t)((taps + 1) / 2) * (size_t)((c + 15) / 16) * 64u;
}

EQ_INLINE EQ_AVX2 void eq_dw_interleave(const int8_t *filter, int32_t taps, int32_t c, __m256i *wv) {
  const int32_t blocks = (c + 15) / 16, pairs = (taps + 1) / 2;
  for (int32_t j = 0; j < pairs; j++)
    for (int32_t cb = 0; cb < blocks; cb++) {
      const int32_t c0 = cb * 16, n = c - c0 < 16 ? c - c0 : 16;
      int8_t a[16] = {0}, b[16] = {0};
      memcpy(a, filter + (size_t)(2 * j) * c + c0, (size_t)n);
      if (2 * j + 1 < taps) memcpy(b, filter + (size_t)(2 * j + 1) * c + c0, (size_t)n);
      const __m256i wa = eq_dot_load_w(a), wb = eq_dot_load_w(b);
      wv[((size_t)j * blocks + cb) * 2] = _mm256_unpacklo_epi16(wa, wb);
      wv[((size_t)j * blocks + cb) * 2 + 1] = _mm256_unpackhi_epi16(wa, wb);
    }
}

/* Channel sums of one pixel's 16-channel block: acc[c] = sum over taps t of x[t][c0 + c] * w[t][c0 + c].
 * xp[t] is tap t's pixel (taps padded to even with a row that contributes zero), element offset c0; wv
 * points at the block's first interleaved pair, pair_stride vectors apart. int32 lanes: exact while
 * taps <= 511 (callers check). */
EQ_INLINE EQ_AVX2 void eq_dw_block(const void *const *xp, size_t c0, int32_t taps, int x8, __m256i zp,
                                   const __m256i *wv, size_t pair_stride, int32_t acc[16]) {
  const size_t off = x8 ? c0 : 2 * c0;
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int32_t t = 0; t < taps; t += 2) {
    const __m256i a = eq_dot_load_x((const uint8_t *)xp[t] + off, x8, zp);
    const __m256i b = eq_dot_load_x((const uint8_t *)xp[t + 1] + off, x8, zp);
    const __m256i *w = wv + (size_t)(t / 2) * pair_stride;
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), w[0]));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), w[1]));
  }
  _mm256_storeu_si256((__m256i *)acc, _mm256_permute2x128_si256(lo, hi, 0x20));
  _mm256_storeu_si256((__m256i *)(acc + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
}

/* A depthwise run with depth multiplier 1: input [n, h, w, c] int16 (x8 == 0) or int8 less zp. */
#define EQ_DW_MAX_TAPS 511

typedef struct {
  const eq_shape4 *is, *fs, *os;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  const void *in;
  int x8;
  const __m256i *wv; /* eq_dw_interleave's vectors */
  void *pad_row;     /* EQ_ROUND_UP(c, 16) elements that contribute zero: 0, or zp for int8 input */
  void *tail;        /* (taps + 1) rows of 16 elements for the last partial channel block */
  uintptr_t in_last; /* the last input address a 16-element load may start at (0: none) */
  int32_t *acc;      /* a pixel's channel sums, blocks * 16 */
} eq_dw_run;

static inline int eq_dw_vectorized(int32_t depth_multiplier, const eq_shape4 *is, const eq_shape4 *fs,
                                   const eq_shape4 *os) {
  return depth_multiplier == 1 && os->c == is->c && fs->h * fs->w <= EQ_DW_MAX_TAPS;
}

static inline size_t eq_dw_scratch_bytes(const eq_shape4 *fs, int32_t c) {
  const int32_t taps = fs->h * fs->w;
  return eq_dw_weights_bytes(taps, c) + (size_t)EQ_ROUND_UP(c, 16) * 2u + (size_t)(taps + 1) * 32u +
         (size_t)EQ_ROUND_UP(c, 16) * 4u + 64u;
}

/* Carves the scratch and interleaves the weights. */
EQ_INLINE EQ_AVX2 void eq_dw_setup(eq_dw_run *r, const int8_t *filter, void *scratch) {
  const int32_t taps = r->fs->h * r->fs->w, c = r->os->c;
  uint8_t *s = EQ_ALIGN64(scratch);
  r->wv = (const __m256i *)s;
  eq_dw_interleave(filter, taps, c, (__m256i *)s);
  s += eq_dw_weights_bytes(taps, c);
  r->pad_row = s;
  s += (size_t)EQ_ROUND_UP(c, 16) * 2u;
  r->tail = s;
  s += (size_t)(taps + 1) * 32u;
  r->acc = (int32_t *)s;
  const size_t elem = r->x8 ? 1u : 2u;
  const int64_t total = (int64_t)r->is->n * r->is->h * r->is->w * r->is->c;
  r->in_last = total >= 16 ? (uintptr_t)r->in + (uintptr_t)(total - 16) * elem : 0;
}

/* r->acc[0, c) = the channel sums of output pixel (b, oy, ox). */
EQ_INLINE EQ_AVX2 void eq_dw_pixel(const eq_dw_run *r, int32_t b, int32_t oy, int32_t ox, int16_t zp) {
  const eq_shape4 *is = r->is;
  const int32_t c = r->os->c, taps = r->fs->h * r->fs->w, blocks = (c + 15) / 16, full = c / 16;
  const size_t elem = r->x8 ? 1u : 2u;
  const void *xp[EQ_DW_MAX_TAPS + 1];
  const int32_t y0 = oy * r->stride_h - r->pad_h, x0 = ox * r->stride_w - r->pad_w;
  int32_t t = 0;
  for (int32_t fy = 0; fy < r->fs->h; ++fy) {
    const int32_t y = y0 + r->dilation_h * fy;
    for (int32_t fx = 0; fx < r->fs->w; ++fx, ++t) {
      const int32_t x = x0 + r->dilation_w * fx;
      xp[t] = (y < 0 || y >= is->h || x < 0 || x >= is->w)
                  ? r->pad_row
                  : (const uint8_t *)r->in + ((((int64_t)b * is->h + y) * is->w + x) * is->c) * (int64_t)elem;
    }
  }
  xp[taps] = r->pad_row; /* an odd last tap's partner: its weights are zero */
  const __m256i zv = _mm256_set1_epi16(zp);
  const size_t stride = (size_t)blocks * 2;
  for (int32_t cb = 0; cb < full; ++cb)
    eq_dw_block(xp, (size_t)cb * 16, taps, r->x8, zv, r->wv + (size_t)cb * 2, stride, r->acc + cb * 16);
  if (full < blocks) {
    /* The last block's lanes past the channels have zero weights, so they may read the next pixel's
     * values (or the pad row's spare end); only windows running past the input are copied. */
    const size_t n = (size_t)(c - full * 16) * elem, off = (size_t)full * 16 * elem;
    const void *tp[EQ_DW_MAX_TAPS + 1];
    for (int32_t i = 0; i <= taps; ++i) {
      const uint8_t *src = (const uint8_t *)xp[i] + off;
      if (xp[i] == r->pad_row || (uintptr_t)src <= r->in_last) {
        tp[i] = src;
      } else {
        uint8_t *d = (uint8_t *)r->tail + (size_t)i * 32u;
        memset(d, 0, 32);
        memcpy(d, src, n);
        tp[i] = d;
      }
    }
    eq_dw_block(tp, 0, taps, r->x8, zv, r->wv + (size_t)full * 2, stride, r->acc + full * 16);
  }
}

#endif
