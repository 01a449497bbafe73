/* CONV_2D int8 for AVX2: im2col of a block of output pixels into scratch as int16 (x + input_offset,
 * so padding taps are 0 as in the reference), weights repacked into scratch as int16 pairs
 * [K/2][c_out][2]; one vpmaddwd multiplies a broadcast pair of a pixel's inputs with the pairs of 8 output
 * channels. Products fit: |x + input_offset| <= 255 and |w| <= 128. The packed weights and per-channel
 * constants are built once at prepare (eq_conv2d_s8_avx2_pack) or, through the plain kernel signature,
 * into scratch at every call. */
#include <string.h>

#include "x86_common.h"
#include "x86_kernels.h"

#define MR 4                /* output pixels per micro-kernel call */
#define BLOCK_BYTES 24576   /* im2col block kept within L1 */

typedef struct {
  int32_t K, K2, N, N8, M, MB;
} conv_dims;

static conv_dims get_dims(const eq_shape4 *fs, const eq_shape4 *os) {
  conv_dims d;
  d.K = fs->h * fs->w * fs->c;
  d.K2 = EQ_ROUND_UP(d.K, 2);
  d.N = os->c;
  d.N8 = EQ_ROUND_UP(d.N, 8);
  d.M = os->n * os->h * os->w;
  int32_t mb = (BLOCK_BYTES / (2 * d.K2)) / MR * MR;
  if (mb < MR) mb = MR;
  if (mb > EQ_ROUND_UP(d.M, MR)) mb = EQ_ROUND_UP(d.M, MR);
  d.MB = mb;
  return d;
}

static int supported(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  return fs->c == is->c && fs->n == os->c && p->act_min >= -128 && p->act_max <= 127 &&
         eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Packed int16 weight pairs [K/2][N8][2] then per channel bias, multiplier, left and right shift. */
typedef struct {
  int16_t *pw;
  int32_t *bv, *qm, *ql, *qr;
} packed_view;

static size_t packed_bytes(const conv_dims *d) { return 64 + 2 * (size_t)d->K2 * d->N8 + 4 * sizeof(int32_t) * d->N8; }

static packed_view view_of(void *base, const conv_dims *d) {
  packed_view v;
  v.pw = (int16_t *)EQ_ALIGN64(base);
  v.bv = (int32_t *)(v.pw + (size_t)d->K2 * d->N8);
  v.qm = v.bv + d->N8, v.ql = v.qm + d->N8, v.qr = v.ql + d->N8;
  return v;
}

size_t eq_conv2d_s8_avx2_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                      const eq_shape4 *os) {
  if (!supported(p, is, fs, os)) return eq_conv2d_s8_scratch_size(p, is, fs, os);
  conv_dims d = get_dims(fs, os);
  return packed_bytes(&d) + 2 * (size_t)d.MB * d.K2;
}

/* pw[(k2 * N8 + n) * 2 + j] = filter[n][2 * k2 + j], zero outside [N) x [K) */
static void pack_weights(const int8_t *f, const conv_dims *d, int16_t *pw) {
  memset(pw, 0, 2 * (size_t)d->K2 * d->N8);
  for (int32_t n = 0; n < d->N; n++) {
    const int8_t *row = f + (size_t)n * d->K;
    int16_t *dst = pw + (size_t)n * 2;
    for (int32_t k = 0; k < d->K; k++) dst[(size_t)(k >> 1) * d->N8 * 2 + (k & 1)] = row[k];
  }
}

static void prepare_channels(const eq_channel_quant *q, const int32_t *bias, const conv_dims *d, int32_t *bv,
                             int32_t *qm, int32_t *ql, int32_t *qr) {
  for (int32_t n = 0; n < d->N8; n++) {
    int in_range = n < d->N;
    int32_t s = in_range ? q->shift[n] : 0;
    bv[n] = in_range && bias ? bias[n] : 0;
    qm[n] = in_range ? q->multiplier[n] : 0;
    ql[n] = s > 0 ? s : 0;
    qr[n] = s > 0 ? 0 : -s;
  }
}

