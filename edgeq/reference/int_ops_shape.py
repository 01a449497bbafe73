"""Integer QUANTIZE / DEQUANTIZE and the data-movement ops (RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, PAD,
PADV2, CONCATENATION, STRIDED_SLICE), exact for every element type.

QUANTIZE   float32 -> int8 / uint8 / int16: round(x / scale) (float32 division, halves away from zero) plus
           the zero point, clamped; integer -> integer (8-bit pairs, and the int16 / int32 pairs LiteRT has):
           one multiplier in_scale / out_scale in double, C's int32 wrap-around on the offsets.
DEQUANTIZE (float)(scale * (q - zero_point)) with the scale in double.
STRIDED_SLICE  TFLite's mask handling (ellipsis, new axis, shrink, begin/end masks, offset) resolved per
           axis exactly as runtime_c's prepare does, then a gather.
"""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Op
from edgeq.reference.int_exec import (RANGES, _round_half_away, _Run, _scale, _wrap32, _zp, clamp, mul_by_qm,
                                      quantize_multiplier, require)

_INT_PAIRS = {("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"), ("uint8", "uint8"), ("int8", "int16"),
              ("uint8", "int16"), ("int16", "int8"), ("int16", "int16"), ("int16", "int32"), ("int32", "int8"),
              ("int32", "int16")}


