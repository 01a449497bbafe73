/* CONV_2D with packed INT4 weights for AVX2. INT4 weights make vpmaddubsw exact: a pair of products
 * (w + 8) * x, with w + 8 in [0, 15] unsigned and x an int8 input, is at most 3840 in magnitude and two
 * pairs at most 7680, far from int16 saturation. So a pixel's int8 taps, 4 at a time broadcast, meet the
 * 4 taps of 8 output channels in one vpmaddubsw; two of them summed in int16 and widened by vpmaddwd
 * with ones cover 8 taps (vs 4 vpmaddwd for the int8 kernel, whose int8 x int8 pairs would saturate).
 * The weights are repacked once at prepare (eq_conv2d_s4_avx2_pack; or, through the plain kernel
 * signature, into scratch at every call) into panel order, still two a byte: for each 8 taps and 8
 * channels, 32 bytes, byte 4c + t holding w + 8 of channel c at tap t in its low nibble and at tap t + 4
 * in its high one; decoding is an AND and a shift + AND. The sum over a pixel's taps is then
 *   sum (w + 8) x = sum w (x + input_offset) - input_offset * sum(w) + 8 * sum(x),
 * so the micro-kernel subtracts 8 * sum(x) (per pixel, taken at im2col) and adds bias + input_offset *
 * sum(w) (per channel, at packing; wrapping as the reference's bias add). Padding taps hold the input zero
 * point (x + input_offset = 0, so they add nothing, as the reference skips them), taps past K zero. All
 * sums are exact int32 (EQ_MAX_TAPS); requantization is x86_common.h's exact twin of fixedpoint.h. Grouped
 * convolutions run the same per group. Input offsets other than minus an int8 zero point and clamps
 * outside int8 run the reference kernel. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"
#include "conv_layout.h"

#define MR 4 /* output pixels per micro-kernel call */

typedef eq_conv_dims conv_dims;
typedef eq_conv_s4_view packed_view;

/* Taps in groups of 8, channels in blocks of 8: the panel is [Kp/8][Np/8][32 bytes], byte 4c + t of a cell
 * holding w + 8 of channel c at tap t in its low nibble, at tap t + 4 in its high one. */
static void place(uint8_t *panel, const conv_dims *d, int32_t n, int32_t k, int32_t w) {
  const size_t at = ((size_t)(k >> 3) * (d->Np / 8) + (size_t)(n >> 3)) * 32 + (size_t)(n & 7) * 4 + (k & 3);
  panel[at] |= (uint8_t)((uint32_t)(w + 8) << ((k & 4) ? 4 : 0));
}

/* The bias takes input_offset * sum(w): the micro-kernel sums (w + 8) x and subtracts 8 * sum(x). */
static void pack_all(const eq_conv_params *p, const eq_channel_quant *q, const uint8_t *f, const int32_t *bias,
                     const conv_dims *d, packed_view *v) {
  eq_conv_s4_pack(q, f, bias, d, p->input_offset, place, v);
}

/* Sum of n int8 (n a multiple of 8), as sums of x + 128 (vpsadbw) less 128 n. */
static EQ_AVX2 int32_t sum_s8(const int8_t *x, int32_t n) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  __m256i acc = _mm256_setzero_si256();
  int32_t i = 0;
  for (; i + 32 <= n; i += 32)
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)), flip),
                                                _mm256_setzero_si256()));
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  int64_t total = _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
  for (; i < n; i += 8) /* the low 8 bytes' sum only: the upper half of the register is 0 ^ 0x80 */
    total += _mm_cvtsi128_si64(_mm_sad_epu8(_mm_xor_si128(_mm_loadl_epi64((const __m128i *)(x + i)),
                                                          _mm256_castsi256_si128(flip)),
                                            _mm_setzero_si128()));
  return (int32_t)(total - 128 * (int64_t)n);
}

/* Rows [m0, m0 + rows) of group g's im2col matrix, Kp int8 each, and their sums; rows past M are zero. */
static EQ_AVX2 void im2col(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                           const int8_t *in, const conv_dims *d, int32_t m0, int32_t rows, int32_t g, int8_t *A,
                           int32_t *sums) {
  const int pad = -p->input_offset; /* the input zero point */
  const int32_t C = is->c, fc = d->fc, run = fs->w * fc;
  for (int32_t r = 0; r < rows; r++) {
    int8_t *row = A + (size_t)r * d->Kp, *dst = row;
    const int32_t m = m0 + r;
    if (m >= d->M) {
      memset(row, 0, (size_t)d->Kp);
      sums[r] = 0;
      continue;
    }
    const int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int contiguous = d->groups == 1 && p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
    for (int32_t ky = 0; ky < fs->h; ky++, dst += run) {
      const int32_t iy = iy0 + ky * p->dilation_h;
      if (iy < 0 || iy >= is->h) {
        memset(dst, pad, (size_t)run);
        continue;
      }
      const int8_t *src = in + ((size_t)b * is->h + iy) * is->w * C + (size_t)g * fc;
      if (contiguous) {
        memcpy(dst, src + (size_t)ix0 * C, (size_t)run);
        continue;
      }
      for (int32_t kx = 0; kx < fs->w; kx++) {
        const int32_t ix = ix0 + kx * p->dilation_w;
        if (ix < 0 || ix >= is->w)
          memset(dst + kx * fc, pad, (size_t)fc);
        else
          memcpy(dst + kx * fc, src + (size_t)ix * C, (size_t)fc);
      }
    }
    memset(row + d->K, 0, (size_t)(d->Kp - d->K));
    sums[r] = sum_s8(row, d->Kp);
  }
}

