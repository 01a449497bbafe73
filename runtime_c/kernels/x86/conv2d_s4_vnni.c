/* CONV_2D with packed INT4 weights for AVX-512 VNNI: conv2d_s8_vnni.c's scheme (im2col of a block of
 * output pixels as unsigned bytes x + 128; 4 taps of a pixel broadcast against 4 taps of 16 output
 * channels by vpdpbusd; 6 pixels x up to 64 channels a micro-kernel call) with the weights kept at 4 bits.
 * They are repacked once at prepare (eq_conv2d_s4_avx512vnni_pack; or, through the plain kernel
 * signature, into scratch at every call) into panel order, still two a byte: for each 4 taps and 16
 * channels, 32 bytes, byte 4c + t holding tap t of channel c in its low nibble and of channel c + 8 in
 * its high one. The micro-kernel broadcasts the 32 bytes to both halves of a register and takes
 * (b << 4) & 0xF0 in the low half and b & 0xF0 in the high one: 16 * w as signed bytes, the int8 kernel's
 * weight vector times 16, in two instructions. So the accumulator is 16 * sum (x + 128) w, exact
 * (|16 * sum| < 2^31 for EQ_MAX_TAPS taps), and the true sum is
 *   (acc >> 4) + (input_offset - 128) * sum(w),
 * the second term folded into the bias at packing (padding taps hold the input zero point + 128, so they
 * contribute (zp + input_offset) * w = 0 as in the reference). Grouped convolutions run the same per
 * group. Shapes the int8 kernel hands to the reference (input offsets other than minus an int8 zero
 * point, clamps outside int8) run the reference kernel. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define MR 6              /* output pixels per micro-kernel call (12 for up to 32 channels) */
#define BLOCK_BYTES 16384 /* im2col block kept within L1 */

typedef struct {
  int32_t K, K4;                      /* taps per filter row, rounded up to 4 */
  int32_t fc, groups, per_group, N16; /* channels per group, rounded up to 16 */
  int32_t N, M, MB;
} conv_dims;

static int supported(const eq_conv_params *p) {
  return p->act_min >= -128 && p->act_max <= 127 && eq_offset_fits_s8_zero_point(p->input_offset);
}

static conv_dims get_dims(const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  conv_dims d;
  d.fc = fs->c;
  d.groups = is->c / fs->c;
  d.N = os->c;
  d.per_group = d.N / d.groups;
  d.N16 = EQ_ROUND_UP(d.per_group, 16);
  d.K = fs->h * fs->w * fs->c;
  d.K4 = EQ_ROUND_UP(d.K, 4);
  d.M = os->n * os->h * os->w;
  int32_t mb = (BLOCK_BYTES / d.K4) / MR * MR;
  if (mb < MR) mb = MR;
  if (mb > EQ_ROUND_UP(d.M, MR)) mb = EQ_ROUND_UP(d.M, MR);
  d.MB = mb;
  return d;
}

/* Per group: the panel [K4/4][N16/16][32 bytes], then per channel (N16 a group) the corrected bias,
 * multiplier, left and right shift. */
typedef struct {
  uint8_t *pw;
  int32_t *corr, *qm, *ql, *qr;
} packed_view;

static size_t panel_bytes(const conv_dims *d) { return (size_t)d->K4 * d->N16 / 2; }

static size_t packed_bytes(const conv_dims *d) {
  return 64 + (size_t)d->groups * (panel_bytes(d) + 4 * sizeof(int32_t) * d->N16);
}

static packed_view view_of(void *base, const conv_dims *d) {
  packed_view v;
  v.pw = (uint8_t *)EQ_ALIGN64(base);
  v.corr = (int32_t *)(v.pw + (size_t)d->groups * panel_bytes(d));
  const size_t n = (size_t)d->groups * d->N16;
  v.qm = v.corr + n, v.ql = v.qm + n, v.qr = v.ql + n;
  return v;
}

static size_t block_bytes(const conv_dims *d) { return (size_t)d->MB * d->K4; }

/* The panel, and per channel bias + (input_offset - 128) * sum(w) (wrapping as the reference's bias
 * add) and the requantization constants. */
