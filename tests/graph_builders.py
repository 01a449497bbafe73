"""Small float graphs built with the IR, one or two per op the float executor supports, for the
reader/writer round trip and the executor-vs-LiteRT tests. Each case: name -> (graph, input arrays)."""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Graph, Op, QuantParams, Tensor


class Builder:
    def __init__(self, name: str, seed: int = 0):
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)
        self.feeds: list[np.ndarray] = []
        self._n = 0

    def input(self, shape, scale: float = 1.0) -> str:
        name = f"in{len(self.g.inputs)}"
        self.g.add_tensor(Tensor(name, shape))
        self.g.inputs.append(name)
        self.feeds.append((self.rng.standard_normal(shape) * scale).astype(np.float32))
        return name

    def const(self, data, name: str | None = None) -> str:
        self._n += 1
        return self.g.add_const(name or f"c{self._n}", np.asarray(data)).name

    def weights(self, shape, scale: float = 0.5) -> str:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, type_: str, inputs, out_shape, dtype: str = "float32", quant=None, **options) -> str:
        self._n += 1
        out = self.g.add_tensor(Tensor(f"{type_.lower()}_{self._n}", out_shape, dtype, quant=quant)).name
        self.g.add_op(Op(type_, list(inputs), [out], options))
        return out

    def done(self, *outputs: str):
        self.g.outputs = list(outputs)
        self.g.validate()
        return self.g, self.feeds


def _conv(name, hw, cin, cout, k, stride, padding, act="NONE", dil=1, bias=True):
    b = Builder(name)
    x = b.input((1, hw[0], hw[1], cin))
    from edgeq.reference.ops_conv import out_size
    oh = out_size(hw[0], k[0], stride, dil, padding)[0]
    ow = out_size(hw[1], k[1], stride, dil, padding)[0]
    ins = [x, b.weights((cout, k[0], k[1], cin))] + ([b.weights((cout,))] if bias else [])  # LiteRT: absent, not -1
    y = b.op("CONV_2D", ins,
             (1, oh, ow, cout), padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=dil,
             dilation_w_factor=dil, fused_activation_function=act)
    return b.done(y)


def _dw(name, hw, cin, mult, k, stride, padding, act="NONE", dil=1):
    b = Builder(name)
    x = b.input((1, hw, hw, cin))
    from edgeq.reference.ops_conv import out_size
    o = out_size(hw, k, stride, dil, padding)[0]
    y = b.op("DEPTHWISE_CONV_2D", [x, b.weights((1, k, k, cin * mult)), b.weights((cin * mult,))],
             (1, o, o, cin * mult), padding=padding, stride_h=stride, stride_w=stride, depth_multiplier=mult,
             dilation_h_factor=dil, dilation_w_factor=dil, fused_activation_function=act)
    return b.done(y)


def _pool(name, type_, hw, k, stride, padding, act="NONE"):
    b = Builder(name)
    x = b.input((1, hw, hw, 3))
    from edgeq.reference.ops_conv import out_size
    o = out_size(hw, k, stride, 1, padding)[0]
    y = b.op(type_, [x], (1, o, o, 3), padding=padding, stride_h=stride, stride_w=stride, filter_height=k,
             filter_width=k, fused_activation_function=act)
    return b.done(y)


def _unary(type_, scale=3.0, **options):
    b = Builder(type_.lower())
    x = b.input((1, 4, 5, 3), scale)
    return b.done(b.op(type_, [x], (1, 4, 5, 3), **options))


def _binary(type_, other_shape, act="NONE", const=False, positive=False):
    b = Builder(type_.lower())
    x = b.input((1, 4, 5, 3))
    if const:
        v = b.rng.standard_normal(other_shape).astype(np.float32)
        y = b.const(np.abs(v) + 0.5 if positive else v)
    else:
        y = b.input(other_shape)
    opts = {"fused_activation_function": act} if type_ in ("ADD", "SUB", "MUL", "DIV") else {}
    return b.done(b.op(type_, [x, y], (1, 4, 5, 3), **opts))


