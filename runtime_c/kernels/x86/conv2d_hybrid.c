/* Hybrid CONV_2D (int8 weights, run-time quantized int8 input, float output) for AVX2: the reference
 * kernel's loops with each tap's channel dot product done 16 channels a vpmaddwd (input minus its zero
 * point and weights widened to int16). The integer sums are exact, so the float steps after them, which
 * are the reference's own, give the same bytes. INT4 filters and depths below 16 take the reference. */
#include "x86_common.h"
#include "eq_kernels_lowbit.h"

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

EQ_AVX2 void eq_conv2d_hybrid_avx2(const eq_conv_fparams *p, const eq_shape4 *in_shape, const int8_t *qin,
                                   const float *in_scale, const int32_t *in_zp, const eq_shape4 *filter_shape,
                                   const void *filter, int filter_int4, const float *w_scale, const float *bias,
                                   const eq_shape4 *out_shape, float *out) {
  const int32_t in_h = in_shape->h, in_w = in_shape->w, in_c = in_shape->c;
  const int32_t kh = filter_shape->h, kw = filter_shape->w, f_c = filter_shape->c;
  if (filter_int4 || f_c < 16) {
    eq_conv2d_hybrid(p, in_shape, qin, in_scale, in_zp, filter_shape, filter, filter_int4, w_scale, bias, out_shape,
                     out);
    return;
  }
  const int32_t out_h = out_shape->h, out_w = out_shape->w, out_c = out_shape->c;
  const int32_t per_group = out_c / (in_c / f_c), c16 = f_c / 16 * 16;
  const int8_t *f8 = filter;
  for (int32_t b = 0; b < in_shape->n; ++b) {
    const int32_t zp = in_zp[b];
    const __m256i zv = _mm256_set1_epi16((int16_t)zp);
    for (int32_t oy = 0; oy < out_h; ++oy)
      for (int32_t ox = 0; ox < out_w; ++ox) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        float *o = out + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t g = oc / per_group;
          __m256i vacc = _mm256_setzero_si256();
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t y = y0 + p->dilation_h * fy;
            if (y < 0 || y >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t x = x0 + p->dilation_w * fx;
              if (x < 0 || x >= in_w) continue;
              const int8_t *ip = qin + (((int64_t)b * in_h + y) * in_w + x) * in_c + (int64_t)g * f_c;
              const int8_t *fp = f8 + (((int64_t)oc * kh + fy) * kw + fx) * f_c;
              for (int32_t ic = 0; ic < c16; ic += 16) {
                const __m256i xv = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(ip + ic))), zv);
                const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(fp + ic)));
                vacc = _mm256_add_epi32(vacc, _mm256_madd_epi16(xv, wv));
              }
              for (int32_t ic = c16; ic < f_c; ++ic) acc += fp[ic] * (ip[ic] - zp);
            }
          }
          __m128i s = _mm_add_epi32(_mm256_castsi256_si128(vacc), _mm256_extracti128_si256(vacc, 1));
          s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
          s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
          acc += _mm_cvtsi128_si32(s);
          float v = w_scale ? (float)acc * w_scale[oc] * in_scale[b] : (float)acc * in_scale[b];
          if (bias) v += bias[oc];
          o[oc] = clampf(v, p->act_min, p->act_max);
        }
      }
  }
}