static void pack_all(const eq_conv_params *p, const eq_channel_quant *q, const uint8_t *f, const int32_t *bias,
                     const conv_dims *d, packed_view *v) {
  memset(v->pw, 0, (size_t)d->groups * panel_bytes(d));
  for (int32_t g = 0; g < d->groups; g++) {
    uint8_t *panel = v->pw + (size_t)g * panel_bytes(d);
    for (int32_t n = 0; n < d->N16; n++) {
      const size_t i = (size_t)g * d->N16 + n;
      const int32_t c = g * d->per_group + n;
      if (n >= d->per_group) {
        v->corr[i] = v->qm[i] = v->ql[i] = v->qr[i] = 0;
        continue;
      }
      const int64_t row = (int64_t)c * d->K;
      int32_t sum = 0;
      for (int32_t k = 0; k < d->K; k++) {
        const int32_t w = eq_s4_at(f, row + k);
        sum += w;
        const size_t at = ((size_t)(k >> 2) * (d->N16 / 16) + (size_t)(n >> 4)) * 32 + (size_t)(n & 7) * 4 + (k & 3);
        panel[at] |= (uint8_t)(((uint32_t)w & 0xFu) << ((n & 8) ? 4 : 0));
      }
      const uint32_t b = bias ? (uint32_t)bias[c] : 0u;
      v->corr[i] = (int32_t)(b + (uint32_t)(p->input_offset - 128) * (uint32_t)sum);
      const int32_t s = q->shift[c];
      v->qm[i] = q->multiplier[c];
      v->ql[i] = s > 0 ? s : 0;
      v->qr[i] = s > 0 ? 0 : -s;
    }
  }
}

EQ_INLINE EQ_AVX512 void copy_xor(uint8_t *dst, const int8_t *src, int32_t n) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (; n > 0; n -= 64, src += 64, dst += 64) {
    __mmask64 k = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, src), flip));
  }
}

EQ_INLINE EQ_AVX512 void fill(uint8_t *dst, uint8_t v, int32_t n) {
  const __m512i vv = _mm512_set1_epi8((char)v);
  for (; n > 0; n -= 64, dst += 64) {
    __mmask64 k = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, k, vv);
  }
}

/* Rows [m0, m0 + rows) of group g's im2col matrix, K4 bytes each; rows past M are zero. */
static EQ_AVX512 void im2col(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                             const eq_shape4 *os, const int8_t *in, const conv_dims *d, int32_t m0, int32_t rows,
                             int32_t g, uint8_t *A) {
  const uint8_t pad = (uint8_t)(128 - p->input_offset); /* the zero point, plus 128 */
  const int32_t C = is->c, fc = d->fc, run = fs->w * fc;
  for (int32_t r = 0; r < rows; r++) {
    uint8_t *dst = A + (size_t)r * d->K4;
    const int32_t m = m0 + r;
    if (m >= d->M) {
      memset(dst, 0, (size_t)d->K4);
      continue;
    }
    const int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int contiguous = d->groups == 1 && p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
    for (int32_t ky = 0; ky < fs->h; ky++, dst += run) {
      const int32_t iy = iy0 + ky * p->dilation_h;
      if (iy < 0 || iy >= is->h) {
        fill(dst, pad, run);
        continue;
      }
      const int8_t *src = in + ((size_t)b * is->h + iy) * is->w * C + (size_t)g * fc;
      if (contiguous) {
        copy_xor(dst, src + (size_t)ix0 * C, run);
        continue;
      }
      for (int32_t kx = 0; kx < fs->w; kx++) {
        const int32_t ix = ix0 + kx * p->dilation_w;
        if (ix < 0 || ix >= is->w)
          fill(dst + kx * fc, pad, fc);
        else
          copy_xor(dst + kx * fc, src + (size_t)ix * C, fc);
      }
    }
    for (int32_t k = d->K; k < d->K4; k++) A[(size_t)r * d->K4 + k] = 0;
  }
}

EQ_INLINE EQ_AVX512 __m512i bcast32(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* MR rows of A times nv * 16 channels [n0, ...) of a group's panel, requantized into out (the group's
 * first channel of the block's first pixel). */
EQ_INLINE EQ_AVX512 void micro_kernel(const uint8_t *A, const uint8_t *panel, const conv_dims *d, int32_t n0, int nv,
                                      int mr, int32_t valid_rows, const packed_view *v, size_t ch0,
                                      const eq_conv_params *p, int8_t *out) {
  __m512i acc[2 * MR][4];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) acc[r][j] = _mm512_setzero_si512();
  const __m512i high = _mm512_set1_epi8((char)0xF0);
  const size_t step = (size_t)d->N16 * 2; /* panel bytes per 4 taps */
  const uint8_t *wp = panel + (size_t)n0 * 2;
  const uint8_t *a = A;
  for (int32_t k4 = 0; k4 < d->K4 / 4; k4++, wp += step, a += 4) {
    __m512i w[4];
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) {
      const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wp + 32 * j)));
      w[j] = _mm512_and_si512(_mm512_mask_slli_epi16(b, (__mmask32)0xFFFF, b, 4), high); /* low half << 4 */
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      const __m512i x = bcast32(a + (size_t)r * d->K4);
#pragma GCC unroll 4
      for (int j = 0; j < nv; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, w[j]);
    }
  }
  const __m512i out_off = _mm512_set1_epi32(p->output_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
#pragma GCC unroll 4
  for (int j = 0; j < nv; j++) {
    const int32_t n = n0 + 16 * j;
    const size_t i = ch0 + (size_t)n;
    eq512_quant qq;
    qq.mult = _mm512_loadu_si512(v->qm + i);
    qq.left = _mm512_loadu_si512(v->ql + i);
    qq.right = _mm512_loadu_si512(v->qr + i);
    const __m512i c = _mm512_loadu_si512(v->corr + i);
    const __mmask16 k = eq512_mask(d->per_group - n);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++)
      if (r < valid_rows)
        eq512_finish_store(out + (size_t)r * d->N + n, _mm512_add_epi32(_mm512_srai_epi32(acc[r][j], 4), c), &qq,
                           out_off, lo, hi, k);
  }
}

