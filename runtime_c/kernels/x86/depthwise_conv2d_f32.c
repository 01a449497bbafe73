/* Float DEPTHWISE_CONV_2D for AVX2, same bytes as the reference (ref/depthwise_conv2d_f32.c): the
 * vectors run across channels, so each channel's sum is still 0 + its taps' products in tap order
 * (fy, fx, padding taps skipped), each product and sum rounded to float (separate multiply and add,
 * never fused), then + bias (or + 0), then the clamp. 32 channels a block, then 8, then the last
 * c % 8 through masked loads. Depth multipliers other than 1 and
 * filters of more than 64 taps run the reference. */
#include "x86_common.h"
#include "eq_kernels_lowbit.h"

/* Products must round before they are added, whatever contraction the build allows. */
#pragma GCC optimize("fp-contract=off")

EQ_INLINE EQ_AVX2 __m256 finish(__m256 total, const float *bias, int32_t c, __m256i mask, __m256 lo, __m256 hi) {
  const __m256 b = bias ? _mm256_maskload_ps(bias + c, mask) : _mm256_setzero_ps();
  /* x < lo ? lo : (x > hi ? hi : x), NaN kept: max/min return their second operand when unordered */
  return _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(total, b)));
}

EQ_AVX2 void eq_depthwise_conv2d_f32_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape, const float *in,
                                          const eq_shape4 *filter_shape, const float *filter, const float *bias,
                                          const eq_shape4 *out_shape, float *out) {
  if (p->depth_multiplier != 1 || filter_shape->h * filter_shape->w > 64) {
    eq_depthwise_conv2d_f32(p, in_shape, in, filter_shape, filter, bias, out_shape, out);
    return;
  }
  const int32_t in_h = in_shape->h, in_w = in_shape->w, c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w;
  const int32_t out_h = out_shape->h, out_w = out_shape->w;
  const __m256 lo = _mm256_set1_ps(p->act_min), hi = _mm256_set1_ps(p->act_max);
  const __m256i all = _mm256_set1_epi32(-1);
  const __m256i tail_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(c % 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const int32_t c32 = c / 32 * 32, c8 = c / 8 * 8;
  for (int32_t b = 0; b < in_shape->n; ++b)
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * c;
        /* the taps inside the input, in the reference's order */
        const float *tin[64], *tw[64];
        int32_t nt = 0;
        for (int32_t fy = 0; fy < kh; ++fy) {
          const int32_t y = y0 + p->dilation_h * fy;
          if (y < 0 || y >= in_h) continue;
          for (int32_t fx = 0; fx < kw; ++fx) {
            const int32_t x = x0 + p->dilation_w * fx;
            if (x < 0 || x >= in_w) continue;
            tin[nt] = in + (((int64_t)b * in_h + y) * in_w + x) * c;
            tw[nt++] = filter + ((int64_t)fy * kw + fx) * c;
          }
        }
        int32_t ch = 0;
        for (; ch < c32; ch += 32) {
          __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
          for (int32_t t = 0; t < nt; ++t) {
            const float *x = tin[t] + ch, *w = tw[t] + ch;
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(w + 8)));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(w + 16)));
            s3 = _mm256_add_ps(s3, _mm256_mul_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(w + 24)));
          }
          _mm256_storeu_ps(o + ch, finish(s0, bias, ch, all, lo, hi));
          _mm256_storeu_ps(o + ch + 8, finish(s1, bias, ch + 8, all, lo, hi));
          _mm256_storeu_ps(o + ch + 16, finish(s2, bias, ch + 16, all, lo, hi));
          _mm256_storeu_ps(o + ch + 24, finish(s3, bias, ch + 24, all, lo, hi));
        }
        for (; ch < c; ch += 8) {
          const __m256i m = ch < c8 ? all : tail_mask;
          __m256 s = _mm256_setzero_ps();
          for (int32_t t = 0; t < nt; ++t)
            s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_maskload_ps(tin[t] + ch, m), _mm256_maskload_ps(tw[t] + ch, m)));
          _mm256_maskstore_ps(o + ch, m, finish(s, bias, ch, m, lo, hi));
        }
      }
}
