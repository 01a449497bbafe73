/* MINIMUM int8 for AVX2 and AVX-512 (rows in minmax_rows.h). */
#include "minmax_rows.h"

ROW_AVX2(min_row_avx2, _mm256_min_epi8, 0)
ROW_AVX512(min_row_avx512, _mm512_min_epi8)
ENTRY(eq_minimum_s8_avx2, eq_minimum_s8, min_row_avx2)
ENTRY(eq_minimum_s8_avx512vnni, eq_minimum_s8, min_row_avx512)
