"""Numpy integer executor of quantized graphs with the arithmetic of runtime_c / LiteRT's reference kernels.

The oracle where LiteRT has no kernel (INT4 depthwise, mixed-precision graphs): int8 activations, 16x8
(int16 activations, int8 weights, int64 bias) and INT4 weights (the IR keeps them as int8 arrays, so they
run exactly like int8 weights). Every op computes its integer result exactly: accumulations go through
float64 matrix products, which are exact while |sum| < 2^53 (int16 x int8 x 2^20 terms is far below), and
requantization is gemmlowp's fixed-point arithmetic on int64 arrays, with C's int32/int16 wrap-around
written out where the kernels rely on it.

This module holds the executor, the dispatch and the fixed-point core; the ops live by family in
int_ops_matmul (conv, depthwise, FC, pools), int_ops_elementwise (ADD, SUB, MUL, MAXIMUM, MINIMUM,
PRELU, MEAN), int_ops_activation (RELU, RELU6, LEAKY_RELU, HARD_SWISH, LOGISTIC, TANH), int_ops_softmax
and int_ops_shape (QUANTIZE, DEQUANTIZE, reshapes, TRANSPOSE, PAD, CONCATENATION, STRIDED_SLICE).

    run_int(graph, inputs, capture=False) -> list of outputs (or a dict of every activation)
    supported_ops() -> the op types it runs on integer tensors
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph, Op, Tensor
from edgeq.reference.float_exec import batchable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "uint8": (0, 255), "int32": (I32_MIN, I32_MAX)}


# fixed-point arithmetic ------------------------------------------------------------------------------------
def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier Q0.31, shift) with real = multiplier * 2^(shift - 31), as runtime_c / TFLite compute it."""
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, e = np.frexp(real)
    q_fixed = _round_half_away(float(q) * 2147483648.0)
    if q_fixed == 2**31:
        q_fixed //= 2
        e += 1
    if e < -31:
        return 0, 0
    return int(q_fixed), int(e)


def _round_half_away(x):
    """C's round(): halves away from zero (numpy's rounds them to even), as truncation plus a comparison of
    the exact fraction (|x| + 0.5 would itself round: 0.49999997f + 0.5f == 1.0f)."""
    scalar = np.isscalar(x)
    x = np.asarray(x, np.float64)
    t = np.trunc(x)
    frac = x - t  # exact, as in runtime_c's truncate-and-compare rounding
    r = t + (frac >= 0.5) - (frac <= -0.5)
    return int(r) if scalar else r


