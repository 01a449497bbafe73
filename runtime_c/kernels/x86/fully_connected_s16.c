/* FULLY_CONNECTED 16x8 for AVX2: exact dot products of the int16 input rows with the int8 weight rows
 * (dot_s16x8.h), 8 weight rows a block for one batch row, 4 rows x 2 batch rows otherwise; then the
 * reference's own scalar requantization (round(acc * scale) in double, half away from zero). Packed
 * INT4 weights and a nonzero filter or input offset (LiteRT's 16x8 FC has neither) run the reference. */
#include "dot_s16x8.h"
#include "eq_kernels_lowbit.h"

/* Output rows [b0, b0 + nb) with P batch rows and R weight rows a block. */
EQ_INLINE EQ_AVX2 void run(const eq_fc_params *p, const double *scale, int32_t b0, int32_t nb, int P, int R,
                           int32_t K, int32_t N, const int16_t *in, const int8_t *w, const void *bias, int acc32,
                           int16_t *out) {
  eq_dot_src src;
  src.x8 = 0, src.padded = 0, src.zp = 0;
  for (int j = 0; j < P; ++j) src.x[j] = in + (int64_t)(b0 + (j < nb ? j : nb - 1)) * K;
  for (int32_t o0 = 0; o0 < N; o0 += R) {
    const int nr = N - o0 < R ? N - o0 : R;
    const int8_t *rows[8];
    for (int r = 0; r < R; ++r) rows[r] = w + (int64_t)(o0 + (r < nr ? r : nr - 1)) * K;
    int64_t sums[8];
    eq_dot8(&src, P, rows, NULL, R, K, sums, sums + 4);
    for (int j = 0; j < nb; ++j)
      for (int r = 0; r < nr; ++r)
        out[(int64_t)(b0 + j) * N + o0 + r] = eq_fc_s16_requant(sums[j * R + r], p, scale, bias, acc32, o0 + r);
  }
}

EQ_AVX2 void eq_fully_connected_s16_avx2(const eq_fc_params *p, const double *scale, int32_t batches, int32_t K,
                                         int32_t N, const int16_t *in, const void *weights, int weights_int4,
                                         const void *bias, int acc32, int16_t *out) {
  if (weights_int4 || p->filter_offset != 0 || p->input_offset != 0 || K <= 0) {
    eq_fully_connected_s16(p, scale, batches, K, N, in, weights, weights_int4, bias, acc32, out);
    return;
  }
  if (batches == 1) {
    run(p, scale, 0, 1, 1, 8, K, N, in, weights, bias, acc32, out);
    return;
  }
  for (int32_t b = 0; b < batches; b += 2)
    run(p, scale, b, batches - b < 2 ? batches - b : 2, 2, 4, K, N, in, weights, bias, acc32, out);
}
