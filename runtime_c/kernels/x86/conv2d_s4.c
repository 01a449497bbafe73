/* CONV_2D with packed INT4 weights for AVX2, reading the model's nibbles in place: no prepare step and
 * no weight copy anywhere (the arena holds only the im2col block in scratch). The filter [c_out][K]
 * (K = kh * kw * c_in per group) is used as stored: each output channel's K nibbles are a dot product
 * against an im2col row, MR pixels x NR channels at a time so one unpacked weight vector serves MR
 * pixels. A step takes 16 packed bytes (32 taps): sign-extended to int16 lanes b = 16*hi + lo, the low
 * nibbles come out as (b << 12) >> 12 and the high ones as b >> 4, each paired by vpmaddwd with the
 * row's even or odd taps (the im2col rows are stored split that way per 32-tap chunk, as int16
 * x + input_offset, padding taps 0 as the reference skips them).
 * Odd K: a row starts on the high nibble of a byte every other channel. Those channels read from the
 * byte before, whose low nibble (the previous row's last weight) meets a zero: each pixel keeps a second
 * copy of its row shifted by one tap. Nibbles past a row's end meet zero taps the same way, and no load
 * reaches past the filter's last byte. The sums are exact int32 (EQ_MAX_TAPS), so only the bias add
 * wraps, as in the reference; requantization is x86_common.h's exact twin of fixedpoint.h. Shapes the
 * int16 lanes cannot hold (input offsets other than minus an int8 zero point, clamps outside int8) run
 * the reference kernel. */
#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define MR 4              /* output pixels per micro-kernel call */
#define NR 2              /* output channels per micro-kernel call */
#define BLOCK_BYTES 16384 /* im2col block kept within L1 */

typedef struct {
  int32_t K, Kp, rec;   /* taps per row, taps read per row (even, multiple of 16), int16 per pixel record */
  int32_t fc, groups, per_group, N, M, MB;
  size_t wbytes;        /* bytes of the packed filter */
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
  d.Kp = EQ_ROUND_UP(d.K + (d.K & 1), 16);
  d.rec = d.Kp * ((d.K & 1) ? 2 : 1);
  d.M = os->n * os->h * os->w;
  int32_t mb = (BLOCK_BYTES / (2 * d.rec)) / MR * MR;
  if (mb < MR) mb = MR;
  if (mb > EQ_ROUND_UP(d.M, MR)) mb = EQ_ROUND_UP(d.M, MR);
  d.MB = mb;
  d.wbytes = ((size_t)d.N * (size_t)d.K + 1) / 2;
  return d;
}

/* Scratch: the im2col block, one contiguous row (with a leading zero slot for the shifted copy), and
 * the int32 sums of MR pixels over a group's channels (rows of per_group + NR). */
static size_t block_bytes(const s4_dims *d) { return 2 * (size_t)d->MB * d->rec; }
static size_t row_bytes(const s4_dims *d) { return EQ_ROUND_UP(2 * ((size_t)d->Kp + 32), 64); }
static size_t tile_stride(const s4_dims *d) { return (size_t)d->per_group + NR; }

size_t eq_conv2d_s4_avx2_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                      const eq_shape4 *os) {
  if (!supported(p)) return 0;
  s4_dims d = get_dims(is, fs, os);
  return 64 + block_bytes(&d) + row_bytes(&d) + 4 * MR * tile_stride(&d);
}

/* t[k] = x + input_offset for the K taps of pixel m in group g (0 for padding taps), zeros to Kp. */
static EQ_AVX2 void gather_row(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                               const eq_shape4 *os, const int8_t *in, const s4_dims *d, int32_t m, int32_t g,
                               int16_t *t) {
  const __m256i off = _mm256_set1_epi16((int16_t)p->input_offset);
  const int16_t o = (int16_t)p->input_offset;
  const int32_t C = is->c, fc = d->fc;
  const int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
  const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
  const int whole_rows = d->groups == 1 && p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
  const int32_t run = whole_rows ? fs->w * C : fc;
  int16_t *dst = t;
  for (int32_t ky = 0; ky < fs->h; ky++) {
    const int32_t iy = iy0 + ky * p->dilation_h;
    const int8_t *src_row = in + ((size_t)b * is->h + (iy < 0 ? 0 : iy)) * is->w * C + (size_t)g * fc;
    for (int32_t kx = 0; kx < (whole_rows ? 1 : fs->w); kx++, dst += run) {
      const int32_t ix = whole_rows ? ix0 : ix0 + kx * p->dilation_w;
      if (iy < 0 || iy >= is->h || ix < 0 || ix >= is->w) {
        memset(dst, 0, 2 * (size_t)run);
        continue;
      }
      const int8_t *src = src_row + (size_t)ix * C;
      int32_t i = 0;
      for (; i + 16 <= run; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))), off));
      for (; i < run; i++) dst[i] = (int16_t)(src[i] + o);
    }
  }
  memset(t + d->K, 0, 2 * (size_t)(d->Kp + 1 - d->K));
}

