"""Numpy integer executor of quantized graphs with the arithmetic of runtime_c / LiteRT's reference kernels.

The oracle where LiteRT has no kernel (INT4 depthwise, mixed-precision graphs): int8 activations, 16x8
(int16 activations, int8 weights, int64 bias) and INT4 weights (the IR keeps them as int8 arrays, so they
run exactly like int8 weights). Every op computes its integer result exactly: accumulations go through
float64 matrix products, which are exact while |sum| < 2^53 (int16 x int8 x 2^20 terms is far below), and
requantization is gemmlowp's fixed-point arithmetic on int64 arrays.

    run_int(graph, inputs, capture=False) -> list of outputs (or a dict of every activation)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph, Op, Tensor
from edgeq.reference.float_exec import batchable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "uint8": (0, 255), "int32": (I32_MIN, I32_MAX)}


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
    """C's round(): halves away from zero (numpy's rounds them to even)."""
    if np.isscalar(x):
        return int(np.sign(x) * np.floor(abs(x) + 0.5))
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


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
    return ((np.asarray(x, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def mul_by_qm(x, mult, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int32 x: left shift, high multiply, rounding right shift."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return _rdbp(_srdhm(_wrap32(np.asarray(x, np.int64) << left), mult), right)


def mul_by_qm_single(x, mult, shift) -> np.ndarray:
    """round(x * m / 2^(31 - shift)) in 64 bits, ties up (LiteRT's int8 FULLY_CONNECTED requantization)."""
    total = 31 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * np.asarray(mult, np.int64) + (np.int64(1) << (total - 1))) >> total


