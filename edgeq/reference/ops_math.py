"""Float element-wise ops, activations, SOFTMAX, reductions and QUANTIZE/DEQUANTIZE with TFLite semantics."""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.reference.kernels import Ctx, const_int_list, fused, kernel

_BINARY = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide,
           "MAXIMUM": np.maximum, "MINIMUM": np.minimum, "SQUARED_DIFFERENCE": None}


@kernel(*_BINARY)
def binary(ctx: Ctx):
    a, b = ctx.args[:2]
    if ctx.op.type == "SQUARED_DIFFERENCE":
        y = np.square(a - b)
    else:
        y = _BINARY[ctx.op.type](a, b)
    y = np.asarray(y, dtype=np.result_type(a, b))
    if not y.flags.writeable or y is a or y is b:
        y = y.copy()
    return fused(y, ctx.opt.get("fused_activation_function"), ctx.where())


@kernel("RELU")
def relu(ctx: Ctx):
    return np.maximum(ctx.args[0], 0)


@kernel("RELU6")
def relu6(ctx: Ctx):
    return np.clip(ctx.args[0], 0, 6)


@kernel("RELU_N1_TO_1")
def relu_n1_to_1(ctx: Ctx):
    return np.clip(ctx.args[0], -1, 1)


@kernel("RELU_0_TO_1")
def relu_0_to_1(ctx: Ctx):
    return np.clip(ctx.args[0], 0, 1)


@kernel("LEAKY_RELU")
def leaky_relu(ctx: Ctx):
    x = ctx.args[0]
    alpha = np.float32(ctx.opt.get("alpha", 0.0))
    return np.where(x >= 0, x, x * alpha)


@kernel("PRELU")
def prelu(ctx: Ctx):
    x, alpha = ctx.args[:2]
    return np.where(x >= 0, x, x * alpha).astype(x.dtype)


@kernel("LOGISTIC")
def logistic(ctx: Ctx):
    x = ctx.args[0].astype(np.float32)
    # split by sign so exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


@kernel("TANH")
def tanh(ctx: Ctx):
    return np.tanh(ctx.args[0])


@kernel("HARD_SWISH")
def hard_swish(ctx: Ctx):
    x = ctx.args[0]
    return x * np.clip(x + 3, 0, 6) / np.float32(6)


@kernel("EXP")
def exp(ctx: Ctx):
    return np.exp(ctx.args[0])


@kernel("ABS")
def abs_(ctx: Ctx):
    return np.abs(ctx.args[0])


@kernel("NEG")
def neg(ctx: Ctx):
    return np.negative(ctx.args[0])


@kernel("SQRT")
def sqrt(ctx: Ctx):
    return np.sqrt(ctx.args[0])


@kernel("RSQRT")
def rsqrt(ctx: Ctx):
    return np.float32(1) / np.sqrt(ctx.args[0])


@kernel("SOFTMAX")
def softmax(ctx: Ctx):
    x = ctx.args[0]
    beta = np.float32(ctx.opt.get("beta", 1.0))
    z = (x - x.max(axis=-1, keepdims=True)) * beta
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@kernel("LOG_SOFTMAX")
def log_softmax(ctx: Ctx):
    x = ctx.args[0]
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


_REDUCE = {"MEAN": np.mean, "SUM": np.sum, "REDUCE_MAX": np.max, "REDUCE_MIN": np.min, "REDUCE_PROD": np.prod}


@kernel(*_REDUCE)
def reduce(ctx: Ctx):
    x, axes = ctx.args[:2]
    axes = tuple(sorted({a % x.ndim for a in const_int_list(axes, ctx.where(), "axis")}))
    y = _REDUCE[ctx.op.type](x, axis=axes, keepdims=bool(ctx.opt.get("keep_dims", False)))
    return np.asarray(y, dtype=x.dtype)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@kernel("QUANTIZE")
def quantize(ctx: Ctx):
    """Float (or integer, for requantization) in -> integers in the output tensor's dtype."""
    x = ctx.args[0]
    out = ctx.out_tensor()
    q = out.quant
    if q is None:
        raise UnsupportedError(f"{ctx.where()}: QUANTIZE output has no quantization parameters")
    src = ctx.graph.tensors[ctx.op.inputs[0]]
    if src.quant is not None and x.dtype.kind in "iu":
        x = (x.astype(np.float64) - _bcast(src.quant.zero_point, src.quant, x.ndim)) * _bcast(src.quant.scale, src.quant, x.ndim)
    # float32 division as LiteRT does, so values on a .5 boundary round the same way
    scale = _bcast(q.scale, q, x.ndim).astype(np.float32)
    zp = _bcast(q.zero_point, q, x.ndim)
    info = np.iinfo(out.dtype if out.dtype != "int4" else "int8")
    lo, hi = (-8, 7) if out.dtype == "int4" else (info.min, info.max)
    v = _round_half_away(x.astype(np.float32) / scale).astype(np.float64) + zp
    return np.clip(v, lo, hi).astype(out.dtype if out.dtype != "int4" else "int8")


@kernel("DEQUANTIZE")
def dequantize(ctx: Ctx):
    x = ctx.args[0]
    src = ctx.graph.tensors[ctx.op.inputs[0]]
    if src.quant is None:  # float16 -> float32
        return x.astype(np.float32)
    q = src.quant
    return ((x.astype(np.float64) - _bcast(q.zero_point, q, x.ndim)) * _bcast(q.scale, q, x.ndim)).astype(np.float32)


def _bcast(v: np.ndarray, q, ndim: int) -> np.ndarray:
    if not q.per_channel:
        return np.asarray(v).reshape(()).astype(np.float64)
    if q.axis >= ndim:
        raise UnsupportedError(f"quantized axis {q.axis} out of range for rank {ndim}")
    return np.asarray(v, dtype=np.float64).reshape(q.broadcast_shape(ndim))
