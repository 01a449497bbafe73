/* CONV_2D with packed INT4 weights for AVX-512 VNNI, reading the model's nibbles in place (no prepare
 * step, no weight copy): conv2d_s4.c's scheme with vpdpbusd on 256-bit vectors (32 registers hold
 * MR x NR = 4 x 4 accumulators). The im2col rows are unsigned bytes x + 128, split per 64-tap chunk into
 * [32 even taps][32 odd taps] (a last 32-tap chunk [16][16]); 32 packed bytes give 16 * low nibble
 * ((b << 4) & 0xF0) and 16 * high nibble (b & 0xF0) as signed bytes without sign extension, and two
 * vpdpbusd accumulate 16 * sum (x + 128) w. Padding taps hold the input zero point + 128, so, as in
 * conv2d_s8_vnni.c, every tap of a channel is off by (128 - input_offset) * w and the true sum is
 *   (acc >> 4) - (128 - input_offset) * sum(w),
 * exact (|16 * sum| < 2^31 for EQ_MAX_TAPS taps); sum(w) is taken per call from the nibbles (scratch,
 * 4 bytes a channel). Taps past K and the shifted copy's leading tap (odd K, see conv2d_s4.c) are 0, so
 * neighbouring rows' nibbles add nothing; masked loads never read past the filter. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define MR 4
#define NR 4
#define BLOCK_BYTES 16384

typedef struct {
  int32_t K, Kp, rec; /* taps per row, taps read per row (multiple of 32), bytes per pixel record */
  int32_t fc, groups, per_group, N, M, MB;
  size_t wbytes;
} s4_dims;

static int supported(const eq_conv_params *p) {
  return p->act_min >= -128 && p->act_max <= 127 && eq_offset_fits_s8_zero_point(p->input_offset);
}

static s4_dims get_dims(const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  s4_dims d;
  d.fc = fs->c;
  d.groups = is->c / fs->c;
  d.N = os->c;
  d.per_group = d.N / d.groups;
  d.K = fs->h * fs->w * fs->c;
  d.Kp = EQ_ROUND_UP(d.K + (d.K & 1), 32);
  d.rec = d.Kp * ((d.K & 1) ? 2 : 1);
  d.M = os->n * os->h * os->w;
  int32_t mb = (BLOCK_BYTES / d.rec) / MR * MR;
  if (mb < MR) mb = MR;
  if (mb > EQ_ROUND_UP(d.M, MR)) mb = EQ_ROUND_UP(d.M, MR);
  d.MB = mb;
  d.wbytes = ((size_t)d.N * (size_t)d.K + 1) / 2;
  return d;
}

/* Scratch: the im2col block, one contiguous row (a leading slot for the shifted copy), the all-ones
 * record that sums each filter row, and the per-channel corrections. */
static size_t block_bytes(const s4_dims *d) { return (size_t)d->MB * d->rec; }
static size_t row_bytes(const s4_dims *d) { return EQ_ROUND_UP((size_t)d->Kp + 64, 64); }
static size_t ones_bytes(const s4_dims *d) { return EQ_ROUND_UP((size_t)d->rec, 64); }
static size_t tile_stride(const s4_dims *d) { return (size_t)d->per_group + NR; }

size_t eq_conv2d_s4_avx512vnni_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                            const eq_shape4 *os) {
  if (!supported(p)) return 0;
  s4_dims d = get_dims(is, fs, os);
  return 64 + block_bytes(&d) + row_bytes(&d) + ones_bytes(&d) + 4 * (size_t)d.N + 4 * MR * tile_stride(&d);
}

EQ_INLINE EQ_AVX512 void copy_xor(uint8_t *dst, const int8_t *src, int32_t n) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (; n > 0; n -= 64, src += 64, dst += 64) {
    __mmask64 k = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, src), flip));
  }
}