#define MK_NV(NV, ROWS)                                                                                   \
  static EQ_AVX512 void micro_kernel_##NV##_##ROWS(const uint8_t *A, const uint8_t *panel, const conv_dims *d,  \
                                                   int32_t n0, int32_t valid_rows, const packed_view *v,         \
                                                   size_t ch0, const eq_conv_params *p, int8_t *out) {           \
    micro_kernel(A, panel, d, n0, NV, ROWS, valid_rows, v, ch0, p, out);                                         \
  }
/* Up to 32 channels, 12 rows a call (24 accumulators of 32 registers) decode each weight vector for
 * twice the pixels. */
MK_NV(1, 12)
MK_NV(2, 12)
MK_NV(1, 6)
MK_NV(2, 6)
MK_NV(3, 6)
MK_NV(4, 6)

/* Every block of output pixels and group: im2col, then the micro-kernels over the group's channels. */
static void run_blocks(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                       const int8_t *in, const conv_dims *dp, const packed_view *v, uint8_t *A, int8_t *out) {
  const conv_dims d = *dp;
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    const int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    const int32_t padded = EQ_ROUND_UP(rows, MR);
    for (int32_t g = 0; g < d.groups; g++) {
      im2col(p, is, fs, os, in, &d, m0, padded, g, A);
      const uint8_t *panel = v->pw + (size_t)g * panel_bytes(&d);
      const size_t ch0 = (size_t)g * d.N16;
      for (int32_t n0 = 0; n0 < d.N16; n0 += 64) {
        const int nv = (d.N16 - n0) / 16;
        for (int32_t r = 0; r < padded;) {
          const uint8_t *a = A + (size_t)r * d.K4;
          int8_t *o = out + (size_t)(m0 + r) * d.N + (size_t)g * d.per_group;
          const int32_t valid = rows - r;
          const int twelve = nv <= 2 && padded - r >= 2 * MR;
          switch (nv) {
            case 1:
              if (twelve) micro_kernel_1_12(a, panel, &d, n0, valid, v, ch0, p, o);
              else micro_kernel_1_6(a, panel, &d, n0, valid, v, ch0, p, o);
              break;
            case 2:
              if (twelve) micro_kernel_2_12(a, panel, &d, n0, valid, v, ch0, p, o);
              else micro_kernel_2_6(a, panel, &d, n0, valid, v, ch0, p, o);
              break;
            case 3: micro_kernel_3_6(a, panel, &d, n0, valid, v, ch0, p, o); break;
            default: micro_kernel_4_6(a, panel, &d, n0, valid, v, ch0, p, o); break;
          }
          r += twelve ? 2 * MR : MR;
        }
      }
    }
  }
}

size_t eq_conv2d_s4_avx512vnni_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                            const eq_shape4 *os) {
  if (!supported(p)) return 0;
  const conv_dims d = get_dims(is, fs, os);
  return packed_bytes(&d) + block_bytes(&d);
}

void eq_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                             const int8_t *in, const eq_shape4 *fs, const uint8_t *filter, const int32_t *bias,
                             const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!supported(p)) {
    eq_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of(scratch, &d);
  pack_all(p, q, filter, bias, &d, &v);
  run_blocks(p, is, fs, os, in, &d, &v, (uint8_t *)(v.qr + (size_t)d.groups * d.N16), out);
}

/* ---- the same with the panel built once at prepare (filter: the packed INT4 bytes) ---- */

static size_t pack_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  if (!supported(p)) return 0;
  const conv_dims d = get_dims(is, fs, os);
  return packed_bytes(&d);
}

static void pack(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is, const eq_shape4 *fs,
                 const int8_t *filter, const int32_t *bias, const eq_shape4 *os, void *packed) {
  const conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of(packed, &d);
  pack_all(p, q, (const uint8_t *)filter, bias, &d, &v);
}

static size_t packed_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                  const eq_shape4 *os) {
  (void)p;
  const conv_dims d = get_dims(is, fs, os);
  return 64 + block_bytes(&d);
}

static void run_packed(const eq_conv_params *p, const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                       const void *packed, const eq_shape4 *os, int8_t *out, void *scratch) {
  const conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of((void *)packed, &d);
  run_blocks(p, is, fs, os, in, &d, &v, (uint8_t *)EQ_ALIGN64(scratch), out);
}

const eq_conv_pack eq_conv2d_s4_avx512vnni_pack = {pack_size, pack, packed_scratch_size, run_packed};