def _fc(name, in_shape, cout, keep=False, bias=True, act="NONE"):
    b = Builder(name)
    x = b.input(in_shape)
    k = in_shape[-1]
    out = in_shape[:-1] + (cout,) if keep else (int(np.prod(in_shape)) // k, cout)
    y = b.op("FULLY_CONNECTED", [x, b.weights((cout, k)), b.weights((cout,)) if bias else None], out,
             fused_activation_function=act, keep_num_dims=keep)
    return b.done(y)


def _mean(keep):
    b = Builder(f"mean_keep{int(keep)}")
    x = b.input((1, 5, 6, 4))
    return b.done(b.op("MEAN", [x, b.const(np.array([1, 2], np.int32))], (1, 1, 1, 4) if keep else (1, 4),
                       keep_dims=keep))


def _shape_ops():
    cases = {}
    b = Builder("reshape")
    x = b.input((1, 2, 3, 4))
    cases["reshape"] = b.done(b.op("RESHAPE", [x, b.const(np.array([1, -1], np.int32))], (1, 24), new_shape=[1, -1]))
    b = Builder("squeeze")
    x = b.input((1, 1, 1, 6))
    cases["squeeze"] = b.done(b.op("SQUEEZE", [x], (1, 6), squeeze_dims=[1, 2]))
    b = Builder("expand_dims")
    x = b.input((1, 6))
    cases["expand_dims"] = b.done(b.op("EXPAND_DIMS", [x, b.const(np.array([1], np.int32))], (1, 1, 6)))
    b = Builder("transpose")
    x = b.input((1, 2, 3, 4))
    cases["transpose"] = b.done(b.op("TRANSPOSE", [x, b.const(np.array([0, 3, 1, 2], np.int32))], (1, 4, 2, 3)))
    b = Builder("concatenation")
    x, y = b.input((1, 3, 3, 2)), b.input((1, 3, 3, 5))
    cases["concatenation"] = b.done(b.op("CONCATENATION", [x, y, b.weights((1, 3, 3, 1))], (1, 3, 3, 8), axis=3))
    b = Builder("concat_neg_axis")
    x, y = b.input((1, 2, 3)), b.input((1, 4, 3))
    cases["concat_neg_axis"] = b.done(b.op("CONCATENATION", [x, y], (1, 6, 3), axis=-2))
    b = Builder("pad")
    x = b.input((1, 3, 4, 2))
    cases["pad"] = b.done(b.op("PAD", [x, b.const(np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32))],
                               (1, 6, 5, 2)))
    b = Builder("padv2")
    x = b.input((1, 3, 4, 2))
    cases["padv2"] = b.done(b.op("PADV2", [x, b.const(np.array([[0, 0], [2, 0], [1, 1], [0, 0]], np.int32)),
                                           b.const(np.array([-1.5], np.float32))], (1, 5, 6, 2)))
    b = Builder("strided_slice")
    x = b.input((1, 6, 7, 4))
    cases["strided_slice"] = b.done(b.op(
        "STRIDED_SLICE", [x, b.const(np.array([0, 1, -1, 0], np.int32)), b.const(np.array([1, 6, 0, 3], np.int32)),
                          b.const(np.array([1, 2, -2, 1], np.int32))], (1, 3, 3, 3),
        begin_mask=0, end_mask=0, shrink_axis_mask=0))
    b = Builder("strided_slice_masks")
    x = b.input((1, 6, 7, 4))
    cases["strided_slice_masks"] = b.done(b.op(
        "STRIDED_SLICE", [x, b.const(np.array([0, 2, 3, 1], np.int32)), b.const(np.array([0, 5, 0, 2], np.int32)),
                          b.const(np.array([1, 1, 1, 1], np.int32))], (1, 3, 7),
        begin_mask=0b0101, end_mask=0b0101, shrink_axis_mask=0b1000))
    return cases


def _softmax():
    b = Builder("softmax")
    x = b.input((1, 3, 10), 4.0)
    return b.done(b.op("SOFTMAX", [x], (1, 3, 10), beta=0.7))


def _batch_matmul():
    b = Builder("batch_matmul")
    x = b.input((1, 3, 4, 5))
    return b.done(b.op("BATCH_MATMUL", [x, b.weights((1, 3, 6, 5))], (1, 3, 4, 6), adj_x=False, adj_y=True))


def _quant_roundtrip():
    b = Builder("quantize_dequantize")
    x = b.input((1, 4, 4, 3), 2.0)
    q = b.op("QUANTIZE", [x], (1, 4, 4, 3), dtype="int8", quant=QuantParams([0.05], [3]))
    return b.done(b.op("DEQUANTIZE", [q], (1, 4, 4, 3)))


def _prelu():
    b = Builder("prelu")
    x = b.input((1, 4, 5, 3), 2.0)
    return b.done(b.op("PRELU", [x, b.const(np.array([0.1, -0.3, 0.5], np.float32))], (1, 4, 5, 3)))