EQ_INLINE EQ_AVX2 __m256i bcast32(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* MR rows of A times nv * 8 channels [n0, ...) of a group's panel, requantized into out (the group's
 * first channel of the block's first pixel). */
EQ_INLINE EQ_AVX2 void micro_kernel(const int8_t *A, const int32_t *sums, const uint8_t *panel, const conv_dims *d,
                                    int32_t n0, int nv, int32_t valid_rows, const packed_view *v, size_t ch0,
                                    const eq_conv_params *p, int8_t *out) {
  __m256i acc[MR][2];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int j = 0; j < nv; j++) acc[r][j] = _mm256_setzero_si256();
  const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const size_t step = (size_t)d->Np * 4; /* panel bytes per 8 taps */
  const uint8_t *wp = panel + (size_t)n0 * 4;
  const int8_t *a = A;
  for (int32_t k8 = 0; k8 < d->Kp / 8; k8++, wp += step, a += 8) {
    __m256i w0[2], w1[2];
#pragma GCC unroll 2
    for (int j = 0; j < nv; j++) {
      const __m256i b = _mm256_loadu_si256((const __m256i *)(wp + 32 * j));
      w0[j] = _mm256_and_si256(b, nib);
      w1[j] = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib);
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      const __m256i x0 = bcast32(a + (size_t)r * d->Kp), x1 = bcast32(a + (size_t)r * d->Kp + 4);
#pragma GCC unroll 2
      for (int j = 0; j < nv; j++)
        acc[r][j] = _mm256_add_epi32(
            acc[r][j], _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w0[j], x0), _mm256_maddubs_epi16(w1[j], x1)),
                                         ones));
    }
  }
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
#pragma GCC unroll 2
  for (int j = 0; j < nv; j++) {
    const int32_t n = n0 + 8 * j;
    const size_t i = ch0 + (size_t)n;
    eq256_quant qq;
    qq.mult = _mm256_loadu_si256((const __m256i *)(v->qm + i));
    qq.left = _mm256_loadu_si256((const __m256i *)(v->ql + i));
    qq.right = _mm256_loadu_si256((const __m256i *)(v->qr + i));
    const __m256i c = _mm256_loadu_si256((const __m256i *)(v->corr + i));
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
      if (r < valid_rows) {
        const __m256i s = _mm256_sub_epi32(_mm256_add_epi32(acc[r][j], c), _mm256_set1_epi32(8 * sums[r]));
        eq256_store_n(out + (size_t)r * d->N + n, eq256_finish(s, qq, out_off, lo, hi), d->per_group - n);
      }
  }
}

static EQ_AVX2 void micro_kernel_1(const int8_t *A, const int32_t *sums, const uint8_t *panel, const conv_dims *d,
                                   int32_t n0, int32_t valid_rows, const packed_view *v, size_t ch0,
                                   const eq_conv_params *p, int8_t *out) {
  micro_kernel(A, sums, panel, d, n0, 1, valid_rows, v, ch0, p, out);
}

static EQ_AVX2 void micro_kernel_2(const int8_t *A, const int32_t *sums, const uint8_t *panel, const conv_dims *d,
                                   int32_t n0, int32_t valid_rows, const packed_view *v, size_t ch0,
                                   const eq_conv_params *p, int8_t *out) {
  micro_kernel(A, sums, panel, d, n0, 2, valid_rows, v, ch0, p, out);
}

/* Every block of output pixels and group: im2col, then the micro-kernels over the group's channels. */
static void run_blocks(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                       const int8_t *in, const conv_dims *dp, const packed_view *v, void *block, int8_t *out) {
  const conv_dims d = *dp;
  int8_t *A = (int8_t *)block;
  int32_t *sums = (int32_t *)(A + (size_t)d.MB * d.Kp);
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    const int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    const int32_t padded = EQ_ROUND_UP(rows, MR);
    for (int32_t g = 0; g < d.groups; g++) {
      im2col(p, is, fs, os, in, &d, m0, padded, g, A, sums);
      const uint8_t *panel = v->pw + (size_t)g * eq_conv_s4_panel_bytes(&d);
      const size_t ch0 = (size_t)g * d.Np;
      for (int32_t n0 = 0; n0 < d.Np; n0 += 16)
        for (int32_t r = 0; r < padded; r += MR) {
          const int8_t *a = A + (size_t)r * d.Kp;
          int8_t *o = out + (size_t)(m0 + r) * d.N + (size_t)g * d.per_group;
          if (d.Np - n0 >= 16)
            micro_kernel_2(a, sums + r, panel, &d, n0, rows - r, v, ch0, p, o);
          else
            micro_kernel_1(a, sums + r, panel, &d, n0, rows - r, v, ch0, p, o);
        }
    }
  }
}

static const eq_conv_s4_kernel kernel = {8, 8, MR, 4, pack_all, run_blocks};

EQ_CONV_S4_ENTRY_POINTS(eq_conv2d_s4_avx2, kernel);
