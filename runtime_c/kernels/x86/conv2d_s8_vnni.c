/* CONV_2D int8 for AVX-512 VNNI: im2col of a block of output pixels into scratch (as unsigned bytes,
 * x + 128), weights repacked into scratch as [K/4][c_out][4] so one vpdpbusd multiplies 4 input bytes
 * broadcast from a pixel with 4 weights of 16 output channels. Since vpdpbusd sums (x + 128) * w, the
 * true sum of (x + input_offset) * w is restored per channel by adding (input_offset - 128) * sum(w);
 * padded taps hold the input zero point, so they contribute (zp + input_offset) * w = 0 as in ref.
 * The packed weights and per-channel constants are built once at prepare (eq_conv2d_s8_avx512vnni_pack)
 * or, through the plain kernel signature, into scratch at every call. */
#include <string.h>

#include "x86_common.h"
#include "x86_kernels.h"
#include "conv_layout.h"

#define MR 6 /* output pixels per micro-kernel call */

typedef eq_conv_dims conv_dims; /* one group: fc = C, per_group = N */

static conv_dims get_dims(const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  return eq_conv_dims_of(is, fs, os, 4, 16, MR);
}

static int supported(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  return fs->c == is->c && fs->n == os->c && p->act_min >= -128 && p->act_max <= 127 &&
         eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Packed weights [Kp/4][Np][4] then per channel corr, multiplier, left and right shift (Np each). */
typedef struct {
  int8_t *pw;
  int32_t *corr, *qm, *ql, *qr;
} packed_view;

static size_t packed_bytes(const conv_dims *d) { return 64 + (size_t)d->Kp * d->Np + 4 * sizeof(int32_t) * d->Np; }

static packed_view view_of(void *base, const conv_dims *d) {
  packed_view v;
  v.pw = (int8_t *)EQ_ALIGN64(base);
  v.corr = (int32_t *)(v.pw + (size_t)d->Kp * d->Np);
  v.qm = v.corr + d->Np, v.ql = v.qm + d->Np, v.qr = v.ql + d->Np;
  return v;
}

size_t eq_conv2d_s8_avx512vnni_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                            const eq_shape4 *os) {
  if (!supported(p, is, fs, os)) return eq_conv2d_s8_scratch_size(p, is, fs, os);
  conv_dims d = get_dims(is, fs, os);
  return packed_bytes(&d) + (size_t)d.MB * d.Kp;
}

/* pw[(k4 * Np + n) * 4 + j] = filter[n][4 * k4 + j], zero outside [N) x [K). Repacked at every call
 * (the kernel signature has no prepare step), so the common K % 4 == 0 case gathers 16 rows at once. */
static EQ_AVX512 void pack_weights(const int8_t *f, const conv_dims *d, int8_t *pw) {
  if (d->K % 4 == 0) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(d->K));
    for (int32_t n0 = 0; n0 < d->Np; n0 += 16) {
      const __mmask16 k = eq512_mask(d->N - n0);
      const int8_t *src = f + (size_t)n0 * d->K;
      for (int32_t k4 = 0; k4 < d->Kp / 4; k4++)
        _mm512_storeu_si512(pw + ((size_t)k4 * d->Np + n0) * 4,
                            _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, rows, src + 4 * k4, 1));
    }
    return;
  }
  memset(pw, 0, (size_t)d->Kp * d->Np);
  for (int32_t n = 0; n < d->N; n++)
    for (int32_t k = 0; k < d->K; k++) pw[((size_t)(k / 4) * d->Np + n) * 4 + (k & 3)] = f[(size_t)n * d->K + k];
}

/* Per channel: bias + (input_offset - 128) * sum(w), and the requantization constants. */
static EQ_AVX512 void prepare_channels(const eq_conv_params *p, const eq_channel_quant *q, const int32_t *bias,
                                       const int8_t *pw, const conv_dims *d, int32_t *corr, int32_t *qm,
                                       int32_t *ql, int32_t *qr) {
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i coef = _mm512_set1_epi32(p->input_offset - 128);
  for (int32_t n0 = 0; n0 < d->Np; n0 += 16) {
    __m512i ws = _mm512_setzero_si512();
    for (int32_t k4 = 0; k4 < d->Kp / 4; k4++)
      ws = _mm512_dpbusd_epi32(ws, ones, _mm512_loadu_si512(pw + ((size_t)k4 * d->Np + n0) * 4));
    __mmask16 k = eq512_mask(d->N - n0);
    __m512i b = bias ? _mm512_maskz_loadu_epi32(k, bias + n0) : _mm512_setzero_si512();
    _mm512_storeu_si512(corr + n0, _mm512_add_epi32(b, _mm512_mullo_epi32(coef, ws)));
    eq512_quant qq = eq512_load_quant(q->multiplier + n0, q->shift + n0, d->N - n0 > 0 ? d->N - n0 : 0);
    _mm512_storeu_si512(qm + n0, qq.mult);
    _mm512_storeu_si512(ql + n0, qq.left);
    _mm512_storeu_si512(qr + n0, qq.right);
  }
}