/* t[k] = x + 128 for the K taps of pixel m in group g (the zero point + 128 for padding), zeros to Kp. */
static EQ_AVX512 void gather_row(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                 const eq_shape4 *os, const int8_t *in, const s4_dims *d, int32_t m, int32_t g,
                                 uint8_t *t) {
  const uint8_t pad = (uint8_t)(128 - p->input_offset);
  const int32_t C = is->c, fc = d->fc;
  const int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
  const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
  const int whole_rows = d->groups == 1 && p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
  const int32_t run = whole_rows ? fs->w * C : fc;
  uint8_t *dst = t;
  for (int32_t ky = 0; ky < fs->h; ky++) {
    const int32_t iy = iy0 + ky * p->dilation_h;
    const int8_t *src_row = in + ((size_t)b * is->h + (iy < 0 ? 0 : iy)) * is->w * C + (size_t)g * fc;
    for (int32_t kx = 0; kx < (whole_rows ? 1 : fs->w); kx++, dst += run) {
      const int32_t ix = whole_rows ? ix0 : ix0 + kx * p->dilation_w;
      if (iy < 0 || iy >= is->h || ix < 0 || ix >= is->w)
        memset(dst, pad, (size_t)run);
      else
        copy_xor(dst, src_row + (size_t)ix * C, run);
    }
  }
  memset(t + d->K, 0, (size_t)(d->Kp + 1 - d->K));
}

/* Chunks of 64 taps become [32 even][32 odd]; a last chunk of 32, [16 even][16 odd]. */
static EQ_AVX512 void split_row(const uint8_t *t, uint8_t *a, int32_t Kp) {
  const __m256i ctl = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                       0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  int32_t c = 0;
  for (; c + 64 <= Kp; c += 64) {
    const __m256i s0 = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c)), ctl), 0xD8);
    const __m256i s1 = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c + 32)), ctl), 0xD8);
    _mm256_storeu_si256((__m256i *)(a + c), _mm256_permute2x128_si256(s0, s1, 0x20));
    _mm256_storeu_si256((__m256i *)(a + c + 32), _mm256_permute2x128_si256(s0, s1, 0x31));
  }
  if (c < Kp)
    _mm256_storeu_si256((__m256i *)(a + c), _mm256_permute4x64_epi64(
                                                _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c)), ctl), 0xD8));
}

static EQ_AVX512 void im2col(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                             const eq_shape4 *os, const int8_t *in, const s4_dims *d, int32_t m0, int32_t rows,
                             int32_t g, uint8_t *A, uint8_t *row) {
  row[0] = 0;
  for (int32_t r = 0; r < rows; r++) {
    uint8_t *a = A + (size_t)r * d->rec;
    if (m0 + r >= d->M) {
      memset(a, 0, (size_t)d->rec);
      continue;
    }
    gather_row(p, is, fs, os, in, d, m0 + r, g, row + 1);
    split_row(row + 1, a, d->Kp);
    if (d->K & 1) split_row(row, a + d->Kp, d->Kp);
  }
}

/* n packed bytes at w + off, none read at or past the filter's end. */
EQ_INLINE EQ_AVX512 __m256i load_w32(const uint8_t *w, size_t off, size_t wbytes) {
  if (off + 32 <= wbytes) return _mm256_loadu_si256((const __m256i *)(w + off));
  const size_t n = off >= wbytes ? 0 : wbytes - off;
  const __mmask32 k = n >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << n) - 1);
  return _mm256_maskz_loadu_epi8(k, w + off);
}

EQ_INLINE EQ_AVX512 __m128i load_w16(const uint8_t *w, size_t off, size_t wbytes) {
  if (off + 16 <= wbytes) return _mm_loadu_si128((const __m128i *)(w + off));
  const size_t n = off >= wbytes ? 0 : wbytes - off;
  const __mmask16 k = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
  return _mm_maskz_loadu_epi8(k, w + off);
}

