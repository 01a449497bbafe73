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
#include "conv_layout.h"

#define MR 6 /* output pixels per micro-kernel call (12 for up to 32 channels) */

typedef eq_conv_dims conv_dims;
typedef eq_conv_s4_view packed_view;

/* Taps in groups of 4, channels in blocks of 16: the panel is [Kp/4][Np/16][32 bytes], byte 4c + t of a
 * cell holding tap t of channel c in its low nibble, of channel c + 8 in its high one. */
static void place(uint8_t *panel, const conv_dims *d, int32_t n, int32_t k, int32_t w) {
  const size_t at = ((size_t)(k >> 2) * (d->Np / 16) + (size_t)(n >> 4)) * 32 + (size_t)(n & 7) * 4 + (k & 3);
  panel[at] |= (uint8_t)(((uint32_t)w & 0xFu) << ((n & 8) ? 4 : 0));
}

/* The bias takes (input_offset - 128) * sum(w): the micro-kernel sums (x + 128) w. */
static void pack_all(const eq_conv_params *p, const eq_channel_quant *q, const uint8_t *f, const int32_t *bias,
                     const conv_dims *d, packed_view *v) {
  eq_conv_s4_pack(q, f, bias, d, p->input_offset - 128, place, v);
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
  const size_t step = (size_t)d->Np * 2; /* panel bytes per 4 taps */
  const uint8_t *wp = panel + (size_t)n0 * 2;
  const uint8_t *a = A;
  for (int32_t k4 = 0; k4 < d->Kp / 4; k4++, wp += step, a += 4) {
    __m512i w[4];
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) {
      const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wp + 32 * j)));
      w[j] = _mm512_and_si512(_mm512_mask_slli_epi16(b, (__mmask32)0xFFFF, b, 4), high); /* low half << 4 */
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      const __m512i x = eq512_bcast32(a + (size_t)r * d->Kp);
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
                       const int8_t *in, const conv_dims *dp, const packed_view *v, void *block, int8_t *out) {
  const conv_dims d = *dp;
  uint8_t *A = (uint8_t *)block;
  for (int32_t m0 = 0; m0 < d.M; m0 += d.MB) {
    const int32_t rows = d.M - m0 < d.MB ? d.M - m0 : d.MB;
    const int32_t padded = EQ_ROUND_UP(rows, MR);
    for (int32_t g = 0; g < d.groups; g++) {
      eq512_im2col_u8(p, is, fs, os, in, &d, m0, padded, g, A);
      const uint8_t *panel = v->pw + (size_t)g * eq_conv_s4_panel_bytes(&d);
      const size_t ch0 = (size_t)g * d.Np;
      for (int32_t n0 = 0; n0 < d.Np; n0 += 64) {
        const int nv = (d.Np - n0) / 16;
        for (int32_t r = 0; r < padded;) {
          const uint8_t *a = A + (size_t)r * d.Kp;
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

static const eq_conv_s4_kernel kernel = {4, 16, MR, 0, pack_all, run_blocks};

EQ_CONV_S4_ENTRY_POINTS(eq_conv2d_s4_avx512vnni, kernel);
