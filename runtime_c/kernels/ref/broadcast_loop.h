/* The 6-deep loop shared by the broadcasting binary kernels: runs BODY once per output element, in
 * output order, with o the output index and i1/i2 the operands' element indices. */
#ifndef EDGEQ_BROADCAST_LOOP_H
#define EDGEQ_BROADCAST_LOOP_H

#include <stddef.h>

#include "eq_kernels_elementwise.h"

#define EQ_BROADCAST_LOOP(b, BODY)                                                                      \
  do {                                                                                                  \
    const int32_t *d_ = (b)->dims, *s1_ = (b)->stride1, *s2_ = (b)->stride2;                            \
    size_t o = 0;                                                                                       \
    for (int32_t a0 = 0; a0 < d_[0]; ++a0)                                                              \
      for (int32_t a1 = 0; a1 < d_[1]; ++a1)                                                            \
        for (int32_t a2 = 0; a2 < d_[2]; ++a2)                                                          \
          for (int32_t a3 = 0; a3 < d_[3]; ++a3)                                                        \
            for (int32_t a4 = 0; a4 < d_[4]; ++a4) {                                                    \
              size_t r1_ = (size_t)a0 * s1_[0] + (size_t)a1 * s1_[1] + (size_t)a2 * s1_[2] +            \
                           (size_t)a3 * s1_[3] + (size_t)a4 * s1_[4];                                   \
              size_t r2_ = (size_t)a0 * s2_[0] + (size_t)a1 * s2_[1] + (size_t)a2 * s2_[2] +            \
                           (size_t)a3 * s2_[3] + (size_t)a4 * s2_[4];                                   \
              for (int32_t a5 = 0; a5 < d_[5]; ++a5, ++o) {                                             \
                size_t i1 = r1_ + (size_t)a5 * s1_[5];                                                  \
                size_t i2 = r2_ + (size_t)a5 * s2_[5];                                                  \
                BODY;                                                                                   \
              }                                                                                         \
            }                                                                                           \
  } while (0)

#endif