EQ_INLINE EQ_AVX2 void copy_offset(int16_t *dst, const int8_t *src, int32_t n, __m256i off) {
  int32_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(dst + i),
                        _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))), off));
  const int16_t o = (int16_t)_mm256_extract_epi16(off, 0);
  for (; i < n; i++) dst[i] = (int16_t)(src[i] + o);
}

/* Rows [m0, m0 + rows) of the im2col matrix, K2 int16 each; rows past M are zero. */
static EQ_AVX2 void im2col(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                           const int8_t *in, const conv_dims *d, int32_t m0, int32_t rows, int16_t *A) {
  const __m256i off = _mm256_set1_epi16((int16_t)p->input_offset);
  const int32_t C = is->c, run = fs->w * C;
  for (int32_t r = 0; r < rows; r++) {
    int16_t *dst = A + (size_t)r * d->K2;
    int32_t m = m0 + r;
    if (m >= d->M) {
      memset(dst, 0, 2 * (size_t)d->K2);
      continue;
    }
    int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
    int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int contiguous = p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
    for (int32_t ky = 0; ky < fs->h; ky++, dst += run) {
      int32_t iy = iy0 + ky * p->dilation_h;
      if (iy < 0 || iy >= is->h) {
        memset(dst, 0, 2 * (size_t)run);
        continue;
      }
      const int8_t *src = in + ((size_t)b * is->h + iy) * is->w * C;
      if (contiguous) {
        copy_offset(dst, src + (size_t)ix0 * C, run, off);
        continue;
      }
      for (int32_t kx = 0; kx < fs->w; kx++) {
        int32_t ix = ix0 + kx * p->dilation_w;
        if (ix < 0 || ix >= is->w)
          memset(dst + kx * C, 0, 2 * (size_t)C);
        else
          copy_offset(dst + kx * C, src + (size_t)ix * C, C, off);
      }
    }
    if (d->K2 != d->K) A[(size_t)r * d->K2 + d->K] = 0;
  }
}

EQ_INLINE EQ_AVX2 __m256i bcast32(const int16_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

EQ_INLINE EQ_AVX2 void micro_kernel(const int16_t *A, const int16_t *pw, const conv_dims *d, int32_t n0, int nv,
                                    int32_t valid_rows, const int32_t *bv, const int32_t *qm, const int32_t *ql,
                                    const int32_t *qr, const eq_conv_params *p, int8_t *out) {
  __m256i acc[MR][2];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_si256();
  const int16_t *wp = pw + (size_t)n0 * 2;
  for (int32_t k2 = 0; k2 < d->K2 / 2; k2++, wp += (size_t)d->N8 * 2) {
    __m256i w[2];
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) w[v] = _mm256_loadu_si256((const __m256i *)(wp + 16 * v));
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      __m256i a = bcast32(A + (size_t)r * d->K2 + 2 * k2);
#pragma GCC unroll 2
      for (int v = 0; v < nv; v++) acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(a, w[v]));
    }
  }
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
#pragma GCC unroll 2
  for (int v = 0; v < nv; v++) {
    int32_t n = n0 + 8 * v;
    eq256_quant qq;
    qq.mult = _mm256_loadu_si256((const __m256i *)(qm + n));
    qq.left = _mm256_loadu_si256((const __m256i *)(ql + n));
    qq.right = _mm256_loadu_si256((const __m256i *)(qr + n));
    __m256i b = _mm256_loadu_si256((const __m256i *)(bv + n));
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
      if (r < valid_rows)
        eq256_store_n(out + (size_t)r * d->N + n, eq256_finish(_mm256_add_epi32(acc[r][v], b), qq, out_off, lo, hi),
                      d->N - n);
  }
}

