/* The set-up shared by the x86 im2col CONV_2D kernels: conv2d_s4.c (AVX2) and conv2d_s4_vnni.c (AVX-512
 * VNNI), which keep INT4 weights at 4 bits in a panel built at prepare, and conv2d_s8_vnni.c. The INT4 twins
 * differ only in their block constants (taps a group: 8 / 4; channels a block: 8 / 16; pixels a micro-kernel
 * call), where a weight's nibble goes and the offset folded into the bias; each passes those, so the
 * dims, the packed layout, its view and the packing loop are written once here, while the micro-kernels and
 * their decode stay in the .c files. All three share the dims; the VNNI kernels also their im2col into
 * unsigned bytes x + 128. */
#ifndef EDGEQ_X86_CONV_LAYOUT_H
#define EDGEQ_X86_CONV_LAYOUT_H

#include <string.h>

#include "x86_common.h"
#include "eq_kernels_lowbit.h"

#define EQ_CONV_BLOCK_BYTES 16384 /* im2col block kept within L1 */

/* Output pixels an im2col block holds: whole micro-kernel calls (mr rows of row_bytes) within
 * EQ_CONV_BLOCK_BYTES, at least one call and at most all M pixels rounded up to a call. */
static inline int32_t eq_conv_block_rows(int32_t row_bytes, int32_t M, int32_t mr) {
  int32_t mb = (EQ_CONV_BLOCK_BYTES / row_bytes) / mr * mr;
  if (mb < mr) mb = mr;
  if (mb > EQ_ROUND_UP(M, mr)) mb = EQ_ROUND_UP(M, mr);
  return mb;
}

/* A convolution as im2col rows times a weight panel per group. */
typedef struct {
  int32_t K, Kp;                     /* taps per filter row, rounded up to the tap group */
  int32_t fc, groups, per_group, Np; /* channels per group, rounded up to the channel block */
  int32_t N, M, MB;
} eq_conv_dims;

static inline eq_conv_dims eq_conv_dims_of(const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
                                           int32_t tap_group, int32_t channel_block, int32_t mr) {
  eq_conv_dims d;
  d.fc = fs->c;
  d.groups = is->c / fs->c;
  d.N = os->c;
  d.per_group = d.N / d.groups;
  d.Np = EQ_ROUND_UP(d.per_group, channel_block);
  d.K = fs->h * fs->w * fs->c;
  d.Kp = EQ_ROUND_UP(d.K, tap_group);
  d.M = os->n * os->h * os->w;
  d.MB = eq_conv_block_rows(d.Kp, d.M, mr);
  return d;
}

/* ---- INT4 weight panels */

/* What the INT4 kernels run; they hand anything else to the reference kernel. */
static inline int eq_conv_s4_supported(const eq_conv_params *p) {
  return p->act_min >= -128 && p->act_max <= 127 && eq_offset_fits_s8_zero_point(p->input_offset);
}

/* Per group: the panel (Kp * Np nibbles), then per channel (Np a group) the corrected bias, multiplier,
 * left and right shift. */
typedef struct {
  uint8_t *pw;
  int32_t *corr, *qm, *ql, *qr;
} eq_conv_s4_view;

static inline size_t eq_conv_s4_panel_bytes(const eq_conv_dims *d) { return (size_t)d->Kp * d->Np / 2; }

static inline size_t eq_conv_s4_packed_bytes(const eq_conv_dims *d) {
  return 64 + (size_t)d->groups * (eq_conv_s4_panel_bytes(d) + 4 * sizeof(int32_t) * d->Np);
}

static inline eq_conv_s4_view eq_conv_s4_view_of(void *base, const eq_conv_dims *d) {
  eq_conv_s4_view v;
  v.pw = (uint8_t *)EQ_ALIGN64(base);
  v.corr = (int32_t *)(v.pw + (size_t)d->groups * eq_conv_s4_panel_bytes(d));
  const size_t n = (size_t)d->groups * d->Np;
  v.qm = v.corr + n, v.ql = v.qm + n, v.qr = v.ql + n;
  return v;
}

/* Scratch of a run: the im2col block, MB rows of Kp bytes and row_extra more (the AVX2 kernel's row sums). */
static inline size_t eq_conv_s4_block_bytes(const eq_conv_dims *d, size_t row_extra) {
  return (size_t)d->MB * d->Kp + row_extra * (size_t)d->MB;
}

/* ORs weight w (in [-8, 7]) of channel n (of its group) at tap k into a zeroed panel. */
typedef void (*eq_conv_s4_place)(uint8_t *panel, const eq_conv_dims *d, int32_t n, int32_t k, int32_t w);

/* The panels, and per channel bias + offset * sum(w) (wrapping as the reference's bias add) and the
 * requantization constants; channels past a group's end get zeros. place is a constant at the call, so it
 * inlines. */