/* MR rows of A times nv * 16 channels of the packed weights, then requantize and store. */
EQ_INLINE EQ_AVX512 void micro_kernel(const uint8_t *A, const int8_t *pw, const conv_dims *d, int32_t n0, int nv,
                                      int32_t valid_rows, const int32_t *corr, const int32_t *qm,
                                      const int32_t *ql, const int32_t *qr, const eq_conv_params *p,
                                      int8_t *out) {
  __m512i acc[MR][4];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_si512();
  const int32_t nk4 = d->Kp / 4;
  const int8_t *wp = pw + (size_t)n0 * 4;
  for (int32_t k4 = 0; k4 < nk4; k4++, wp += (size_t)d->Np * 4) {
    __m512i w[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) w[v] = _mm512_loadu_si512(wp + 64 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      __m512i a = eq512_bcast32(A + (size_t)r * d->Kp + 4 * k4);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, w[v]);
    }
  }
  const __m512i out_off = _mm512_set1_epi32(p->output_offset);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
#pragma GCC unroll 4
  for (int v = 0; v < nv; v++) {
    int32_t n = n0 + 16 * v;
    eq512_quant qq;
    qq.mult = _mm512_loadu_si512(qm + n);
    qq.left = _mm512_loadu_si512(ql + n);
    qq.right = _mm512_loadu_si512(qr + n);
    __m512i c = _mm512_loadu_si512(corr + n);
    __mmask16 k = eq512_mask(d->N - n);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
      if (r < valid_rows)
        eq512_finish_store(out + (size_t)r * d->N + n, _mm512_add_epi32(acc[r][v], c), &qq, out_off, lo, hi, k);
  }
}

#define MK_NV(NV)                                                                                          \
  static EQ_AVX512 void micro_kernel_##NV(const uint8_t *A, const int8_t *pw, const conv_dims *d, int32_t n0, \
                                          int32_t valid_rows, const int32_t *corr, const int32_t *qm,         \
                                          const int32_t *ql, const int32_t *qr, const eq_conv_params *p,      \
                                          int8_t *out) {                                                      \
    micro_kernel(A, pw, d, n0, NV, valid_rows, corr, qm, ql, qr, p, out);                                   \
  }
MK_NV(1)
MK_NV(2)
MK_NV(3)
MK_NV(4)

/* Every block of output pixels: im2col, then the micro-kernels over all channels. */
static void run_blocks(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                       const int8_t *in, const conv_dims *dp, const packed_view *v, uint8_t *A, int8_t *out) {
  const conv_dims d = *dp;
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    int32_t padded = EQ_ROUND_UP(rows, MR);
    eq512_im2col_u8(p, is, fs, os, in, &d, m0, padded, 0, A);
    for (int32_t n0 = 0; n0 < d.Np; n0 += 64) {
      int nv = (d.Np - n0) / 16;
      for (int32_t r = 0; r < padded; r += MR) {
        const uint8_t *a = A + (size_t)r * d.Kp;
        int8_t *o = out + (size_t)(m0 + r) * d.N;
        int32_t valid = rows - r;
        switch (nv) {
          case 1: micro_kernel_1(a, v->pw, &d, n0, valid, v->corr, v->qm, v->ql, v->qr, p, o); break;
          case 2: micro_kernel_2(a, v->pw, &d, n0, valid, v->corr, v->qm, v->ql, v->qr, p, o); break;
          case 3: micro_kernel_3(a, v->pw, &d, n0, valid, v->corr, v->qm, v->ql, v->qr, p, o); break;
          default: micro_kernel_4(a, v->pw, &d, n0, valid, v->corr, v->qm, v->ql, v->qr, p, o); break;
        }
      }
    }
  }
}

void eq_conv2d_s8_avx512vnni(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,
                             const int8_t *in, const eq_shape4 *fs, const int8_t *filter, const int32_t *bias,
                             const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!supported(p, is, fs, os)) {
    eq_conv2d_s8(p, q, is, in, fs, filter, bias, os, out, scratch);
    return;
  }
  conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of(scratch, &d);
  pack_weights(filter, &d, v.pw);
  prepare_channels(p, q, bias, v.pw, &d, v.corr, v.qm, v.ql, v.qr);
  run_blocks(p, is, fs, os, in, &d, &v, (uint8_t *)(v.qr + d.Np), out);
}

/* ---- the same with the weights packed once at prepare ---- */

static size_t pack_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  if (!supported(p, is, fs, os)) return 0;
  conv_dims d = get_dims(is, fs, os);
  return packed_bytes(&d);
}

static void pack(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is, const eq_shape4 *fs,
                 const int8_t *filter, const int32_t *bias, const eq_shape4 *os, void *packed) {
  conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of(packed, &d);
  pack_weights(filter, &d, v.pw);
  prepare_channels(p, q, bias, v.pw, &d, v.corr, v.qm, v.ql, v.qr);
}

static size_t packed_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                  const eq_shape4 *os) {
  (void)p;
  conv_dims d = get_dims(is, fs, os);
  return 64 + (size_t)d.MB * d.Kp;
}

static void run_packed(const eq_conv_params *p, const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs,
                       const void *packed, const eq_shape4 *os, int8_t *out, void *scratch) {
  conv_dims d = get_dims(is, fs, os);
  packed_view v = view_of((void *)packed, &d);
  run_blocks(p, is, fs, os, in, &d, &v, (uint8_t *)EQ_ALIGN64(scratch), out);
}

const eq_conv_pack eq_conv2d_s8_avx512vnni_pack = {pack_size, pack, packed_scratch_size, run_packed};