def _srdhm(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.abs(s) >> 31  # C division truncates toward zero
    r = np.where(s >= 0, q, -q)
    return np.where((a == I32_MIN) & (b == I32_MIN), I32_MAX, r)


def _rdbp(x: np.ndarray, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT (exponent >= 0, scalar or broadcastable array)."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """C's cast to int32 (two's complement wrap-around)."""
    return ((np.asarray(x, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def _wrap16(x):
    """C's cast to int16."""
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def clamp(x, lo, hi) -> np.ndarray:
    """runtime_c's eq_clamp32: below lo gives lo, else above hi gives hi (np.clip differs when lo > hi)."""
    x = np.asarray(x, np.int64)
    return np.where(x < lo, lo, np.where(x > hi, hi, x))


def mul_by_qm(x, mult, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int32 x: left shift, high multiply, rounding right shift."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return _rdbp(_srdhm(_wrap32(np.asarray(x, np.int64) << left), mult), right)


def mul_by_qm_single(x, mult, shift) -> np.ndarray:
    """round(x * m / 2^(31 - shift)) in 64 bits, exact ties away from zero (LiteRT's int8 FULLY_CONNECTED
    requantization; the two-step form rounds them differently)."""
    total = 31 - np.asarray(shift, np.int64)
    p = np.asarray(x, np.int64) * np.asarray(mult, np.int64)
    half = np.int64(1) << (total - 1)
    return (p + np.where(p < 0, half - 1, half)) >> total


def mul_by_qm_64(x, mult, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier for int64 accumulators (16x8 ops): the multiplier is reduced
    to 16 bits so that the product stays within 64 bits; x is clamped to the 48 bits LiteRT assumes and the
    result saturates to int32, as runtime_c does."""
    mult = np.asarray(mult, np.int64)
    reduced = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    x = np.clip(np.asarray(x, np.int64), -(2**47), 2**47 - 1)
    return np.clip((x * reduced + (np.int64(1) << (total - 1))) >> total, I32_MIN, I32_MAX)


def round_half_away_f64(x) -> np.ndarray:
    """std::round of doubles to int64 (half away from zero), saturating at 2^62 and NaN -> 0 as runtime_c."""
    x = np.nan_to_num(np.asarray(x, np.float64), nan=0.0)
    r = np.where(np.abs(x) >= 4.6e18, np.sign(x) * 2.0**62, _round_half_away(x))
    return r.astype(np.int64)


def _qm_arrays(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(r) for r in np.atleast_1d(reals)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def checked_log2(x: float) -> int | None:
    """TFLite's CheckedLog2 as runtime_c writes it: the integer log2 of x when x is a power of two within
    2^(+-0.001), else None (decides the int16 shift-only paths)."""
    x = float(np.float32(x))
    if not x > 0.0:
        return None
    m, e = np.frexp(x)
    if m < 0.70710678118654752:
        m, e = m * 2.0, e - 1
    return int(e) if 0.99930709299 < m < 1.00069338746 else None


# helpers -----------------------------------------------------------------------------------------------
def _scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def _act_range(act: str, t: Tensor) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized (zero point + round(f / scale), the division in float)."""
    lo, hi = RANGES[t.dtype]
    s, z = np.float32(_scale(t)), _zp(t)

    def q(f):
        return z + _round_half_away(float(np.float32(f) / s))

    if act in ("RELU", "RELU6"):
        lo = max(lo, q(0.0))
    if act == "RELU6":
        hi = min(hi, q(6.0))
    if act == "RELU_N1_TO_1":
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    elif act not in ("NONE", "RELU", "RELU6", None):
        raise UnsupportedError(f"fused activation {act} has no integer form")
    return min(lo, RANGES[t.dtype][1]), max(hi, RANGES[t.dtype][0])


def _fused_range(op: Op, t: Tensor) -> tuple[int, int]:
    return _act_range(op.options.get("fused_activation_function", "NONE"), t)


def _pad_amounts(in_size: int, out_size: int, k: int, stride: int, dil: int, padding: str) -> int:
    if padding == "VALID":
        return 0
    eff = (k - 1) * dil + 1
    return max((out_size - 1) * stride + eff - in_size, 0) // 2


def _patches(x: np.ndarray, kh: int, kw: int, oh: int, ow: int, sh: int, sw: int, dh: int, dw: int,
             ph: int, pw: int) -> np.ndarray:
    """[n, oh, ow, kh, kw, c] windows of a zero-padded input (x already has its zero point removed)."""
    n, h, w, c = x.shape
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.zeros((n, max(need_h, h + ph), max(need_w, w + pw), c), x.dtype)
    xp[:, ph:ph + h, pw:pw + w] = x
    out = np.empty((n, oh, ow, kh, kw, c), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j] = xp[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
    return out


def require(cond: bool, op: Op, what: str) -> None:
    """Refuse, as runtime_c does, a form of an op whose result the reference would only guess."""
    if not cond:
        raise UnsupportedError(f"{op}: {what} (output {op.outputs[0]!r})")


# the executor ------------------------------------------------------------------------------------------
class _Run:
    def __init__(self, graph: Graph):
        self.g = graph
        self.v: dict[str, np.ndarray] = {}

    def t(self, name: str) -> Tensor:
        return self.g.tensors[name]

    def val(self, name: str | None) -> np.ndarray | None:
        if name is None:
            return None
        if name in self.v:
            return self.v[name]
        return self.t(name).data

    def stacked(self, name: str) -> int:
        """How many samples a value holds stacked on axis 0 beyond its graph shape (1 when run alone)."""
        x, shape = self.val(name), self.t(name).shape
        n = int(np.prod(shape)) if shape else 1
        return x.size // n if n and shape and shape[0] == 1 else 1

    def _out_shape(self, op: Op, size: int) -> tuple[int, ...]:
        shape = self.t(op.outputs[0]).shape
        n = int(np.prod(shape)) if shape else 1
        if n == size:
            return shape
        return (size // max(n // shape[0], 1),) + tuple(shape[1:])  # several samples stacked on axis 0

    def run(self, op: Op) -> np.ndarray:
        if op.type not in ("QUANTIZE", "DEQUANTIZE") and all(
                self.t(n).dtype == "float32" for n in [op.inputs[0]] + op.outputs if n is not None):
            return self._float_op(op)  # float islands of mixed-precision graphs: TFLite float semantics
        fn = _dispatch().get(op.type)
        if fn is None:
            raise UnsupportedError(f"{op}: op {op.type} is not supported by the integer reference "
                                   f"(output {op.outputs[0]!r})")
        y = fn(self, op)
        out_t = self.t(op.outputs[0])
        return np.asarray(y).astype(out_t.dtype if out_t.dtype != "int4" else "int8")

    def _float_op(self, op: Op) -> np.ndarray:
        from edgeq.reference.float_exec import KERNELS, Ctx

        if op.type not in KERNELS:
            raise UnsupportedError(f"{op}: op {op.type} is not supported by the float executor")
        args = [None if n is None else self.val(n) for n in op.inputs]
        first = args[0]
        batch = first.shape[0] if first is not None and first.ndim and first.shape[0] > 1 else None
        res = KERNELS[op.type](Ctx(op, args, self.g, batch))
        return np.asarray(res[0] if isinstance(res, list) else res, np.float32)


_DISPATCH: dict = {}


def _dispatch() -> dict:
    """Op type -> fn(run, op), gathered from the op-family modules on first use (they import this module's
    fixed-point core, so importing them here at load time would be circular)."""
    if not _DISPATCH:
        from edgeq.reference import (int_ops_activation, int_ops_elementwise, int_ops_matmul, int_ops_shape,
                                     int_ops_softmax)

        for mod in (int_ops_matmul, int_ops_elementwise, int_ops_activation, int_ops_softmax, int_ops_shape):
            _DISPATCH.update(mod.OPS)
    return _DISPATCH


def supported_ops() -> list[str]:
    return sorted(_dispatch())


# entry point -------------------------------------------------------------------------------------------
def run_int(graph: Graph, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray, *,
            capture: bool = False):
    """Run a quantized graph on integer (or, for float-boundary models, float) inputs.

    ``inputs`` in ``graph.inputs`` order or by name, each of the input's shape or with several samples
    stacked on axis 0. Returns the outputs as a list, or with ``capture`` every activation by name."""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        inputs = [inputs[n] for n in graph.inputs]
    xs = []
    for name, x in zip(graph.inputs, inputs):
        t = graph.tensors[name]
        x = np.asarray(x)
        xs.append((x[None] if x.ndim == len(t.shape) - 1 else x).astype(t.dtype))
    n = xs[0].shape[0] if xs else 1
    first = graph.tensors[graph.inputs[0]].shape[:1] if graph.inputs else (1,)
    if n > 1 and first == (1,) and not batchable(graph):  # one sample at a time, results stacked
        parts = [_run_all(graph, [x[k:k + 1] for x in xs]) for k in range(n)]
        values = {k: np.concatenate([np.atleast_1d(p[k]) for p in parts]) for k in parts[0]}
    else:
        values = _run_all(graph, xs)
    if capture:
        return values
    return [values[o] for o in graph.outputs]


def _run_all(graph: Graph, xs: list[np.ndarray]) -> dict[str, np.ndarray]:
    r = _Run(graph)
    for name, x in zip(graph.inputs, xs):
        r.v[name] = x
    for op in graph.ops:
        r.v[op.outputs[0]] = r.run(op)
    return r.v