static EQ_AVX2 void micro_kernel_1(const int16_t *A, const int16_t *pw, const conv_dims *d, int32_t n0,
                                   int32_t valid_rows, const int32_t *bv, const int32_t *qm, const int32_t *ql,
                                   const int32_t *qr, const eq_conv_params *p, int8_t *out) {
  micro_kernel(A, pw, d, n0, 1, valid_rows, bv, qm, ql, qr, p, out);
}

static EQ_AVX2 void micro_kernel_2(const int16_t *A, const int16_t *pw, const conv_dims *d, int32_t n0,
                                   int32_t valid_rows, const int32_t *bv, const int32_t *qm, const int32_t *ql,
                                   const int32_t *qr, const eq_conv_params *p, int8_t *out) {
  micro_kernel(A, pw, d, n0, 2, valid_rows, bv, qm, ql, qr, p, out);
}

/* Every block of output pixels: im2col, then the micro-kernels over all channels. */
static void run_blocks(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                       const int8_t *in, const conv_dims *dp, const packed_view *v, int16_t *A, int8_t *out) {
  const conv_dims d = *dp;
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    int32_t padded = EQ_ROUND_UP(rows, MR);
    im2col(p, is, fs, os, in, &d, m0, padded, A);
    for (int32_t n0 = 0; n0 < d.N8; n0 += 16) {
      for (int32_t r = 0; r < padded; r += MR) {
        const int16_t *a = A + (size_t)r * d.K2;
        int8_t *o = out + (size_t)(m0 + r) * d.N;
        if (d.N8 - n0 >= 16)
          micro_kernel_2(a, v->pw, &d, n0, rows - r, v->bv, v->qm, v->ql, v->qr, p, o);
        else
          micro_kernel_1(a, v->pw, &d, n0, rows - r, v->bv, v->qm, v->ql, v->qr, p, o);
      }
    }
  }
}

void eq_conv2d_s8_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is, const int8_t *in,
                       const eq_shape4 *fs, const int8_t *filter, const int32_t *bias, const eq_shape4 *os,
                       int8_t *out, void *scratch) {
  if (!supported(p, is, fs, os)) {
    eq_conv2d_s8(p, q, is, in, fs, filter, bias, os, out, scratch);
    return;
  }
  conv_dims d = get_dims(fs, os);
  packed_view v = view_of(scratch, &d);
  pack_weights(filter, &d, v.pw);
  prepare_channels(q, bias, &d, v.bv, v.qm, v.ql, v.qr);
  run_blocks(p, is, fs, os, in, &d, &v, (int16_t *)(v.qr + d.N8), out);
}

/* ---- the same with the weights packed once at prepare ---- */

static size_t pack_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  if (!supported(p, is, fs, os)) return 0;
  conv_dims d = get_dims(fs, os);
  return packed_bytes(&d);
}

static void pack(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is, const eq_shape4 *fs,
                 const int8_t *filter, const int32_t *bias, const eq_shape4 *os, void *packed) {
  (void)p, (void)is;
  conv_dims d = get_dims(fs, os);
  packed_view v = view_of(packed, &d);
  pack_weights(filter, &d, v.pw);
  prepare_channels(q, bias, &d, v.bv, v.qm, v.ql, v.qr);
}

static size_t packed_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                  const eq_shape4 *os) {
  (void)p, (void)is;
  conv_dims d = get_dims(fs, os);
  return 64 + 2 * (size_t)d.MB * d.K2;
}

static void run_packed(const eq_conv_params *p, const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                       const void *packed, const eq_shape4 *os, int8_t *out, void *scratch) {
  conv_dims d = get_dims(fs, os);
  packed_view v = view_of((void *)packed, &d);
  run_blocks(p, is, fs, os, in, &d, &v, (int16_t *)EQ_ALIGN64(scratch), out);
}

const eq_conv_pack eq_conv2d_s8_avx2_pack = {pack_size, pack, packed_scratch_size, run_packed};