EQ_INLINE void eq_conv_s4_pack(const eq_channel_quant *q, const uint8_t *f, const int32_t *bias,
                               const eq_conv_dims *d, int32_t offset, eq_conv_s4_place place, eq_conv_s4_view *v) {
  memset(v->pw, 0, (size_t)d->groups * eq_conv_s4_panel_bytes(d));
  for (int32_t g = 0; g < d->groups; g++) {
    uint8_t *panel = v->pw + (size_t)g * eq_conv_s4_panel_bytes(d);
    for (int32_t n = 0; n < d->Np; n++) {
      const size_t i = (size_t)g * d->Np + n;
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
        place(panel, d, n, k, w);
      }
      const uint32_t b = bias ? (uint32_t)bias[c] : 0u;
      v->corr[i] = (int32_t)(b + (uint32_t)offset * (uint32_t)sum);
      const int32_t s = q->shift[c];
      v->qm[i] = q->multiplier[c];
      v->ql[i] = s > 0 ? s : 0;
      v->qr[i] = s > 0 ? 0 : -s;
    }
  }
}

/* What tells the INT4 twins apart, for the entry points below: block constants, im2col row overhead, the
 * packing (a wrapper of eq_conv_s4_pack with the kernel's place and offset) and the run over the blocks
 * (A: the im2col block, eq_conv_s4_block_bytes of scratch). */
typedef struct {
  int32_t tap_group, channel_block, mr;
  size_t row_extra;
  void (*pack)(const eq_conv_params *p, const eq_channel_quant *q, const uint8_t *f, const int32_t *bias,
               const eq_conv_dims *d, eq_conv_s4_view *v);
  void (*run)(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os,
              const int8_t *in, const eq_conv_dims *d, const eq_conv_s4_view *v, void *A, int8_t *out);
} eq_conv_s4_kernel;

static inline eq_conv_dims eq_conv_s4_kernel_dims(const eq_conv_s4_kernel *k, const eq_shape4 *is,
                                                     const eq_shape4 *fs, const eq_shape4 *os) {
  return eq_conv_dims_of(is, fs, os, k->tap_group, k->channel_block, k->mr);
}

/* The plain kernel signature: panel and im2col block both in scratch, the panel rebuilt at every call. */
static inline size_t eq_conv_s4_scratch_size(const eq_conv_s4_kernel *k, const eq_conv_params *p,
                                             const eq_shape4 *is, const eq_shape4 *fs, const eq_shape4 *os) {
  if (!eq_conv_s4_supported(p)) return 0;
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  return eq_conv_s4_packed_bytes(&d) + eq_conv_s4_block_bytes(&d, k->row_extra);
}

static inline void eq_conv_s4_run(const eq_conv_s4_kernel *k, const eq_conv_params *p, const eq_channel_quant *q,
                                  const eq_shape4 *is, const int8_t *in, const eq_shape4 *fs, const uint8_t *filter,
                                  const int32_t *bias, const eq_shape4 *os, int8_t *out, void *scratch) {
  if (!eq_conv_s4_supported(p)) {
    eq_conv2d_s4(p, q, is, in, fs, filter, bias, os, out);
    return;
  }
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  eq_conv_s4_view v = eq_conv_s4_view_of(scratch, &d);
  k->pack(p, q, filter, bias, &d, &v);
  k->run(p, is, fs, os, in, &d, &v, v.qr + (size_t)d.groups * d.Np, out);
}

/* The eq_conv_pack entry points: the panel built once at prepare (filter: the packed INT4 bytes). */
static inline size_t eq_conv_s4_pack_size(const eq_conv_s4_kernel *k, const eq_conv_params *p, const eq_shape4 *is,
                                          const eq_shape4 *fs, const eq_shape4 *os) {
  if (!eq_conv_s4_supported(p)) return 0;
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  return eq_conv_s4_packed_bytes(&d);
}

static inline void eq_conv_s4_pack_into(const eq_conv_s4_kernel *k, const eq_conv_params *p,
                                        const eq_channel_quant *q, const eq_shape4 *is, const eq_shape4 *fs,
                                        const int8_t *filter, const int32_t *bias, const eq_shape4 *os,
                                        void *packed) {
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  eq_conv_s4_view v = eq_conv_s4_view_of(packed, &d);
  k->pack(p, q, (const uint8_t *)filter, bias, &d, &v);
}

static inline size_t eq_conv_s4_packed_scratch_size(const eq_conv_s4_kernel *k, const eq_shape4 *is,
                                                    const eq_shape4 *fs, const eq_shape4 *os) {
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  return 64 + eq_conv_s4_block_bytes(&d, k->row_extra);
}

static inline void eq_conv_s4_run_packed(const eq_conv_s4_kernel *k, const eq_conv_params *p, const eq_shape4 *is,
                                         const int8_t *in, const eq_shape4 *fs, const void *packed,
                                         const eq_shape4 *os, int8_t *out, void *scratch) {
  const eq_conv_dims d = eq_conv_s4_kernel_dims(k, is, fs, os);
  const eq_conv_s4_view v = eq_conv_s4_view_of((void *)packed, &d);
  k->run(p, is, fs, os, in, &d, &v, EQ_ALIGN64(scratch), out);
}

