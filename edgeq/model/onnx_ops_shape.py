"""ONNX shape and layout nodes (Reshape, Flatten, Squeeze/Unsqueeze, Transpose, Concat, Slice, Gather, Pad,
Softmax, reductions): every ONNX axis is mapped through the tensor's IR layout instead of transposing."""
from __future__ import annotations

import numpy as np

from .onnx_import import canonical, inverse, moves_data
from .onnx_ops import _axis, _shared_layout, handles

def _reshape_to(cv, n, x: str, out_shape) -> None:
    """Row-major reshape of ONNX tensor ``x`` into output 0: only data order matters, so a transpose is
    inserted before (after) only when the IR layout of the input (output) really reorders data."""
    in_shape = cv.shape(x)
    out_shape = tuple(int(d) for d in out_shape)
    have = cv.layout_of(x)
    src = cv.get(x, tuple(range(len(in_shape)))) if moves_data(in_shape, have) else cv.get(x, have)
    want = canonical(len(out_shape))
    perm = tuple(range(len(out_shape))) if moves_data(out_shape, want) else want
    out = cv.output(0, perm, out_shape)
    cv.reshape_op(src, out, cv.ir_shape(out))


@handles("Reshape")
def _reshape(cv, n):
    target = cv.need_const(n.inputs[1], "the target shape").astype(np.int64).tolist()
    in_shape = cv.shape(n.inputs[0])
    if not n.attrs.get("allowzero", 0):
        target = [in_shape[i] if d == 0 else d for i, d in enumerate(target)]
    if target.count(-1) > 1:
        raise cv.unsupported("more than one -1 in the target shape")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = int(np.prod(in_shape)) // max(known, 1)
    if int(np.prod(target)) != int(np.prod(in_shape)):
        raise cv.unsupported(f"cannot reshape {list(in_shape)} to {target}")
    _reshape_to(cv, n, n.inputs[0], target)


@handles("Flatten")
def _flatten(cv, n):
    shp = cv.shape(n.inputs[0])
    axis = n.attrs.get("axis", 1)
    axis = axis % len(shp) if axis < 0 else axis
    _reshape_to(cv, n, n.inputs[0], (int(np.prod(shp[:axis])), int(np.prod(shp[axis:]))))


@handles("Squeeze", "Unsqueeze")
def _squeeze(cv, n):
    if n.op == "Squeeze" and cv.input(1) is None and "axes" not in n.attrs:
        out = [d for d in cv.shape(n.inputs[0]) if d != 1]
    else:
        axes = n.attrs.get("axes") if cv.og.opset < 13 else cv.need_const(cv.input(1), "axes")
        if axes is None:
            raise cv.unsupported("axes are required")
        out = list(cv.shape(n.outputs[0]))
    _reshape_to(cv, n, n.inputs[0], out)


@handles("Transpose")
def _transpose(cv, n):
    x = n.inputs[0]
    rank = len(cv.shape(x))
    t = tuple(n.attrs.get("perm", list(range(rank))[::-1]))
    have, want = cv.layout_of(x), canonical(rank)
    inv = inverse(have)
    rel = tuple(inv[t[want[i]]] for i in range(rank))  # ir_in → ir_out
    src = cv.get(x, have)
    if rel == tuple(range(rank)):
        cv.bind(n.outputs[0], src, want)
        return
    out = cv.output(0, want)
    if moves_data(cv.ir_shape(src), rel):
        cv.emit("TRANSPOSE", [src, cv.add_const(f"{n.name}/perm", np.asarray(rel, np.int32))], [out])
    else:
        cv.reshape_op(src, out, cv.ir_shape(out))


@handles("Concat")
def _concat(cv, n):
    rank = len(cv.shape(n.outputs[0]))
    axis = _axis(cv, int(n.attrs["axis"]), rank)
    ins = [i for i in n.inputs if i and int(np.prod(cv.shape(i))) > 0]
    perm = _shared_layout(cv, ins, rank)
    out = cv.output(0, perm)
    if len(ins) == 1:
        cv.reshape_op(cv.get(ins[0], perm), out, cv.ir_shape(out))
        return
    cv.emit("CONCATENATION", [cv.get(i, perm) for i in ins], [out], axis=perm.index(axis),
            fused_activation_function="NONE")


def _strided_slice(cv, n, x: str, bounds: dict, shrink: int | None = None) -> None:
    """STRIDED_SLICE of ONNX tensor ``x`` in its current layout; ``bounds`` maps ONNX axis → (begin, end,
    stride) already clamped; ``shrink`` drops that ONNX axis (a scalar Gather)."""
    shape = cv.shape(x)
    have = cv.layout_of(x)
    begin = [bounds.get(a, (0, shape[a], 1))[0] for a in have]
    end = [bounds.get(a, (0, shape[a], 1))[1] for a in have]
    strides = [bounds.get(a, (0, shape[a], 1))[2] for a in have]
    if shrink is None:
        perm = have
        mask = 0
    else:
        perm = tuple(a - (a > shrink) for a in have if a != shrink)
        mask = 1 << have.index(shrink)
    cv.emit("STRIDED_SLICE", [cv.get(x, have), cv.add_const(f"{n.name}/begin", np.asarray(begin, np.int32)),
                              cv.add_const(f"{n.name}/end", np.asarray(end, np.int32)),
                              cv.add_const(f"{n.name}/strides", np.asarray(strides, np.int32))],
            [cv.output(0, perm)], begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
            shrink_axis_mask=mask, offset=False)


