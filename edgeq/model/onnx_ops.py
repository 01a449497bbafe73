"""Per-op translation of ONNX nodes into TFLite-semantics IR ops (NHWC), used by ``onnx_import``: the handler
registry, elementwise ops, activations, BatchNormalization and matrix products (conv/pool and shape ops live
in onnx_ops_window and onnx_ops_shape).

Each handler reads its node through the Converter ``cv`` (shapes and constants in ONNX layout), asks for
its inputs in the layout it needs (``cv.get``) and binds its outputs with the layout it produced."""
from __future__ import annotations

import math

import numpy as np

from .onnx_import import Converter, canonical
from .onnx_prep import ONode, bn_scale_shift

HANDLERS: dict = {}


def handles(*ops):
    def deco(fn):
        for o in ops:
            HANDLERS[o] = fn
        return fn
    return deco


def _axis(cv: Converter, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise cv.unsupported(f"axis {axis} out of range for rank {rank}")
    return axis % rank


# elementwise --------------------------------------------------------------------------------------------
_UNARY = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
          "Exp": "EXP", "Abs": "ABS", "Neg": "NEG", "Sqrt": "SQRT"}


def _unary(cv: Converter, type_: str, x: str, out: str | None = None, **options) -> str:
    """Elementwise op: works in whatever layout its input already has."""
    perm = cv.layout_of(x)
    src = cv.get(x, perm)
    dst = out or cv.output(0, perm)
    cv.emit(type_, [src], [dst], **options)
    return dst


@handles(*_UNARY)
def _simple_unary(cv, n: ONode):
    _unary(cv, _UNARY[n.op], n.inputs[0])


@handles("LeakyRelu")
def _leaky(cv, n):
    _unary(cv, "LEAKY_RELU", n.inputs[0], alpha=float(n.attrs.get("alpha", 0.01)))


def _clip_bounds(cv, n) -> tuple[float, float]:
    if cv.og.opset < 11:
        return float(n.attrs.get("min", -np.inf)), float(n.attrs.get("max", np.inf))
    lo = cv.need_const(cv.input(1), "Clip min") if cv.input(1) else np.float32(-np.inf)
    hi = cv.need_const(cv.input(2), "Clip max") if cv.input(2) else np.float32(np.inf)
    return float(lo), float(hi)