/* acc[r][j] += 16 * sum over the row of record r (offset xo[j]) times filter row j (first byte ws[j]). */
EQ_INLINE EQ_AVX512 void dot_block(const uint8_t *A, size_t rec, int32_t Kp, const uint8_t *w, size_t wbytes,
                                   const size_t *ws, const int32_t *xo, int mr, __m256i acc[MR][NR]) {
  const __m256i high = _mm256_set1_epi8((char)0xF0);
  int32_t c = 0;
  for (; c + 64 <= Kp; c += 64) {
    __m256i lo[NR], hi[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; j++) {
      const __m256i b = load_w32(w, ws[j] + (size_t)(c >> 1), wbytes);
      lo[j] = _mm256_and_si256(_mm256_slli_epi16(b, 4), high);
      hi[j] = _mm256_and_si256(b, high);
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
      for (int j = 0; j < NR; j++) {
        const uint8_t *a = A + r * rec + xo[j] + c;
        acc[r][j] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc[r][j], _mm256_loadu_si256((const __m256i *)a), lo[j]),
                                        _mm256_loadu_si256((const __m256i *)(a + 32)), hi[j]);
      }
  }
  if (c < Kp) {
    const __m128i high16 = _mm_set1_epi8((char)0xF0);
    __m128i lo[NR], hi[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; j++) {
      const __m128i b = load_w16(w, ws[j] + (size_t)(c >> 1), wbytes);
      lo[j] = _mm_and_si128(_mm_slli_epi16(b, 4), high16);
      hi[j] = _mm_and_si128(b, high16);
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
      for (int j = 0; j < NR; j++) {
        const uint8_t *a = A + r * rec + xo[j] + c;
        const __m128i s = _mm_dpbusd_epi32(_mm_dpbusd_epi32(_mm_setzero_si128(), _mm_loadu_si128((const __m128i *)a), lo[j]),
                                           _mm_loadu_si128((const __m128i *)(a + 16)), hi[j]);
        acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_zextsi128_si256(s));
      }
  }
}

static EQ_AVX512 void micro(const uint8_t *A, const s4_dims *d, const uint8_t *w, const size_t ws[NR],
                            const int32_t xo[NR], __m256i out[2]) {
  __m256i acc[MR][NR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int j = 0; j < NR; j++) acc[r][j] = _mm256_setzero_si256();
  dot_block(A, (size_t)d->rec, d->Kp, w, d->wbytes, ws, xo, MR, acc);
  out[0] = _mm256_srai_epi32(eq256_hsum8(acc[0][0], acc[0][1], acc[0][2], acc[0][3], acc[1][0], acc[1][1],
                                         acc[1][2], acc[1][3]), 4);
  out[1] = _mm256_srai_epi32(eq256_hsum8(acc[2][0], acc[2][1], acc[2][2], acc[2][3], acc[3][0], acc[3][1],
                                         acc[3][2], acc[3][3]), 4);
}

/* Filter row positions of channels n0 + j (the last valid one repeated past nj). */
static void row_starts(const s4_dims *d, int32_t n0, int nj, size_t ws[NR], int32_t xo[NR]) {
  for (int j = 0; j < NR; j++) {
    const int64_t first = (int64_t)(n0 + (j < nj ? j : nj - 1)) * d->K;
    ws[j] = (size_t)(first >> 1);
    xo[j] = (first & 1) ? d->Kp : 0;
  }
}