def _small_cnn():
    """conv -> depthwise -> pool -> reshape -> fc -> softmax: a model in miniature, with batch-1 reshapes."""
    b = Builder("small_cnn")
    x = b.input((1, 12, 12, 3))
    c = b.op("CONV_2D", [x, b.weights((8, 3, 3, 3)), b.weights((8,))], (1, 6, 6, 8), padding="SAME", stride_h=2,
             stride_w=2, fused_activation_function="RELU6")
    d = b.op("DEPTHWISE_CONV_2D", [c, b.weights((1, 3, 3, 8)), b.weights((8,))], (1, 6, 6, 8), padding="SAME",
             stride_h=1, stride_w=1, depth_multiplier=1, fused_activation_function="RELU")
    a = b.op("ADD", [c, d], (1, 6, 6, 8), fused_activation_function="NONE")
    p = b.op("AVERAGE_POOL_2D", [a], (1, 1, 1, 8), padding="VALID", stride_h=6, stride_w=6, filter_height=6,
             filter_width=6)
    r = b.op("RESHAPE", [p, b.const(np.array([1, 8], np.int32))], (1, 8))
    f = b.op("FULLY_CONNECTED", [r, b.weights((4, 8)), b.weights((4,))], (1, 4))
    return b.done(b.op("SOFTMAX", [f], (1, 4), beta=1.0))


def cases() -> dict[str, tuple[Graph, list[np.ndarray]]]:
    c = {
        "conv_same_relu": _conv("conv_same_relu", (7, 7), 3, 4, (3, 3), 1, "SAME", "RELU"),
        "conv_valid_s2_relu6": _conv("conv_valid_s2_relu6", (11, 9), 3, 5, (5, 3), 2, "VALID", "RELU6"),
        "conv_same_s2_even": _conv("conv_same_s2_even", (8, 8), 4, 6, (3, 3), 2, "SAME", "RELU_N1_TO_1"),
        "conv_dilated": _conv("conv_dilated", (9, 9), 2, 3, (3, 3), 1, "SAME", dil=2),
        "conv_1x1": _conv("conv_1x1", (5, 5), 6, 4, (1, 1), 1, "VALID"),
        "dw_same": _dw("dw_same", 7, 4, 1, 3, 1, "SAME", "RELU6"),
        "dw_s2_even": _dw("dw_s2_even", 8, 3, 1, 3, 2, "SAME"),
        "dw_mult2_valid": _dw("dw_mult2_valid", 7, 3, 2, 3, 1, "VALID", "RELU"),
        "dw_dilated": _dw("dw_dilated", 9, 2, 1, 3, 1, "SAME", dil=2),
        "maxpool_same": _pool("maxpool_same", "MAX_POOL_2D", 7, 3, 2, "SAME"),
        "avgpool_same": _pool("avgpool_same", "AVERAGE_POOL_2D", 7, 3, 2, "SAME", "RELU"),
        "avgpool_valid": _pool("avgpool_valid", "AVERAGE_POOL_2D", 8, 2, 2, "VALID"),
        "fc": _fc("fc", (1, 16), 5, act="RELU"),
        "fc_flatten": _fc("fc_flatten", (1, 2, 2, 4), 3, bias=False),
        "fc_keep_dims": _fc("fc_keep_dims", (1, 3, 8), 4, keep=True),
        "add_bcast_const": _binary("ADD", (3,), "RELU", const=True),
        "sub_bcast": _binary("SUB", (1, 1, 1, 3), "RELU6"),
        "mul": _binary("MUL", (1, 4, 5, 3)),
        "div_const": _binary("DIV", (1, 1, 5, 1), const=True, positive=True),
        "maximum": _binary("MAXIMUM", (1, 4, 5, 3)),
        "minimum": _binary("MINIMUM", (3,), const=True),
        "relu": _unary("RELU"),
        "relu6": _unary("RELU6", 6.0),
        "relu_n1_to_1": _unary("RELU_N1_TO_1"),
        "leaky_relu": _unary("LEAKY_RELU", alpha=0.2),
        "logistic": _unary("LOGISTIC", 8.0),
        "tanh": _unary("TANH"),
        "hard_swish": _unary("HARD_SWISH", 5.0),
        "prelu": _prelu(),
        "mean_keep": _mean(True),
        "mean": _mean(False),
        "softmax": _softmax(),
        "batch_matmul": _batch_matmul(),
        "quantize_dequantize": _quant_roundtrip(),
        "small_cnn": _small_cnn(),
    }
    c.update(_shape_ops())
    return c
