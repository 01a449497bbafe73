"""Small multi-op INT8 models (built with the IR and edgeq's writer) for the compare / analyze / generate tests."""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.model.tflite_io import write_tflite


def _q(scale, zp=0, axis=0) -> QuantParams:
    return QuantParams(np.atleast_1d(scale), np.atleast_1d(zp), axis)


def _conv_weights(g: Graph, name: str, shape, in_scale: float, rng, axis: int = 0):
    oc = shape[axis]
    ws = rng.uniform(0.002, 0.02, oc).astype(np.float32)
    g.add_const(f"{name}_w", rng.integers(-127, 128, shape).astype(np.int8), _q(ws, np.zeros(oc, np.int64), axis))
    g.add_const(f"{name}_b", rng.integers(-3000, 3000, oc).astype(np.int32),
                _q(in_scale * ws, np.zeros(oc, np.int64), 0))
    return [f"{name}_w", f"{name}_b"]


def small_cnn(seed: int = 0) -> bytes:
    """x [1,8,8,3] -> CONV_2D 3x3 SAME (4 ch, RELU) [1,8,8,4] -> DEPTHWISE 3x3 VALID, multiplier 2 [1,6,6,8]
    -> AVERAGE_POOL 2x2 stride 2 [1,3,3,8] -> RESHAPE [1,72] -> FULLY_CONNECTED [1,10] -> SOFTMAX [1,10]."""
    r = np.random.default_rng(seed)
    g = Graph("small_cnn")
    g.add_tensor(Tensor("x", (1, 8, 8, 3), "int8", quant=_q(0.05, 3)))
    g.add_tensor(Tensor("c", (1, 8, 8, 4), "int8", quant=_q(0.08, -128)))
    g.add_tensor(Tensor("d", (1, 6, 6, 8), "int8", quant=_q(0.1, -5)))
    g.add_tensor(Tensor("p", (1, 3, 3, 8), "int8", quant=_q(0.1, -5)))
    g.add_tensor(Tensor("f", (1, 72), "int8", quant=_q(0.1, -5)))
    g.add_tensor(Tensor("l", (1, 10), "int8", quant=_q(0.2, 4)))
    g.add_tensor(Tensor("y", (1, 10), "int8", quant=_q(1 / 256, -128)))
    g.add_const("shape", np.array([1, 72], np.int32))
    conv = dict(padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1)
    g.add_op(Op("CONV_2D", ["x", *_conv_weights(g, "conv", (4, 3, 3, 3), 0.05, r)], ["c"],
                {**conv, "fused_activation_function": "RELU"}))
    g.add_op(Op("DEPTHWISE_CONV_2D", ["c", *_conv_weights(g, "dw", (1, 3, 3, 8), 0.08, r, axis=3)], ["d"],
                {**conv, "padding": "VALID", "depth_multiplier": 2, "fused_activation_function": "NONE"}))
    g.add_op(Op("AVERAGE_POOL_2D", ["d"], ["p"], dict(padding="VALID", stride_w=2, stride_h=2, filter_width=2,
                                                      filter_height=2, fused_activation_function="NONE")))
    g.add_op(Op("RESHAPE", ["p", "shape"], ["f"], {"new_shape": [1, 72]}))
    g.add_const("fc_w", r.integers(-127, 128, (10, 72)).astype(np.int8), _q(0.01))
    g.add_const("fc_b", r.integers(-2000, 2000, 10).astype(np.int32), _q(0.1 * 0.01))
    g.add_op(Op("FULLY_CONNECTED", ["f", "fc_w", "fc_b"], ["l"], {"fused_activation_function": "NONE"}))
    g.add_op(Op("SOFTMAX", ["l"], ["y"], {"beta": 1.0}))
    g.inputs, g.outputs = ["x"], ["y"]
    return write_tflite(g)


# The hand count of small_cnn's MACs, op by op (out elements x window/inner depth).
SMALL_CNN_MACS = [
    8 * 8 * 4 * (3 * 3 * 3),  # CONV_2D
    6 * 6 * 8 * (3 * 3),      # DEPTHWISE_CONV_2D
    3 * 3 * 8 * (2 * 2),      # AVERAGE_POOL_2D
    0,                        # RESHAPE
    10 * 72,                  # FULLY_CONNECTED
    10,                       # SOFTMAX
]


def pool_conv(seed: int = 0, hw: int = 16, c: int = 8, oc: int = 16) -> bytes:
    """x [1,hw,hw,c] -> MAX_POOL 2x2 stride 1 SAME -> CONV_2D 3x3 SAME per-channel (RELU) [1,hw,hw,oc]. LiteRT
    with XNNPACK rounds this conv differently from the reference kernels; the pool matches."""
    r = np.random.default_rng(seed)
    g = Graph("pool_conv")
    g.add_tensor(Tensor("x", (1, hw, hw, c), "int8", quant=_q(0.05, 3)))
    g.add_tensor(Tensor("p", (1, hw, hw, c), "int8", quant=_q(0.05, 3)))
    g.add_tensor(Tensor("y", (1, hw, hw, oc), "int8", quant=_q(0.11, -7)))
    g.add_op(Op("MAX_POOL_2D", ["x"], ["p"], dict(padding="SAME", stride_w=1, stride_h=1, filter_width=2,
                                                  filter_height=2, fused_activation_function="NONE")))
    g.add_op(Op("CONV_2D", ["p", *_conv_weights(g, "conv", (oc, 3, 3, c), 0.05, r)], ["y"],
                dict(padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1,
                     fused_activation_function="RELU")))
    g.inputs, g.outputs = ["x"], ["y"]
    return write_tflite(g)
