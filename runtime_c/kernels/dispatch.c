/* Picks the kernel variants once. On x86 hosts from the CPU's features at the first call (EDGEQ_ISA
 * may force a variant, so tests can run every path on one machine); on other targets the variant is
 * the compile-time choice, made by defining EQ_KERNELS_<ISA> from the compiler's feature macros. */
#include "eq_kernels.h"
#include "eq_kernels_ew.h"

#if defined(__x86_64__) || defined(__i386__)
#define EQ_X86 1
#include <stdlib.h> /* getenv: host builds only; firmware uses no libc beyond memcpy/memset */
#include "x86/x86_kernels.h"
#endif

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

#ifdef EQ_KERNELS_BY_USE
/* Per-model firmware (edgeq/device/build.py): the table must not pull every kernel in. The build links
 * those the model's ops call; an entry left out reads as NULL and is never called, since the ops that
 * would call it are not linked either. */
#pragma weak eq_conv2d_s8
#pragma weak eq_depthwise_conv2d_s8
#pragma weak eq_fully_connected_s8
#pragma weak eq_conv2d_s8_scratch_size
#pragma weak eq_depthwise_conv2d_s8_scratch_size
#endif

static const eq_kernel_table ref_table = {
    "ref", eq_conv2d_s8, eq_depthwise_conv2d_s8, eq_fully_connected_s8,
    eq_conv2d_s8_scratch_size, eq_depthwise_conv2d_s8_scratch_size,
    NULL, NULL, NULL, &eq_ew_kernels_ref,
};

/* An Arm variant plugs in here as its kernels land: define EQ_KERNELS_ARM_DSP (or _ARM_MVE, _NEON)
 * and provide eq_<op>_s8_arm_dsp etc. with the reference signatures, eq_ew_kernels_arm_dsp (it may
 * start as a copy of eq_ew_kernels_ref) and its weight packers, or NULL for none. */
#define EQ_VARIANT_TABLE(isa, conv_pack, dw_pack, fc_pack)                                    \
  static const eq_kernel_table isa##_table = {                                                   \
      #isa, eq_conv2d_s8_##isa, eq_depthwise_conv2d_s8_##isa, eq_fully_connected_s8_##isa,        \
      eq_conv2d_s8_##isa##_scratch_size, eq_depthwise_conv2d_s8_##isa##_scratch_size,            \
      conv_pack, dw_pack, fc_pack, &eq_ew_kernels_##isa,                                         \
  };

#ifdef EQ_X86
EQ_VARIANT_TABLE(avx2, &eq_conv2d_s8_avx2_pack, NULL, NULL)
EQ_VARIANT_TABLE(avx512vnni, &eq_conv2d_s8_avx512vnni_pack, NULL, NULL)

static int cpu_has(const char *isa) {
  __builtin_cpu_init();
  if (same(isa, "avx2")) return __builtin_cpu_supports("avx2");
  if (same(isa, "avx512vnni"))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
  return 0;
}
#elif defined(EQ_KERNELS_ARM_DSP)
EQ_VARIANT_TABLE(arm_dsp, NULL, NULL, NULL)
#elif defined(EQ_KERNELS_ARM_MVE)
EQ_VARIANT_TABLE(arm_mve, NULL, NULL, NULL)
#elif defined(EQ_KERNELS_NEON)
EQ_VARIANT_TABLE(neon, NULL, NULL, NULL)
#endif

/* Best first. */
static const eq_kernel_table *const candidates[] = {
#ifdef EQ_X86
    &avx512vnni_table, &avx2_table,
#elif defined(EQ_KERNELS_ARM_DSP)
    &arm_dsp_table,
#elif defined(EQ_KERNELS_ARM_MVE)
    &arm_mve_table,
#elif defined(EQ_KERNELS_NEON)
    &neon_table,
#endif
    &ref_table,
};

static int runs_here(const eq_kernel_table *t) {
#ifdef EQ_X86
  if (t != &ref_table) return cpu_has(t->isa);
#endif
  (void)t;
  return 1;
}

const eq_kernel_table *eq_kernels_select(const char *isa) {
  if (isa == NULL) return NULL;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (same(candidates[i]->isa, isa)) return runs_here(candidates[i]) ? candidates[i] : NULL;
  return NULL;
}

static const eq_kernel_table *pick(void) {
#ifdef EQ_X86
  const eq_kernel_table *forced = eq_kernels_select(getenv("EDGEQ_ISA"));
  if (forced) return forced;
#endif
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (runs_here(candidates[i])) return candidates[i];
  return &ref_table;
}

/* Every thread computes the same answer, so an unsynchronized first call is harmless. */
const eq_kernel_table *eq_kernels(void) {
  static const eq_kernel_table *chosen;
  if (chosen == NULL) chosen = pick();
  return chosen;
}
