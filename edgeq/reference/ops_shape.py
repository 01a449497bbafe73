"""Float data-movement ops: RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION, PAD/PADV2, STRIDED_SLICE.

With several samples stacked on axis 0 (``ctx.batch``), axis 0 is the sample axis: the executor only batches
graphs whose ops leave it alone (see float_exec.batchable), and here shapes taken from the graph are
scaled on axis 0."""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.reference.kernels import Ctx, batched_shape, const_int_list, fused, kernel


def _resolve(shape: list[int], size: int, where: str) -> tuple[int, ...]:
    if shape.count(-1) > 1:
        raise UnsupportedError(f"{where}: more than one -1 in shape {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        shape = [size // known if d == -1 and known else d for d in shape]
    return tuple(shape)


def _reshape_to_graph(ctx: Ctx, semantic: tuple[int, ...] | None) -> np.ndarray:
    x = ctx.args[0]
    target = batched_shape(ctx.out_tensor().shape, x.size, ctx.batch)
    if int(np.prod(target)) != x.size and semantic is not None:
        target = batched_shape(semantic, x.size, ctx.batch)
    if int(np.prod(target)) != x.size:
        raise UnsupportedError(f"{ctx.where()}: cannot reshape {x.shape} to {ctx.out_tensor().shape}")
    return x.reshape(target)


@kernel("RESHAPE")
def reshape(ctx: Ctx):
    x = ctx.args[0]
    spec = None
    if len(ctx.args) > 1 and ctx.args[1] is not None:
        spec = const_int_list(ctx.args[1], ctx.where(), "shape")
    elif ctx.opt.get("new_shape"):
        spec = [int(d) for d in ctx.opt["new_shape"]]
    n = ctx.batch or 1
    semantic = _resolve(spec, x.size // n, ctx.where()) if spec is not None else None
    return _reshape_to_graph(ctx, semantic)


@kernel("SQUEEZE")
def squeeze(ctx: Ctx):
    x = ctx.args[0]
    dims = ctx.opt.get("squeeze_dims") or []
    shape = list(x.shape)
    if ctx.batch and ctx.batch > 1:
        shape[0] = 1
    drop = {d % len(shape) for d in dims} if dims else {i for i, d in enumerate(shape) if d == 1}
    return _reshape_to_graph(ctx, tuple(d for i, d in enumerate(shape) if i not in drop))


@kernel("EXPAND_DIMS")
def expand_dims(ctx: Ctx):
    x = ctx.args[0]
    axis = const_int_list(ctx.args[1], ctx.where(), "axis")[0]
    shape = list(x.shape)
    if ctx.batch and ctx.batch > 1:
        shape[0] = 1
    axis = axis if axis >= 0 else axis + len(shape) + 1
    return _reshape_to_graph(ctx, tuple(shape[:axis] + [1] + shape[axis:]))


@kernel("TRANSPOSE")
def transpose(ctx: Ctx):
    perm = const_int_list(ctx.args[1], ctx.where(), "perm")
    return np.ascontiguousarray(np.transpose(ctx.args[0], perm))


@kernel("CONCATENATION")
def concatenation(ctx: Ctx):
    xs = [a for a in ctx.args if a is not None]
    y = np.concatenate(xs, axis=int(ctx.opt.get("axis", 0)))
    return fused(y, ctx.opt.get("fused_activation_function"), ctx.where())


@kernel("PAD", "PADV2")
def pad(ctx: Ctx):
    x, paddings = ctx.args[:2]
    p = np.asarray(const_int_list(paddings, ctx.where(), "paddings")).reshape(-1, 2)
    if p.shape[0] != x.ndim:
        raise UnsupportedError(f"{ctx.where()}: paddings for rank {p.shape[0]}, input has rank {x.ndim}")
    value = 0
    if ctx.op.type == "PADV2" and len(ctx.args) > 2 and ctx.args[2] is not None:
        value = np.asarray(ctx.args[2]).ravel()[0]
    return np.pad(x, [tuple(r) for r in p], constant_values=value)


@kernel("STRIDED_SLICE")
def strided_slice(ctx: Ctx):
    x = ctx.args[0]
    w = ctx.where()
    begin = const_int_list(ctx.args[1], w, "begin")
    end = const_int_list(ctx.args[2], w, "end")
    strides = const_int_list(ctx.args[3], w, "strides") if len(ctx.args) > 3 and ctx.args[3] is not None \
        else [1] * len(begin)
    o = ctx.opt
    bm, em = int(o.get("begin_mask", 0)), int(o.get("end_mask", 0))
    ellipsis, new_axis, shrink = int(o.get("ellipsis_mask", 0)), int(o.get("new_axis_mask", 0)), \
        int(o.get("shrink_axis_mask", 0))
    offset = bool(o.get("offset", False))
    index = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis & bit:
            index.append(Ellipsis)
        elif new_axis & bit:
            index.append(np.newaxis)
        elif shrink & bit:
            index.append(b)
        else:
            if s == 0:
                raise UnsupportedError(f"{w}: stride 0")
            if offset:
                e = b + e
            if i == 0 and ctx.batch and ctx.batch > 1:
                index.append(slice(None))  # axis 0 holds the stacked samples (a full slice, see batchable)
                continue
            index.append(slice(None if bm & bit else b, None if em & bit else e, s))
    return np.ascontiguousarray(x[tuple(index)])
