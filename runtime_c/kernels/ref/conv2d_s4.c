/* CONV_2D with packed INT4 weights and int8 activations: the int8 kernel's loop (ref/conv2d_body.h)
 * on the weights read nibble by nibble from the model's packed bytes (LiteRT unpacks to int8 and
 * runs the int8 kernel: same values, same result). */
#include "ref/conv2d_body.h"

void eq_conv2d_s4(const eq_conv_params *p, const eq_channel_quant *q, const eq_shape4 *in_shape,
                  const int8_t *in, const eq_shape4 *filter_shape, const uint8_t *filter,
                  const int32_t *bias, const eq_shape4 *out_shape, int8_t *out) {
  eq_conv2d_body(p, q, in_shape, in, filter_shape, filter, 1, bias, out_shape, out);
}
