"""Integer binary elementwise ops with numpy broadcasting (runtime_c broadcasts up to 6-D) and MEAN:

ADD, SUB   int8 (20 bits of headroom) and int16 (15 bits): both inputs rescaled to twice the larger input
           scale, combined, requantized; int16 with power-of-two scales and pot_scale_int16 (the schema's
           default) takes LiteRT's shift-only path (one operand rounded right in int16 arithmetic).
MUL        the product of the zero-point-corrected operands, one multiplier formed in float.
MAXIMUM, MINIMUM   raw values compared (operands share the output's quantization).
PRELU      identity multiplier for x >= 0, input * alpha product multiplier otherwise (int16 input takes
           an int8 alpha, as LiteRT's 16x8 kernel reads it).
MEAN       int32 (wrapping) sum over the reduced axes, 1/count folded into the multiplier.
"""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Op
from edgeq.reference.int_exec import (RANGES, _fused_range, _Run, _scale, _wrap16, _wrap32, _zp, checked_log2, clamp,
                                      mul_by_qm, quantize_multiplier, require)


def _operands(r: _Run, op: Op):
    a_t, b_t, out_t = r.t(op.inputs[0]), r.t(op.inputs[1]), r.t(op.outputs[0])
    require(a_t.dtype == b_t.dtype == out_t.dtype and out_t.dtype in ("int8", "int16"), op,
            f"{op.type} takes int8 or int16 operands of one type, got {a_t.dtype}, {b_t.dtype} -> {out_t.dtype}")
    return a_t, b_t, out_t, r.val(op.inputs[0]).astype(np.int64), r.val(op.inputs[1]).astype(np.int64)


def _general_params(a_t, b_t, out_t, left: int):
    """Both inputs to twice the larger input scale (in float), then back to the output scale."""
    sa, sb = np.float32(_scale(a_t)), np.float32(_scale(b_t))
    twice = np.float32(2.0) * max(sa, sb)
    m1 = quantize_multiplier(float(sa) / float(twice))
    m2 = quantize_multiplier(float(sb) / float(twice))
    mo = quantize_multiplier(float(twice) / float(np.float32(1 << left) * np.float32(_scale(out_t))))
    return m1, m2, mo


def _add_sub(r: _Run, op: Op, sign: int) -> np.ndarray:
    a_t, b_t, out_t, a, b = _operands(r, op)
    lo, hi = _fused_range(op, out_t)
    wide = out_t.dtype == "int16"
    if wide:
        require(_zp(a_t) == _zp(b_t) == _zp(out_t) == 0, op, "int16 operands must be symmetric")
        logs = [checked_log2(_scale(t)) for t in (a_t, b_t, out_t)]
        if op.options.get("pot_scale_int16", True) and None not in logs:
            return _pot_s16(r, op, a, b, logs[0] - logs[2], logs[1] - logs[2], sign, lo, hi)
    left = 15 if wide else 20
    (m1, s1), (m2, s2), (mo, so) = _general_params(a_t, b_t, out_t, left)
    require(s1 <= 0 and s2 <= 0, op, "an input scale above the common scale has no multiplier below one")
    sa = mul_by_qm((a - _zp(a_t)) << left, m1, s1)
    sb = mul_by_qm((b - _zp(b_t)) << left, m2, s2)
    y = mul_by_qm(_wrap32(sa + sign * sb), mo, so) + _zp(out_t)
    return clamp(y, lo, hi)