@handles("Clip")
def _clip(cv, n):
    lo, hi = _clip_bounds(cv, n)
    x = n.inputs[0]
    named = {(0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1", (0.0, math.inf): "RELU"}
    if (lo, hi) in named:
        _unary(cv, named[(lo, hi)], x)
        return
    perm = cv.layout_of(x)
    cur = cv.get(x, perm)
    steps = [(t, v) for t, v in (("MAXIMUM", lo), ("MINIMUM", hi)) if math.isfinite(v)]
    if not steps:
        cv.bind(n.outputs[0], cur, perm)
        return
    for k, (t, v) in enumerate(steps):
        last = k == len(steps) - 1
        dst = cv.output(0, perm) if last else cv.new_tensor(f"{n.outputs[0]}_lo", cv.ir_shape(cur))
        cv.emit(t, [cur, cv.add_const(f"{n.name}/{t.lower()}", np.float32(v))], [dst])
        cur = dst


@handles("HardSigmoid")
def _hard_sigmoid(cv, n):
    # max(0, min(1, a*x + b)) == RELU6(6a*x + 6b) / 6
    a, b = float(n.attrs.get("alpha", 0.2)), float(n.attrs.get("beta", 0.5))
    perm = cv.layout_of(n.inputs[0])
    cur = cv.get(n.inputs[0], perm)
    shape = cv.ir_shape(cur)
    if abs(6 * a - 1) > 1e-7:
        scaled = cv.new_tensor(f"{n.outputs[0]}_scaled", shape)
        cv.emit("MUL", [cur, cv.add_const(f"{n.name}/scale", np.float32(6 * a))], [scaled],
                fused_activation_function="NONE")
        cur = scaled
    clipped = cv.new_tensor(f"{n.outputs[0]}_relu6", shape)
    cv.emit("ADD", [cur, cv.add_const(f"{n.name}/shift", np.float32(6 * b))], [clipped],
            fused_activation_function="RELU6")
    cv.emit("MUL", [clipped, cv.add_const(f"{n.name}/sixth", np.float32(1 / 6))], [cv.output(0, perm)],
            fused_activation_function="NONE")


def _shared_layout(cv, names, rank) -> tuple[int, ...]:
    """The layout for an op over ``names``: the one every full-rank activation operand already has (so a
    row-major 4-D result of MatMul stays row-major through Add), else the canonical one."""
    acts = [x for x in names if x and cv.const(x) is None]
    layouts = {cv.layout_of(x) for x in acts}
    if len(layouts) == 1 and all(len(cv.shape(x)) == rank for x in acts):
        return layouts.pop()
    return canonical(rank)


_BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV", "Max": "MAXIMUM", "Min": "MINIMUM"}


@handles(*_BINARY)
def _binary(cv, n):
    if len(n.inputs) != 2:
        raise cv.unsupported(f"{len(n.inputs)} inputs (edgeq takes 2)")
    rank = len(cv.shape(n.outputs[0]))
    a, b = n.inputs
    perm = _shared_layout(cv, [a, b], rank)
    type_ = _BINARY[n.op]
    divisor = cv.const(b) if n.op == "Div" else None
    if divisor is not None and divisor.dtype.kind == "f":
        type_ = "MUL"  # division by a constant: multiply by its reciprocal
        rb = cv.const_bcast(f"{n.name}/reciprocal", (1.0 / divisor.astype(np.float64)).astype(np.float32), rank, perm)
    else:
        rb = cv.get_bcast(b, rank, perm)
    opts = {} if type_ in ("MAXIMUM", "MINIMUM") else {"fused_activation_function": "NONE"}
    cv.emit(type_, [cv.get_bcast(a, rank, perm), rb], [cv.output(0, perm)], **opts)


@handles("PRelu")
def _prelu(cv, n):
    rank = len(cv.shape(n.outputs[0]))
    perm = canonical(rank)
    slope = cv.const(n.inputs[1])
    if slope is not None:
        # ONNX slopes are often [C, 1, 1]: broadcast to the full rank so the channel lands on the NHWC axis.
        s = np.broadcast_to(slope.reshape((1,) * (rank - slope.ndim) + slope.shape), (1,) * rank) \
            if slope.size == 1 else slope
        alpha = cv.const_bcast(f"{n.name}/alpha", np.asarray(s, np.float32), rank, perm)
    else:
        alpha = cv.get_bcast(n.inputs[1], rank, perm)
    cv.emit("PRELU", [cv.get_bcast(n.inputs[0], rank, perm), alpha], [cv.output(0, perm)])


@handles("BatchNormalization")
def _batchnorm(cv, n):
    """A BatchNormalization that could not be folded into a Conv/Gemm: y = x*s + t per channel (axis 1)."""
    st = bn_scale_shift(cv.og, n)
    if st is None:
        raise cv.unsupported("scale, bias, mean and variance must be constants")
    if len([o for o in n.outputs if o]) > 1:
        raise cv.unsupported("training-mode outputs (running mean/var) are not supported")
    s, t = st
    x = n.inputs[0]
    rank = len(cv.shape(x))
    perm = cv.layout_of(x)
    chan = (1, -1) + (1,) * (rank - 2)
    scaled = cv.new_tensor(f"{n.outputs[0]}_scaled", cv.ir_shape(cv.get(x, perm)))
    cv.emit("MUL", [cv.get(x, perm), cv.const_bcast(f"{n.name}/scale", s.reshape(chan), rank, perm)], [scaled],
            fused_activation_function="NONE")
    cv.emit("ADD", [scaled, cv.const_bcast(f"{n.name}/shift", t.reshape(chan), rank, perm)], [cv.output(0, perm)],
            fused_activation_function="NONE")


# matrix products ----------------------------------------------------------------------------------------
def _fully_connected(cv, x_ir: str, weights: np.ndarray, bias: np.ndarray, out: str, name: str, keep: bool):
    cv.emit("FULLY_CONNECTED", [x_ir, cv.add_const(f"{name}/weights", weights.astype(np.float32)),
                                cv.add_const(f"{name}/bias", bias.astype(np.float32))], [out],
            fused_activation_function="NONE", weights_format="DEFAULT", keep_num_dims=keep,
            asymmetric_quantize_inputs=False)


@handles("Gemm")
def _gemm(cv, n):
    a, b = n.inputs[0], n.inputs[1]
    alpha, beta = float(n.attrs.get("alpha", 1.0)), float(n.attrs.get("beta", 1.0))
    ta, tb = int(n.attrs.get("transA", 0)), int(n.attrs.get("transB", 0))
    if len(cv.shape(a)) != 2:
        raise cv.unsupported("A must be 2-D")
    x = cv.get(a, (1, 0) if ta else (0, 1))  # transA: the IR tensor is A transposed
    c = cv.const(cv.input(2))
    if cv.input(2) and c is None:
        raise cv.unsupported("C must be a constant")
    m, nout = cv.shape(n.outputs[0])
    w = cv.const(b)
    if w is None:
        raise cv.unsupported("B must be a constant (edgeq maps Gemm to FULLY_CONNECTED)")
    w = (w if tb else w.T).astype(np.float64) * alpha
    bias, extra = np.zeros(nout), None
    if c is not None:
        c = c.astype(np.float64) * beta
        if c.size in (1, nout) and (c.ndim < 2 or c.shape[0] == 1):
            bias = np.broadcast_to(c.reshape(-1), (nout,))
        else:
            extra = c
    if extra is None:
        _fully_connected(cv, x, w, bias, cv.output(), n.name, False)
        return
    mid = cv.new_tensor(f"{n.outputs[0]}_mm", (m, nout))
    _fully_connected(cv, x, w, bias, mid, n.name, False)
    cv.emit("ADD", [mid, cv.const_bcast(f"{n.name}/c", extra, 2, (0, 1))], [cv.output()],
            fused_activation_function="NONE")


@handles("MatMul")
def _matmul(cv, n):
    a, b = n.inputs
    sa, sb = cv.shape(a), cv.shape(b)
    if len(sa) < 2 or len(sb) < 2:
        raise cv.unsupported("1-D operands are not supported")
    out_rank = len(cv.shape(n.outputs[0]))
    ident = tuple(range(out_rank))
    w = cv.const(b)
    x = cv.get_bcast(a, len(sa), tuple(range(len(sa))))
    out = cv.output(0, ident)  # row-major result; consumers wanting NHWC get a transpose only if they need one
    if w is not None and w.ndim == 2:
        _fully_connected(cv, x, w.T, np.zeros(w.shape[1]), out, n.name, len(sa) > 2)
    else:
        y = cv.get(b, tuple(range(len(sb))))
        cv.emit("BATCH_MATMUL", [x, y], [out], adj_x=False, adj_y=False, asymmetric_quantize_inputs=False)


# handlers of the other families register themselves on import
from . import onnx_ops_shape, onnx_ops_window  # noqa: E402,F401