def quantize(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t = r.t(op.inputs[0]), r.t(op.outputs[0])
    x = r.val(op.inputs[0])
    lo, hi = RANGES[out_t.dtype]
    if x_t.dtype in ("float32", "float16"):
        require(out_t.dtype in ("int8", "uint8", "int16"), op, f"float -> {out_t.dtype}")
        v = np.asarray(x, np.float32) / np.float32(_scale(out_t))
        v = np.clip(np.nan_to_num(v, nan=0.0), -(2.0**30), 2.0**30)  # NaN -> 0, saturation far outside any type
        return clamp(_round_half_away(v).astype(np.int64) + _zp(out_t), lo, hi)
    require((x_t.dtype, out_t.dtype) in _INT_PAIRS, op, f"requantization {x_t.dtype} -> {out_t.dtype}")
    m, s = quantize_multiplier(float(np.float32(_scale(x_t))) / float(np.float32(_scale(out_t))))
    y = mul_by_qm(_wrap32(x.astype(np.int64) - _zp(x_t)), m, s)
    return clamp(_wrap32(y + _zp(out_t)), lo, hi)


def dequantize(r: _Run, op: Op) -> np.ndarray:
    x_t = r.t(op.inputs[0])
    x = r.val(op.inputs[0]).astype(np.float64)
    return ((x - _zp(x_t)) * float(np.float32(_scale(x_t)))).astype(np.float32)


def reshape(r: _Run, op: Op) -> np.ndarray:
    x = r.val(op.inputs[0])
    return x.reshape(r._out_shape(op, x.size))


def transpose(r: _Run, op: Op) -> np.ndarray:
    x, perm = r.val(op.inputs[0]), [int(p) for p in r.val(op.inputs[1])]
    perm = [p % x.ndim for p in perm]
    require(perm[0] == 0 or x.shape[0] == r.t(op.inputs[0]).shape[0], op,
            "TRANSPOSE that moves axis 0 runs one sample at a time only")
    return np.transpose(x, perm)  # data movement: exact for every type, samples stacked on axis 0 stay


def _same_quant(a, b) -> bool:
    return a.quant is not None and b.quant is not None and np.float32(_scale(a)) == np.float32(_scale(b)) \
        and _zp(a) == _zp(b)


def pad(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t = r.t(op.inputs[0]), r.t(op.outputs[0])
    require(x_t.dtype == out_t.dtype and x_t.dtype in ("int8", "int16"), op, "PAD takes int8 or int16")
    pads = np.asarray(r.val(op.inputs[1]), np.int64).reshape(-1, 2)
    require(pads.shape[0] == len(x_t.shape) and (pads >= 0).all(), op, "paddings must be [rank, 2], non-negative")
    value = _zp(out_t)
    if op.type == "PADV2" and len(op.inputs) > 2 and op.inputs[2] is not None:
        c_t = r.t(op.inputs[2])
        require(c_t.dtype == out_t.dtype and _same_quant(c_t, out_t), op,
                "the pad value must share the output's type and quantization")
        value = int(np.asarray(r.val(op.inputs[2])).ravel()[0])
    return np.pad(r.val(op.inputs[0]), [tuple(p) for p in pads], constant_values=value)


def concatenation(r: _Run, op: Op) -> np.ndarray:
    out_t = r.t(op.outputs[0])
    ins = [n for n in op.inputs if n is not None]
    for n in ins:
        t = r.t(n)
        require(t.dtype == out_t.dtype and t.dtype in ("int8", "int16") and _same_quant(t, out_t), op,
                "every input must share the output's type, scale and zero point")
    require(op.options.get("fused_activation_function", "NONE") == "NONE", op, "a fused activation")
    axis = int(op.options.get("axis", 0)) % len(out_t.shape)
    return np.concatenate([r.val(n) for n in ins], axis=axis)


# STRIDED_SLICE -------------------------------------------------------------------------------------------
def _bit(mask: int, i: int) -> bool:
    return i >= 0 and bool((mask >> i) & 1)


def slice_plan(shape, begin, end, strides, opts) -> tuple[list[int], list[tuple[int, int, int, bool]]]:
    """Effective dims (new axes inserted) and per axis (start, stop, stride, shrink), resolved as LiteRT
    resolves the masks (runtime_c's prepare, step for step)."""
    n, rank = len(begin), len(shape)
    bm, em = int(opts.get("begin_mask", 0)), int(opts.get("end_mask", 0))
    ell, new, shrink = (int(opts.get(k, 0)) for k in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))
    num_add = sum(1 for i in range(n) if not _bit(ell, i) and _bit(new, i))
    ed = rank + num_add
    e_ell, e_new, ell_start, expanded = set(), set(), ed, 0
    i = 0
    while i < ed:
        if _bit(ell, i):
            ell_start = i
            stop = max(min(i + 1 + num_add + rank - n, ed), i + 1)
            expanded = stop - ell_start - 1
            e_ell.update(range(i, stop))
            i = stop
            continue
        if _bit(new, i - expanded):
            e_new.add(i)
        i += 1
    dims, axes = [], []
    added_ell = added_axes = 0
    for i in range(ed):
        st, sp, sd, b_on, e_on, s_on = 0, 0, 1, False, False, False
        if i not in e_new and not 0 <= i - added_axes < rank:
            raise ValueError("masks address an axis beyond the input's rank")
        if i in e_ell:
            added_ell = max(i - ell_start, 0)
            b_on = e_on = True
            dims.append(shape[i - added_axes])
        elif i in e_new:
            sp = 1
            dims.append(1)
            added_axes += 1
        elif i >= n + expanded:
            b_on = e_on = True
            dims.append(shape[i - added_axes])
        else:
            oi = i - added_ell
            if not 0 <= oi < n:
                raise ValueError("masks address a begin/end entry that does not exist")
            st, sp, sd = int(begin[oi]), int(end[oi]), int(strides[oi])
            b_on, e_on, s_on = _bit(bm, oi), _bit(em, oi), _bit(shrink, oi)
            dims.append(shape[i - added_axes])
        size = dims[-1]
        if sd == 0:
            raise ValueError("stride 0")
        lo, hi = (0, size) if sd > 0 else (-1, size - 1)
        st = st + size if st < 0 else st
        st = 0 if b_on and sd > 0 else size - 1 if b_on else min(max(st, lo), hi)
        if s_on:
            sp = st if st >= size else st + 1
        else:
            sp = sp + st if opts.get("offset", False) else sp
            sp = sp + size if sp < 0 else sp
            sp = (size if sd > 0 else -1) if e_on else min(max(sp, lo), hi)
        axes.append((st, sp, sd, s_on))
    return dims, axes


def strided_slice(r: _Run, op: Op) -> np.ndarray:
    x_t = r.t(op.inputs[0])
    require(x_t.dtype in ("int8", "int16") and r.t(op.outputs[0]).dtype == x_t.dtype, op,
            "STRIDED_SLICE takes int8 or int16")
    vals = [np.asarray(r.val(n)).ravel() for n in op.inputs[1:4]]
    try:
        dims, axes = slice_plan(x_t.shape, *vals, op.options)
    except ValueError as e:
        raise UnsupportedError(f"{op}: {e} (output {op.outputs[0]!r})") from None
    idx = [np.arange(st, sp, sd) for st, sp, sd, _ in axes]
    x = r.val(op.inputs[0])
    n = r.stacked(op.inputs[0])
    if n > 1:  # samples on axis 0, which the graph slices whole (float_exec.batchable)
        require(axes[0][:3] == (0, 1, 1) and not axes[0][3] and dims[0] == 1, op,
                "a slice of axis 0 runs one sample at a time only")
        dims[0], idx[0] = n, np.arange(n)
    y = x.reshape(dims)[np.ix_(*idx)]
    return y.reshape(r._out_shape(op, y.size))


OPS = {"QUANTIZE": quantize, "DEQUANTIZE": dequantize, "RESHAPE": reshape, "SQUEEZE": reshape,
       "EXPAND_DIMS": reshape, "TRANSPOSE": transpose, "PAD": pad, "PADV2": pad,
       "CONCATENATION": concatenation, "STRIDED_SLICE": strided_slice}
