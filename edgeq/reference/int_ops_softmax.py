"""Integer SOFTMAX: int8 (gemmlowp's fixed-point exp and reciprocal, output 1/256 with zero point -128) and
int16 (LiteRT's 513-entry interpolation tables of exp and 1/(1+x), output 2^-15), as runtime_c computes them."""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Op
from edgeq.reference.int_exec import (I32_MAX, I32_MIN, _round_half_away, _Run, _rdbp, _scale, _srdhm, _wrap16,
                                      _wrap32, mul_by_qm, quantize_multiplier)


def softmax(r: _Run, op: Op) -> np.ndarray:
    x_t = r.t(op.inputs[0])
    beta = float(op.options.get("beta", 1.0))
    x = r.val(op.inputs[0]).astype(np.int64)
    if x_t.dtype == "int16":
        return _softmax_s16(x, beta, _scale(x_t))
    return _softmax_s8(x, beta, _scale(x_t))


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


OPS = {"SOFTMAX": softmax}