def _pot_round_s16(x: np.ndarray, e: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT evaluated on int16 operands (mask and threshold int16 too)."""
    if e == 0:
        return x
    mask = int(_wrap16((1 << e) - 1))
    rem = _wrap16(x & mask)
    thr = _wrap16((mask >> 1) + (x < 0))
    shifted = np.where(x < 0, -1, 0) if e >= 16 else x >> e
    return _wrap16(shifted + (rem > thr))


def _pot_s16(r: _Run, op: Op, a, b, sh1: int, sh2: int, sign: int, lo: int, hi: int) -> np.ndarray:
    require(sh1 == 0 or sh2 == 0, op, "power-of-two int16 scales: one input must share the output's scale")
    require(-31 <= sh1 <= 0 and -31 <= sh2 <= 0, op, "power-of-two int16 scales: an input finer than the output")
    if op.type == "ADD":  # LiteRT has this path elementwise only
        require(a.shape == b.shape, op, "power-of-two int16 ADD has no broadcasting form")
    y = _pot_round_s16(a, -sh1) + sign * _pot_round_s16(b, -sh2)
    return clamp(clamp(y, -32768, 32767), lo, hi)


def add(r: _Run, op: Op) -> np.ndarray:
    return _add_sub(r, op, 1)


def sub(r: _Run, op: Op) -> np.ndarray:
    return _add_sub(r, op, -1)


def mul(r: _Run, op: Op) -> np.ndarray:
    a_t, b_t, out_t, a, b = _operands(r, op)
    if out_t.dtype == "int16":
        require(_zp(a_t) == _zp(b_t) == _zp(out_t) == 0, op, "int16 operands must be symmetric")
    real = np.float32(_scale(a_t)) * np.float32(_scale(b_t)) / np.float32(_scale(out_t))  # float, as LiteRT
    m, s = quantize_multiplier(float(real))
    y = mul_by_qm((a - _zp(a_t)) * (b - _zp(b_t)), m, s) + _zp(out_t)
    lo, hi = _fused_range(op, out_t)
    return clamp(y, lo, hi)


def maximum(r: _Run, op: Op) -> np.ndarray:
    _, _, _, a, b = _operands(r, op)
    return np.maximum(a, b)


def minimum(r: _Run, op: Op) -> np.ndarray:
    _, _, _, a, b = _operands(r, op)
    return np.minimum(a, b)


def prelu(r: _Run, op: Op) -> np.ndarray:
    x_t, a_t, out_t = r.t(op.inputs[0]), r.t(op.inputs[1]), r.t(op.outputs[0])
    require(x_t.dtype == out_t.dtype and x_t.dtype in ("int8", "int16") and a_t.dtype == "int8", op,
            "PRELU takes int8 or int16 input with an int8 alpha")
    s_in, s_a, s_out = (np.float32(_scale(t)) for t in (x_t, a_t, out_t))
    mp, sp = quantize_multiplier(float(s_in / s_out))
    mn, sn = quantize_multiplier(float(s_in * s_a / s_out))
    x = r.val(op.inputs[0]).astype(np.int64) - _zp(x_t)
    alpha = r.val(op.inputs[1]).astype(np.int64) - _zp(a_t)
    x, alpha = np.broadcast_arrays(x, alpha)
    y = np.where(x >= 0, mul_by_qm(x, mp, sp), mul_by_qm(x * alpha, mn, sn)) + _zp(out_t)
    return clamp(y, *RANGES[out_t.dtype])


def mean(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t = r.t(op.inputs[0]), r.t(op.outputs[0])
    require(x_t.dtype == out_t.dtype and x_t.dtype in ("int8", "int16"), op, "MEAN takes int8 or int16")
    x = r.val(op.inputs[0]).astype(np.int64)
    rank = len(x_t.shape)
    axes = tuple(sorted({int(a) % rank for a in np.asarray(r.val(op.inputs[1])).ravel()}))
    count = int(np.prod([x_t.shape[a] for a in axes])) if axes else 1
    m, s = quantize_multiplier(float(np.float32(_scale(x_t))) / float(np.float32(_scale(out_t))))
    shift = min(count.bit_length() - 1, 32, 31 + s)
    mult = (m << shift) // count  # 1/count folded into the multiplier, as LiteRT's reference
    total = _wrap32(x.sum(axis=axes, keepdims=True) - _zp(x_t) * count)
    y = mul_by_qm(total, mult, s - shift) + _zp(out_t)
    y = clamp(y, *RANGES[out_t.dtype])
    return y.reshape(r._out_shape(op, y.size))


OPS = {"ADD": add, "SUB": sub, "MUL": mul, "MAXIMUM": maximum, "MINIMUM": minimum, "PRELU": prelu,
       "MEAN": mean}
