/* Builtin code -> op implementation. Ops are weak symbols: an op file that is not linked in leaves
 * a NULL address, which the interpreter reports as EQ_ERR_UNSUPPORTED_OP. */
#include <stddef.h>

#include "../interp.h"

extern const eq_op_impl eq_op_add __attribute__((weak));
extern const eq_op_impl eq_op_average_pool_2d __attribute__((weak));
extern const eq_op_impl eq_op_concatenation __attribute__((weak));
extern const eq_op_impl eq_op_conv_2d __attribute__((weak));
extern const eq_op_impl eq_op_depthwise_conv_2d __attribute__((weak));
extern const eq_op_impl eq_op_dequantize __attribute__((weak));
extern const eq_op_impl eq_op_fully_connected __attribute__((weak));
extern const eq_op_impl eq_op_logistic __attribute__((weak));
extern const eq_op_impl eq_op_max_pool_2d __attribute__((weak));
extern const eq_op_impl eq_op_mul __attribute__((weak));
extern const eq_op_impl eq_op_relu __attribute__((weak));
extern const eq_op_impl eq_op_relu6 __attribute__((weak));
extern const eq_op_impl eq_op_reshape __attribute__((weak));
extern const eq_op_impl eq_op_softmax __attribute__((weak));
extern const eq_op_impl eq_op_tanh __attribute__((weak));
extern const eq_op_impl eq_op_pad __attribute__((weak));
extern const eq_op_impl eq_op_transpose __attribute__((weak));
extern const eq_op_impl eq_op_mean __attribute__((weak));
extern const eq_op_impl eq_op_sub __attribute__((weak));
extern const eq_op_impl eq_op_squeeze __attribute__((weak));
extern const eq_op_impl eq_op_strided_slice __attribute__((weak));
extern const eq_op_impl eq_op_prelu __attribute__((weak));
extern const eq_op_impl eq_op_maximum __attribute__((weak));
extern const eq_op_impl eq_op_minimum __attribute__((weak));
extern const eq_op_impl eq_op_padv2 __attribute__((weak));
extern const eq_op_impl eq_op_expand_dims __attribute__((weak));
extern const eq_op_impl eq_op_leaky_relu __attribute__((weak));
extern const eq_op_impl eq_op_quantize __attribute__((weak));
extern const eq_op_impl eq_op_hard_swish __attribute__((weak));

typedef struct {
  int32_t builtin;
  const char *name;
  const eq_op_impl *impl;
} eq_op_entry;

static const eq_op_entry entries[] = {
    {0, "ADD", &eq_op_add},
    {1, "AVERAGE_POOL_2D", &eq_op_average_pool_2d},
    {2, "CONCATENATION", &eq_op_concatenation},
    {3, "CONV_2D", &eq_op_conv_2d},
    {4, "DEPTHWISE_CONV_2D", &eq_op_depthwise_conv_2d},
    {6, "DEQUANTIZE", &eq_op_dequantize},
    {9, "FULLY_CONNECTED", &eq_op_fully_connected},
    {14, "LOGISTIC", &eq_op_logistic},
    {17, "MAX_POOL_2D", &eq_op_max_pool_2d},
    {18, "MUL", &eq_op_mul},
    {19, "RELU", &eq_op_relu},
    {21, "RELU6", &eq_op_relu6},
    {22, "RESHAPE", &eq_op_reshape},
    {25, "SOFTMAX", &eq_op_softmax},
    {28, "TANH", &eq_op_tanh},
    {34, "PAD", &eq_op_pad},
    {39, "TRANSPOSE", &eq_op_transpose},
    {40, "MEAN", &eq_op_mean},
    {41, "SUB", &eq_op_sub},
    {43, "SQUEEZE", &eq_op_squeeze},
    {45, "STRIDED_SLICE", &eq_op_strided_slice},
    {54, "PRELU", &eq_op_prelu},
    {55, "MAXIMUM", &eq_op_maximum},
    {57, "MINIMUM", &eq_op_minimum},
    {60, "PADV2", &eq_op_padv2},
    {70, "EXPAND_DIMS", &eq_op_expand_dims},
    {98, "LEAKY_RELU", &eq_op_leaky_relu},
    {114, "QUANTIZE", &eq_op_quantize},
    {117, "HARD_SWISH", &eq_op_hard_swish},
};

const eq_op_impl *eq_op_find(int32_t builtin) {
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; ++i)
    if (entries[i].builtin == builtin) return entries[i].impl;
  return NULL;
}

const char *eq_op_name(int32_t builtin) {
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; ++i)
    if (entries[i].builtin == builtin) return entries[i].name;
  return "UNKNOWN";
}