/* The public entry points of an INT4 conv kernel described by the eq_conv_s4_kernel `k`: NAME_scratch_size
 * and NAME (im2col and panel per call), and NAME_pack (the eq_conv_pack table: panel built at prepare). */
#define EQ_CONV_S4_ENTRY_POINTS(NAME, k)                                                                        \
  size_t NAME##_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,                 \
                             const eq_shape4 *os) {                                                            \
    return eq_conv_s4_scratch_size(&(k), p, is, fs, os);                                                        \
  }                                                                                                             \
  void NAME(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is, const int8_t *in,           \
            const eq_shape4 *fs, const uint8_t *filter, const int32_t *bias, const eq_shape4 *os, int8_t *out,   \
            void *scratch) {                                                                                    \
    eq_conv_s4_run(&(k), p, q, is, in, fs, filter, bias, os, out, scratch);                                     \
  }                                                                                                             \
  static size_t NAME##_pack_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,             \
                                 const eq_shape4 *os) {                                                        \
    return eq_conv_s4_pack_size(&(k), p, is, fs, os);                                                           \
  }                                                                                                             \
  static void NAME##_pack_into(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *is,          \
                               const eq_shape4 *fs, const int8_t *filter, const int32_t *bias,                 \
                               const eq_shape4 *os, void *packed) {                                            \
    eq_conv_s4_pack_into(&(k), p, q, is, fs, filter, bias, os, packed);                                         \
  }                                                                                                             \
  static size_t NAME##_packed_scratch_size(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,    \
                                           const eq_shape4 *os) {                                              \
    (void)p;                                                                                                    \
    return eq_conv_s4_packed_scratch_size(&(k), is, fs, os);                                                    \
  }                                                                                                             \
  static void NAME##_run_packed(const eq_conv_params *p, const eq_shape4 *is, const int8_t *in,                 \
                                const eq_shape4 *fs, const void *packed, const eq_shape4 *os, int8_t *out,       \
                                void *scratch) {                                                                \
    eq_conv_s4_run_packed(&(k), p, is, in, fs, packed, os, out, scratch);                                       \
  }                                                                                                             \
  const eq_conv_pack NAME##_pack = {NAME##_pack_size, NAME##_pack_into, NAME##_packed_scratch_size,              \
                                    NAME##_run_packed}

/* ---- AVX-512 im2col into unsigned bytes x + 128 (the VNNI kernels) */

EQ_INLINE EQ_AVX512 void eq512_copy_xor(uint8_t *dst, const int8_t *src, int32_t n) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (; n > 0; n -= 64, src += 64, dst += 64) {
    __mmask64 k = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, src), flip));
  }
}

EQ_INLINE EQ_AVX512 void eq512_fill(uint8_t *dst, uint8_t v, int32_t n) {
  const __m512i vv = _mm512_set1_epi8((char)v);
  for (; n > 0; n -= 64, dst += 64) {
    __mmask64 k = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, k, vv);
  }
}

EQ_INLINE EQ_AVX512 __m512i eq512_bcast32(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Rows [m0, m0 + rows) of group g's im2col matrix, Kp bytes each (taps K on zero); rows past M are zero.
 * Padding taps hold the input zero point + 128. */
static inline EQ_AVX512 void eq512_im2col_u8(const eq_conv_params *p, const eq_shape4 *is, const eq_shape4 *fs,
                                             const eq_shape4 *os, const int8_t *in, const eq_conv_dims *d,
                                             int32_t m0, int32_t rows, int32_t g, uint8_t *A) {
  const uint8_t pad = (uint8_t)(128 - p->input_offset);
  const int32_t C = is->c, fc = d->fc, run = fs->w * fc;
  for (int32_t r = 0; r < rows; r++) {
    uint8_t *dst = A + (size_t)r * d->Kp;
    const int32_t m = m0 + r;
    if (m >= d->M) {
      memset(dst, 0, (size_t)d->Kp);
      continue;
    }
    const int32_t b = m / (os->h * os->w), oy = (m / os->w) % os->h, ox = m % os->w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int contiguous = d->groups == 1 && p->dilation_w == 1 && ix0 >= 0 && ix0 + fs->w <= is->w;
    for (int32_t ky = 0; ky < fs->h; ky++, dst += run) {
      const int32_t iy = iy0 + ky * p->dilation_h;
      if (iy < 0 || iy >= is->h) {
        eq512_fill(dst, pad, run);
        continue;
      }
      const int8_t *src = in + ((size_t)b * is->h + iy) * is->w * C + (size_t)g * fc;
      if (contiguous) {
        eq512_copy_xor(dst, src + (size_t)ix0 * C, run);
        continue;
      }
      for (int32_t kx = 0; kx < fs->w; kx++) {
        const int32_t ix = ix0 + kx * p->dilation_w;
        if (ix < 0 || ix >= is->w)
          eq512_fill(dst + kx * fc, pad, fc);
        else
          eq512_copy_xor(dst + kx * fc, src + (size_t)ix * C, fc);
      }
    }
    for (int32_t k = d->K; k < d->Kp; k++) A[(size_t)r * d->Kp + k] = 0;
  }
}

#endif