/* Chunks of 32 taps become [16 even taps][16 odd taps]; a last chunk of 16, [8 even][8 odd]. */
static EQ_AVX2 void split_row(const int16_t *t, int16_t *a, int32_t Kp) {
  const __m256i ctl = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                       0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  int32_t c = 0;
  for (; c + 32 <= Kp; c += 32) {
    const __m256i s0 = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c)), ctl), 0xD8);
    const __m256i s1 = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c + 16)), ctl), 0xD8);
    _mm256_storeu_si256((__m256i *)(a + c), _mm256_permute2x128_si256(s0, s1, 0x20));
    _mm256_storeu_si256((__m256i *)(a + c + 16), _mm256_permute2x128_si256(s0, s1, 0x31));
  }
  if (c < Kp)
    _mm256_storeu_si256((__m256i *)(a + c), _mm256_permute4x64_epi64(
                                                _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(t + c)), ctl), 0xD8));
}

/* Records of pixels [m0, m0 + rows): split row, then (odd K) the row shifted by one tap; zero past M. */
static EQ_AVX2 void im2col(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                           const int8_t *in, const s4_dims *d, int32_t m0, int32_t rows, int32_t g, int16_t *A,
                           int16_t *row) {
  row[0] = 0; /* the shifted copy's leading tap */
  for (int32_t r = 0; r < rows; r++) {
    int16_t *a = A + (size_t)r * d->rec;
    if (m0 + r >= d->M) {
      memset(a, 0, 2 * (size_t)d->rec);
      continue;
    }
    gather_row(p, is, fs, os, in, d, m0 + r, g, row + 1);
    split_row(row + 1, a, d->Kp);
    if (d->K & 1) split_row(row, a + d->Kp, d->Kp);
  }
}

/* Packed bytes [off, off + 16) (or + 8) sign-extended to int16; bytes past the filter read as 0. */
EQ_INLINE EQ_AVX2 __m256i load_w16(const uint8_t *w, size_t off, size_t wbytes) {
  if (off + 16 <= wbytes) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + off)));
  uint8_t tmp[16] = {0};
  if (off < wbytes) memcpy(tmp, w + off, wbytes - off);
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)tmp));
}

EQ_INLINE EQ_AVX2 __m128i load_w8(const uint8_t *w, size_t off, size_t wbytes) {
  if (off + 8 <= wbytes) return _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(w + off)));
  uint8_t tmp[16] = {0};
  if (off < wbytes) memcpy(tmp, w + off, wbytes - off);
  return _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)tmp));
}

/* MR pixel records times NR filter rows (first byte ws[j], record offset xo[j]): 8 int32 sums, lane
 * r * NR + j. */