def mul_by_qm_64(x, mult, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier for int64 accumulators (16x8 ops): the multiplier is reduced
    to 16 bits so that the product stays within 64 bits."""
    mult = np.asarray(mult, np.int64)
    reduced = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * reduced + (np.int64(1) << (total - 1))) >> total


def _qm_arrays(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(r) for r in np.atleast_1d(reals)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


# helpers -----------------------------------------------------------------------------------------------
def _scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def _act_range(act: str, t: Tensor) -> tuple[int, int]:
    lo, hi = _RANGES[t.dtype]
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
    return lo, hi


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

    def _requant_out(self, acc: np.ndarray, op: Op, in_t: Tensor, w_t: Tensor, out_t: Tensor,
                     axis_last: bool = True) -> np.ndarray:
        """Accumulator → output integers (per-channel multipliers on the last axis)."""
        in_s, out_s = _scale(in_t), _scale(out_t)
        ws = w_t.quant.scale.astype(np.float32)
        wide = in_t.dtype == "int16"
        if op.type == "FULLY_CONNECTED" and ws.size == 1:
            mult, shift = _qm_arrays([float(np.float32(in_s) * ws[0]) / out_s])
        else:
            mult, shift = _qm_arrays([float(np.float32(in_s)) * float(s) / float(np.float32(out_s)) for s in ws])
        if op.type == "FULLY_CONNECTED":  # int8 and 16x8 alike (measured against LiteRT)
            y = mul_by_qm_single(acc, mult, shift)
        elif wide:
            y = mul_by_qm_64(acc, mult, shift)
        else:
            y = mul_by_qm(acc, mult, shift)
        y = y + _zp(out_t)
        lo, hi = _act_range(op.options.get("fused_activation_function", "NONE"), out_t)
        return np.clip(y, lo, hi)

    # ops -------------------------------------------------------------------------------------------------
    def conv(self, op: Op) -> np.ndarray:
        x_t, w_t, out_t = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        x = self.val(op.inputs[0]).astype(np.float64) - _zp(x_t)
        w = np.asarray(w_t.data, np.float64)
        o = op.options
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        n, h, wd, _ = x.shape
        oh, ow = out_t.shape[1], out_t.shape[2]
        pad = o.get("padding", "VALID")
        if op.type == "CONV_2D":
            cout, kh, kw, cin = w.shape
        else:
            _, kh, kw, cout = w.shape
        ph = _pad_amounts(h, oh, kh, sh, dh, pad)
        pw = _pad_amounts(wd, ow, kw, sw, dw, pad)
        p = _patches(x, kh, kw, oh, ow, sh, sw, dh, dw, ph, pw)
        if op.type == "CONV_2D":
            groups = x.shape[3] // cin
            if groups == 1:
                acc = p.reshape(n * oh * ow, -1) @ w.reshape(cout, -1).T
            else:  # grouped convolution: each group of output channels reads its slice of the input
                per = cout // groups
                acc = np.concatenate(
                    [p[..., g * cin:(g + 1) * cin].reshape(n * oh * ow, -1) @ w[g * per:(g + 1) * per].reshape(per, -1).T
                     for g in range(groups)], axis=1)
        else:
            mult = cout // x.shape[3]
            pc = np.repeat(p, mult, axis=5) if mult > 1 else p
            acc = np.einsum("rijc,ijc->rc", pc.reshape(n * oh * ow, kh, kw, cout), w[0])
        acc = np.rint(acc).astype(np.int64).reshape(n, oh, ow, cout)
        b = self.val(op.inputs[2]) if len(op.inputs) > 2 else None
        if b is not None:
            acc = acc + np.asarray(b, np.int64)
        return self._requant_out(acc, op, x_t, w_t, out_t)

    def fully_connected(self, op: Op) -> np.ndarray:
        x_t, w_t, out_t = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        w = np.asarray(w_t.data, np.float64)
        x = self.val(op.inputs[0]).astype(np.float64).reshape(-1, w.shape[1]) - _zp(x_t)
        acc = np.rint(x @ w.T).astype(np.int64)
        b = self.val(op.inputs[2]) if len(op.inputs) > 2 else None
        if b is not None:
            acc = acc + np.asarray(b, np.int64)
        y = self._requant_out(acc, op, x_t, w_t, out_t)
        return y.reshape(self._out_shape(op, y.size))

    def add(self, op: Op) -> np.ndarray:
        a_t, b_t, out_t = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        left = 15 if out_t.dtype == "int16" else 20
        sa, sb = np.float32(_scale(a_t)), np.float32(_scale(b_t))
        twice = float(np.float32(2.0) * max(sa, sb))
        m1, s1 = quantize_multiplier(float(sa) / twice)
        m2, s2 = quantize_multiplier(float(sb) / twice)
        mo, so = quantize_multiplier(twice / float(np.float32(1 << left) * np.float32(_scale(out_t))))
        a = (self.val(op.inputs[0]).astype(np.int64) - _zp(a_t)) << left
        b = (self.val(op.inputs[1]).astype(np.int64) - _zp(b_t)) << left
        s = mul_by_qm(a, m1, s1) + mul_by_qm(b, m2, s2)
        y = mul_by_qm(s, mo, so) + _zp(out_t)
        lo, hi = _act_range(op.options.get("fused_activation_function", "NONE"), out_t)
        return np.clip(y, lo, hi)

    def pool(self, op: Op) -> np.ndarray:
        x_t, out_t = self.t(op.inputs[0]), self.t(op.outputs[0])
        x = self.val(op.inputs[0]).astype(np.int64)
        o = op.options
        kh, kw = int(o["filter_height"]), int(o["filter_width"])
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        n, h, w, c = x.shape
        oh, ow = out_t.shape[1], out_t.shape[2]
        ph = _pad_amounts(h, oh, kh, sh, 1, o.get("padding", "VALID"))
        pw = _pad_amounts(w, ow, kw, sw, 1, o.get("padding", "VALID"))
        y = np.empty((n, oh, ow, c), np.int64)
        for i in range(oh):
            y0, y1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
            for j in range(ow):
                x0, x1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
                win = x[:, y0:y1, x0:x1]
                if op.type == "MAX_POOL_2D":
                    y[:, i, j] = win.max(axis=(1, 2))
                else:
                    cnt = (y1 - y0) * (x1 - x0)
                    s = win.sum(axis=(1, 2))
                    q = (np.abs(s) + cnt // 2) // cnt  # division rounding half away from zero
                    y[:, i, j] = np.where(s > 0, q, -q)
        lo, hi = _act_range(o.get("fused_activation_function", "NONE"), out_t)
        return np.clip(y, lo, hi)

    def softmax(self, op: Op) -> np.ndarray:
        x_t, out_t = self.t(op.inputs[0]), self.t(op.outputs[0])
        beta = float(op.options.get("beta", 1.0))
        x = self.val(op.inputs[0]).astype(np.int64)
        if x_t.dtype == "int16":
            return _softmax_s16(x, beta, _scale(x_t))
        return _softmax_s8(x, beta, _scale(x_t))

    def quantize(self, op: Op) -> np.ndarray:
        x_t, out_t = self.t(op.inputs[0]), self.t(op.outputs[0])
        x = self.val(op.inputs[0])
        lo, hi = _RANGES[out_t.dtype]
        if x_t.dtype in ("float32", "float16"):
            q = _round_half_away(np.asarray(x, np.float32) / np.float32(_scale(out_t))) + _zp(out_t)
            return np.clip(q, lo, hi)
        m, s = quantize_multiplier(float(np.float32(_scale(x_t))) / float(np.float32(_scale(out_t))))
        y = mul_by_qm(x.astype(np.int64) - _zp(x_t), m, s) + _zp(out_t)
        return np.clip(y, lo, hi)

    def dequantize(self, op: Op) -> np.ndarray:
        x_t = self.t(op.inputs[0])
        x = self.val(op.inputs[0]).astype(np.float64)
        return ((x - _zp(x_t)) * float(np.float32(_scale(x_t)))).astype(np.float32)

    def reshape(self, op: Op) -> np.ndarray:
        x = self.val(op.inputs[0])
        return x.reshape(self._out_shape(op, x.size))

    def transpose(self, op: Op) -> np.ndarray:
        x, perm = self.val(op.inputs[0]), [int(p) for p in self.val(op.inputs[1])]
        perm = [p % x.ndim for p in perm]
        if perm[0] != 0 and x.shape[0] != self.t(op.inputs[0]).shape[0]:
            raise UnsupportedError(f"{op}: TRANSPOSE that moves axis 0 runs one sample at a time only")
        return np.transpose(x, perm)  # data movement: exact for every type, samples stacked on axis 0 stay

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
        fn = _DISPATCH.get(op.type)
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


_Run._float_op = _float_op

_DISPATCH = {
    "CONV_2D": _Run.conv, "DEPTHWISE_CONV_2D": _Run.conv, "FULLY_CONNECTED": _Run.fully_connected,
    "ADD": _Run.add, "AVERAGE_POOL_2D": _Run.pool, "MAX_POOL_2D": _Run.pool, "SOFTMAX": _Run.softmax,
    "QUANTIZE": _Run.quantize, "DEQUANTIZE": _Run.dequantize, "RESHAPE": _Run.reshape,
    "SQUEEZE": _Run.reshape, "EXPAND_DIMS": _Run.reshape, "TRANSPOSE": _Run.transpose,
}


def supported_ops() -> list[str]:
    return sorted(_DISPATCH)


# softmax -----------------------------------------------------------------------------------------------
def _sat_shl(x: np.ndarray, e: int) -> np.ndarray:
    thr = (1 << (31 - e)) - 1
    return np.where(x > thr, I32_MAX, np.where(x < -thr, I32_MIN, _wrap32(x << e)))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor series around -1/8)."""
    c = 1895147668
    x = _wrap32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    poly = _rdbp(_wrap32(_srdhm(_wrap32(_rdbp(x4, 2) + x3), 715827883) + x2), 1)
    return _wrap32(c + _srdhm(c, _wrap32(x + poly)))


def _exp_neg_q5_26(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0 in Q5.26 → Q0.31."""
    quarter = 1 << 24
    a_mod = _wrap32((a & (quarter - 1)) - quarter)
    r = _exp_quarter(_sat_shl(a_mod, 5))
    rem = _wrap32(a_mod - a)
    for k, m in zip(range(-2, 5), (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)):
        r = np.where(rem & (1 << (26 + k)), _srdhm(r, m), r)
    return np.where(a == 0, I32_MAX, r)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    s = a + I32_MAX
    half = np.where(s >= 0, (s + 1) // 2, -((-s + 1) // 2))
    x = _wrap32(1515870810 + _srdhm(half, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - _srdhm(half, x))
        x = _wrap32(x + _sat_shl(_srdhm(x, one_minus), 2))
    return _sat_shl(x, 1)


def _clz32(x: np.ndarray) -> np.ndarray:
    """Leading zeros of a 32-bit value (frexp is exact on integers below 2^53)."""
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    return np.where(x > 0, 32 - np.frexp(x.astype(np.float64))[1], 32)


def _softmax_s8(x: np.ndarray, beta: float, in_scale: float) -> np.ndarray:
    real = min(beta * float(np.float32(in_scale)) * float(1 << 26), 2147483647.0)
    mult, shift = quantize_multiplier(real)
    diff_min = -int(np.floor(31.0 * (1 << 26) / float(1 << shift)))
    diff = x - x.max(axis=-1, keepdims=True)
    keep = diff >= diff_min
    e = _exp_neg_q5_26(_srdhm(_wrap32(diff << shift), mult))
    total = _wrap32(np.where(keep, _rdbp(e, 12), 0).sum(axis=-1, keepdims=True))
    head = _clz32(total)
    shifted = _wrap32(((total & 0xFFFFFFFF) << head) - (1 << 31))
    recip = _one_over_one_plus_x(shifted)
    expo = 12 - head + 31 - 8
    y = _rdbp(_srdhm(recip, e), expo) - 128
    return np.where(keep, np.clip(y, -128, 127), -128)


def _gen_lut(func, lo: float, hi: float) -> np.ndarray:
    """The 513-entry int16 interpolation table of func over [lo, hi], outputs over [-1, 1]."""
    steps = 512
    step = (hi - lo) / steps
    inv = 65536.0 / 2.0
    lut = np.empty(steps + 1, np.int64)
    for i in range(steps):
        v, mid, nxt = func(lo + i * step), func(lo + i * step + step / 2), func(lo + (i + 1) * step)
        sample = _round_half_away(v * inv)
        interp = _round_half_away((nxt * inv + _round_half_away(v * inv)) / 2)
        bias = _round_half_away((interp - _round_half_away(mid * inv)) / 2)
        lut[i] = min(max(sample - bias, -32768), 32767)
    lut[steps] = min(max(_round_half_away(func(hi) * inv), -32768), 32767)
    return lut


_LUTS: dict[str, np.ndarray] = {}


def _lut_lookup(v: np.ndarray, lut: np.ndarray) -> np.ndarray:
    idx = 256 + (v >> 7)
    off = v & 0x7F
    base = lut[idx]
    delta = ((lut[idx + 1] - base) * off + 64) >> 7
    return _wrap16(base + delta)


def _wrap16(x):
    return ((x + 32768) & 0xFFFF) - 32768


def _softmax_s16(x: np.ndarray, beta: float, in_scale: float) -> np.ndarray:
    if not _LUTS:
        _LUTS["exp"] = _gen_lut(np.exp, -10.0, 0.0)
        _LUTS["recip"] = _gen_lut(lambda v: 1.0 / (1.0 + v), 0.0, 1.0)
    mult, shift = quantize_multiplier(float(np.float32(in_scale) * np.float32(beta)) / (10.0 / 65535.0))
    diff = x - x.max(axis=-1, keepdims=True)
    scaled = mul_by_qm(diff, mult, shift) + 32767
    e = _lut_lookup(np.clip(scaled, -32768, 32767), _LUTS["exp"])
    total = _wrap32(e.sum(axis=-1, keepdims=True))
    head = _clz32(total)
    shifted = ((total << (head - 1)) + (1 << 13)) >> 14
    sym = np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767)
    recip = _lut_lookup(sym, _LUTS["recip"])
    right = 31 - head
    y = (e * recip + (np.int64(1) << (right - 1))) >> right
    return np.clip(y, 0, 32767)


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
        values = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
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
