/* DEPTHWISE_CONV_2D with packed INT4 weights [1, kh, kw, c_out] and int8 activations: the int8
 * kernel's loop (ref/depthwise_conv2d_body.h) on nibbles read in place (as LiteRT's
 * unpack-then-int8 path computes). */
#include "ref/depthwise_conv2d_body.h"

void eq_depthwise_conv2d_s4(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                            const int8_t *in, const eq_shape4 *filter_shape, const uint8_t *filter,
                            const int32_t *bias, const eq_shape4 *out_shape, int8_t *out) {
  eq_depthwise_conv2d_body(p, q, in_shape, in, filter_shape, filter, 1, bias, out_shape, out);
}