@handles("Slice")
def _slice(cv, n):
    x = n.inputs[0]
    shape = cv.shape(x)
    rank = len(shape)
    starts = cv.need_const(n.inputs[1], "starts").tolist()
    ends = cv.need_const(n.inputs[2], "ends").tolist()
    axes = cv.need_const(cv.input(3), "axes").tolist() if cv.input(3) else list(range(len(starts)))
    steps = cv.need_const(cv.input(4), "steps").tolist() if cv.input(4) else [1] * len(starts)
    bounds = {}
    for s0, e0, a, st in zip(starts, ends, axes, steps):
        a = _axis(cv, int(a), rank)
        if st <= 0:
            raise cv.unsupported(f"step {st} (edgeq slices forward only)")
        dim = shape[a]
        b, e = (min(max(v + dim if v < 0 else v, 0), dim) for v in (s0, e0))
        bounds[a] = (b, max(e, b), int(st))
    _strided_slice(cv, n, x, bounds)


@handles("Gather")
def _gather(cv, n):
    x = n.inputs[0]
    shape = cv.shape(x)
    axis = _axis(cv, int(n.attrs.get("axis", 0)), len(shape))
    idx = cv.need_const(n.inputs[1], "indices").astype(np.int64)
    idx = np.where(idx < 0, idx + shape[axis], idx)
    if idx.ndim == 0:
        _strided_slice(cv, n, x, {axis: (int(idx), int(idx) + 1, 1)}, shrink=axis)
        return
    step = int(idx[1] - idx[0]) if idx.size > 1 else 1
    if idx.ndim != 1 or step <= 0 or not np.array_equal(idx, idx[0] + step * np.arange(idx.size)):
        raise cv.unsupported("indices must be a scalar or an increasing arithmetic range")
    _strided_slice(cv, n, x, {axis: (int(idx[0]), int(idx[-1]) + 1, step)})


@handles("Pad")
def _pad(cv, n):
    mode = n.attrs.get("mode", "constant")
    x = n.inputs[0]
    rank = len(cv.shape(x))
    if cv.og.opset < 11:
        pads, value = list(n.attrs["pads"]), float(n.attrs.get("value", 0.0))
    else:
        pads = cv.need_const(n.inputs[1], "pads").astype(np.int64).tolist()
        cval = cv.const(cv.input(2))
        if cv.input(2) and cval is None:
            raise cv.unsupported("constant_value must be a constant")
        value = float(cval) if cval is not None and cval.size else 0.0
    axes = list(range(rank))
    if cv.input(3):
        axes = [_axis(cv, int(a), rank) for a in cv.need_const(cv.input(3), "axes")]
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + len(axes)]
    if min(begin + end) < 0:
        raise cv.unsupported("negative pads (cropping) are not supported")
    perm = cv.layout_of(x)
    paddings = cv.add_const(f"{n.name}/paddings", np.asarray([[begin[p], end[p]] for p in perm], np.int32))
    src, out = cv.get(x, perm), cv.output(0, perm)
    if mode == "constant":
        if value == 0.0:
            cv.emit("PAD", [src, paddings], [out])
        else:
            cv.emit("PADV2", [src, paddings, cv.add_const(f"{n.name}/value", np.float32(value))], [out])
    elif mode == "reflect":
        cv.emit("MIRROR_PAD", [src, paddings], [out], mode="REFLECT")
    else:
        raise cv.unsupported(f"mode {mode!r} (edgeq takes constant and reflect)")


@handles("Softmax")
def _softmax(cv, n):
    x = n.inputs[0]
    shp = cv.shape(x)
    rank = len(shp)
    axis = _axis(cv, int(n.attrs.get("axis", -1 if cv.og.opset >= 13 else 1)), rank)
    if cv.og.opset < 13 and int(np.prod(shp[axis + 1:])) != 1:
        raise cv.unsupported("opset<13 Softmax over several axes (coerced to 2-D) is not supported")
    have = cv.layout_of(x)
    perm = have if have[-1] == axis else tuple(a for a in have if a != axis) + (axis,)
    cv.emit("SOFTMAX", [cv.get(x, perm)], [cv.output(0, perm)], beta=1.0)


_REDUCE = {"ReduceMean": "MEAN", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN", "ReduceSum": "SUM"}


@handles(*_REDUCE)
def _reduce(cv, n):
    x = n.inputs[0]
    rank = len(cv.shape(x))
    # axes moved from attribute to input in opset 13 (ReduceSum) and 18 (the others)
    axes = cv.need_const(cv.input(1), "axes").tolist() if cv.input(1) else n.attrs.get("axes")
    if axes is None or len(axes) == 0:
        if n.attrs.get("noop_with_empty_axes", 0):
            cv.bind(n.outputs[0], cv.get(x, cv.layout_of(x)), cv.layout_of(x))
            return
        axes = list(range(rank))
    axes = sorted({_axis(cv, int(a), rank) for a in axes})
    keep = bool(n.attrs.get("keepdims", 1))
    have = cv.layout_of(x)
    ir_axes = sorted(have.index(a) for a in axes)
    if keep:
        perm = have
    else:
        rest = [a for a in have if a not in axes]
        perm = tuple(a - sum(b < a for b in axes) for a in rest)
    cv.emit(_REDUCE[n.op], [cv.get(x, have), cv.add_const(f"{n.name}/axes", np.asarray(ir_axes, np.int32))],
            [cv.output(0, perm)], keep_dims=keep)
