/* MAXIMUM int8 for AVX2 and AVX-512 (rows in minmax_rows.h). */
#include "minmax_rows.h"

ROW_AVX2(max_row_avx2, _mm256_max_epi8, 1)
ROW_AVX512(max_row_avx512, _mm512_max_epi8)
ENTRY(eq_maximum_s8_avx2, eq_maximum_s8, max_row_avx2)
ENTRY(eq_maximum_s8_avx512vnni, eq_maximum_s8, max_row_avx512)
