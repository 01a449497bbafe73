/* The kernel table when no per-ISA dispatcher (kernels/dispatch.c) is built: scalar reference only.
 * The Makefile drops this file as soon as kernels/dispatch.c exists. */
#include "eq_kernels.h"
#include "eq_kernels_ew.h"

static const eq_kernel_table ref_table = {
    "ref", eq_conv2d_s8, eq_depthwise_conv2d_s8, eq_fully_connected_s8,
    eq_conv2d_s8_scratch_size, eq_depthwise_conv2d_s8_scratch_size,
    NULL, NULL, NULL, &eq_ew_kernels_ref,
};

const eq_kernel_table *eq_kernels(void) { return &ref_table; }

const eq_kernel_table *eq_kernels_select(const char *isa) {
  return (isa && isa[0] == 'r' && isa[1] == 'e' && isa[2] == 'f' && !isa[3]) ? &ref_table : 0;
}