/* corr[n] = bias[n] - (128 - input_offset) * sum(w[n]), wrapping as the reference's bias add. */
static EQ_AVX512 void corrections(const eq_conv_params *p, const s4_dims *d, const uint8_t *w, const int32_t *bias,
                                  uint8_t *ones, int32_t *corr) {
  /* the all-ones record: [1 x K, 0...] and (odd K) [0, 1 x K, 0...], split as the pixel records */
  for (int32_t c = 0; c < d->Kp; c += 64) {
    uint8_t plain[64] = {0}, shifted[64] = {0};
    for (int32_t k = 0; k < 64 && c + k < d->Kp; k++) {
      plain[k] = c + k < d->K;
      shifted[k] = c + k >= 1 && c + k <= d->K;
    }
    const int32_t len = d->Kp - c >= 64 ? 64 : 32;
    uint8_t tmp[64];
    split_row(plain, tmp, len);
    memcpy(ones + c, tmp, (size_t)len);
    if (d->K & 1) {
      split_row(shifted, tmp, len);
      memcpy(ones + d->Kp + c, tmp, (size_t)len);
    }
  }
  const uint32_t coef = (uint32_t)(128 - p->input_offset);
  for (int32_t n0 = 0; n0 < d->N; n0 += NR) {
    const int nj = d->N - n0 < NR ? d->N - n0 : NR;
    size_t ws[NR];
    int32_t xo[NR];
    row_starts(d, n0, nj, ws, xo);
    __m256i acc[MR][NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; j++) acc[0][j] = _mm256_setzero_si256();
    dot_block(ones, 0, d->Kp, w, d->wbytes, ws, xo, 1, acc);
    int32_t s[8];
    _mm256_storeu_si256((__m256i *)s, _mm256_srai_epi32(eq256_hsum8(acc[0][0], acc[0][1], acc[0][2], acc[0][3], acc[0][0],
                                                                    acc[0][1], acc[0][2], acc[0][3]), 4));
    for (int j = 0; j < nj; j++)
      corr[n0 + j] = (int32_t)((bias ? (uint32_t)bias[n0 + j] : 0u) - coef * (uint32_t)s[j]);
  }
}

/* sums[c] + corr -> requantized int8 for channels [n0, n0 + count) of one pixel. */
static EQ_AVX512 void finish_row(const int32_t *sums, const eq_conv_params *p, const eq_channel_quant *q,
                                 const int32_t *corr, int32_t n0, int32_t count, int8_t *out) {
  const __m512i out_off = _mm512_set1_epi32(p->output_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  for (int32_t c = 0; c < count; c += 16) {
    const int n = count - c < 16 ? count - c : 16;
    const __mmask16 k = eq512_mask(n);
    const eq512_quant qq = eq512_load_quant(q->multiplier + n0 + c, q->shift + n0 + c, n);
    const __m512i s = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, sums + c), _mm512_maskz_loadu_epi32(k, corr + n0 + c));
    eq512_finish_store(out + c, s, &qq, out_off, lo, hi, k);
  }
}

EQ_AVX512 void eq_conv2d_s4_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                                       const int8_t *in, const eq_shape4 *fs, const uint8_t *filter,
                                       const int32_t *bias, const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!supported(p)) {
    eq_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const s4_dims d = get_dims(is, fs, os);
  uint8_t *A = (uint8_t *)EQ_ALIGN64(scratch);
  uint8_t *row = A + block_bytes(&d);
  uint8_t *ones = row + row_bytes(&d);
  int32_t *corr = (int32_t *)(ones + ones_bytes(&d));
  int32_t *tile = corr + d.N;
  const size_t ts = tile_stride(&d);
  corrections(p, &d, filter, bias, ones, corr);
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    const int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    const int32_t padded = EQ_ROUND_UP(rows, MR);
    for (int32_t g = 0; g < d.groups; g++) {
      im2col(p, is, fs, os, in, &d, m0, padded, g, A, row);
      const int32_t g0 = g * d.per_group;
      for (int32_t r0 = 0; r0 < padded; r0 += MR) {
        for (int32_t c = 0; c < d.per_group; c += NR) {
          const int nj = d.per_group - c < NR ? d.per_group - c : NR;
          size_t ws[NR];
          int32_t xo[NR];
          row_starts(&d, g0 + c, nj, ws, xo);
          __m256i s[2]; /* lanes: [pixel 0 | pixel 1], [pixel 2 | pixel 3], NR channels each */
          micro(A + (size_t)r0 * d.rec, &d, filter, ws, xo, s);
          for (int h = 0; h < 2; h++) {
            _mm_storeu_si128((__m128i *)(tile + (2 * h) * ts + c), _mm256_castsi256_si128(s[h]));
            _mm_storeu_si128((__m128i *)(tile + (2 * h + 1) * ts + c), _mm256_extracti128_si256(s[h], 1));
          }
        }
        for (int r = 0; r < MR && r0 + r < rows; r++)
          finish_row(tile + r * ts, p, q, corr, g0, d.per_group, out + (size_t)(m0 + r0 + r) * d.N + g0);
      }
    }
  }
}