static EQ_AVX2 __m256i micro(const int16_t *A, const s4_dims *d, const uint8_t *w, const size_t ws[NR],
                             const int32_t xo[NR]) {
  __m256i acc[MR][NR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int j = 0; j < NR; j++) acc[r][j] = _mm256_setzero_si256();
  const size_t rec = (size_t)d->rec, wbytes = d->wbytes;
  int32_t c = 0;
  for (; c + 32 <= d->Kp; c += 32) {
    __m256i lo[NR], hi[NR];
#pragma GCC unroll 2
    for (int j = 0; j < NR; j++) {
      const __m256i b = load_w16(w, ws[j] + (size_t)(c >> 1), wbytes);
      lo[j] = _mm256_srai_epi16(_mm256_slli_epi16(b, 12), 12);
      hi[j] = _mm256_srai_epi16(b, 4);
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
      for (int j = 0; j < NR; j++) {
        const int16_t *a = A + r * rec + xo[j] + c;
        const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a), lo[j]),
                                           _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a + 16)), hi[j]));
        acc[r][j] = _mm256_add_epi32(acc[r][j], s);
      }
  }
  if (c < d->Kp) { /* a last 16 taps: 8 packed bytes */
    __m128i lo[NR], hi[NR];
#pragma GCC unroll 2
    for (int j = 0; j < NR; j++) {
      const __m128i b = load_w8(w, ws[j] + (size_t)(c >> 1), wbytes);
      lo[j] = _mm_srai_epi16(_mm_slli_epi16(b, 12), 12);
      hi[j] = _mm_srai_epi16(b, 4);
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
      for (int j = 0; j < NR; j++) {
        const int16_t *a = A + r * rec + xo[j] + c;
        const __m128i s = _mm_add_epi32(_mm_madd_epi16(_mm_loadu_si128((const __m128i *)a), lo[j]),
                                        _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(a + 8)), hi[j]));
        acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_zextsi128_si256(s));
      }
  }
  return eq256_hsum8(acc[0][0], acc[0][1], acc[1][0], acc[1][1], acc[2][0], acc[2][1], acc[3][0], acc[3][1]);
}

/* sums[r][c] (+ bias) -> requantized int8 for channels [n0, n0 + count) of pixel row r. */
static EQ_AVX2 void finish_row(const int32_t *sums, const eq_conv_params *p, const eq_channel_quant *q,
                               const int32_t *bias, int32_t n0, int32_t count, int8_t *out) {
  const __m256i out_off = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  for (int32_t c = 0; c < count; c += 8) {
    const int n = count - c < 8 ? count - c : 8;
    const int32_t *m = q->multiplier + n0 + c, *sh = q->shift + n0 + c;
    __m256i s, b = _mm256_setzero_si256();
    eq256_quant qq;
    if (n == 8) {
      s = _mm256_loadu_si256((const __m256i *)(sums + c));
      qq = eq256_load_quant(m, sh);
      if (bias) b = _mm256_loadu_si256((const __m256i *)(bias + n0 + c));
    } else { /* the last channels: through the stack, reading nothing past the arrays */
      int32_t sl[8] = {0}, bl[8] = {0};
      for (int i = 0; i < n; i++) sl[i] = sums[c + i], bl[i] = bias ? bias[n0 + c + i] : 0;
      s = _mm256_loadu_si256((const __m256i *)sl);
      b = _mm256_loadu_si256((const __m256i *)bl);
      qq = eq256_load_quant_n(m, sh, n);
    }
    eq256_store_n(out + c, eq256_finish(_mm256_add_epi32(s, b), qq, out_off, lo, hi), n);
  }
}

EQ_AVX2 void eq_conv2d_s4_avx2(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                               const int8_t *in, const eq_shape4 *fs, const uint8_t *filter, const int32_t *bias,
                               const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!supported(p)) {
    eq_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const s4_dims d = get_dims(is, fs, os);
  int16_t *A = (int16_t *)EQ_ALIGN64(scratch);
  int16_t *row = (int16_t *)((uint8_t *)A + block_bytes(&d));
  int32_t *tile = (int32_t *)((uint8_t *)row + row_bytes(&d));
  const size_t ts = tile_stride(&d);
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
          for (int j = 0; j < NR; j++) {
            const int64_t first = (int64_t)(g0 + c + (j < nj ? j : nj - 1)) * d.K; /* the row's first nibble */
            ws[j] = (size_t)(first >> 1);
            xo[j] = (first & 1) ? d.Kp : 0;
          }
          /* lanes r * NR + j: two int32 per pixel row */
          const __m256i s = micro(A + (size_t)r0 * d.rec, &d, filter, ws, xo);
          const __m128i s01 = _mm256_castsi256_si128(s), s23 = _mm256_extracti128_si256(s, 1);
          _mm_storel_epi64((__m128i *)(tile + c), s01);
          _mm_storeh_pd((double *)(tile + ts + c), _mm_castsi128_pd(s01));
          _mm_storel_epi64((__m128i *)(tile + 2 * ts + c), s23);
          _mm_storeh_pd((double *)(tile + 3 * ts + c), _mm_castsi128_pd(s23));
        }
        for (int r = 0; r < MR && r0 + r < rows; r++)
          finish_row(tile + r * ts, p, q, bias, g0, d.per_group, out + (size_t)(m0 + r0 + r) * d.N + g0);
      }
    }
  }
}
