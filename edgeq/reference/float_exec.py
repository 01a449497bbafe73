"""Numpy float executor of the graph IR with TFLite float semantics: calibration engine and float baseline.

Samples can be stacked on axis 0 (inputs of shape [n, ...] for a graph input of shape [1, ...]). When every
op leaves axis 0 alone (``batchable``) they run through the graph together, ``batch`` at a time; otherwise
one at a time. Either way the results are stacked on axis 0 again."""
from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from edgeq.errors import CalibrationError, UnsupportedError
from edgeq.model.ir import Graph, Op
from edgeq.reference import ops_conv, ops_math, ops_shape  # noqa: F401  (they register their kernels)
from edgeq.reference.kernels import KERNELS, Ctx, batched_shape

DEFAULT_BATCH = 32

# Ops that treat axis 0 as an independent sample axis whatever their options (the rest are checked below).
_SAMPLEWISE = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL",
    "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1",
    "LEAKY_RELU", "PRELU", "LOGISTIC", "TANH", "HARD_SWISH", "EXP", "ABS", "NEG", "SQRT", "RSQRT", "SOFTMAX",
    "LOG_SOFTMAX", "RESHAPE",
}


def supported_ops() -> list[str]:
    return sorted(KERNELS)


def run_float(graph: Graph, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray], *,
              capture: bool | Collection[str] = False, batch: int | None = None):
    """Run the graph in float32.

    ``inputs``: arrays in ``graph.inputs`` order, or a dict by input name; each of the input's shape, or
    [n, ...] with n samples stacked where the graph's shape has 1 on axis 0.
    Returns the graph outputs as a list, or with ``capture`` a dict name -> value of every activation
    (graph inputs and op outputs; pass a collection of names to keep only those). ``batch`` caps how
    many samples go through the graph at once (default 32)."""
    feeds, n = _feeds(graph, inputs)
    consts = _check_plan(graph)
    want = None if capture is True else (set(capture) if capture else set(graph.outputs))
    step = max(1, int(batch or DEFAULT_BATCH))
    together = n > 1 and step > 1 and batchable(graph)
    parts: list[dict[str, np.ndarray]] = []
    start = 0
    with _blas_one_thread():
        while start < n:
            size = min(step, n - start) if together else 1
            chunk = [f[start:start + size] for f in feeds] if n > 1 else feeds
            parts.append(_run_once(graph, chunk, consts, want, size if size > 1 else None))
            start += size
    values = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    if capture:
        return values
    return [values[o] for o in graph.outputs]


def _blas_one_thread():
    """The matrices here are small: BLAS threads cost more in wake-ups than they gain, and on a busy
    machine they spin against other processes (measured 4x slower on VWW with 2 threads under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _feeds(graph: Graph, inputs) -> tuple[list[np.ndarray], int]:
    if isinstance(inputs, Mapping):
        missing = [n for n in graph.inputs if n not in inputs]
        if missing:
            raise CalibrationError(f"{graph.name}: no data for input(s) {', '.join(map(repr, missing))}")
        arrays = [inputs[n] for n in graph.inputs]
    else:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise CalibrationError(f"{graph.name}: {len(arrays)} input array(s) given, the model has "
                                   f"{len(graph.inputs)} input(s)")
    feeds, counts = [], set()
    for name, x in zip(graph.inputs, arrays):
        t = graph.tensors[name]
        x = np.asarray(x)
        shape = t.shape
        if x.shape == shape:
            n = 1
        elif shape and shape[0] == 1 and x.shape[1:] == shape[1:] and x.ndim == len(shape):
            n = x.shape[0]
        elif shape and shape[0] == 1 and x.shape == shape[1:]:
            x, n = x[None], 1
        else:
            raise CalibrationError(f"{graph.name}: input {name!r} expects shape {list(shape)} "
                                   f"(or [n, ...] samples), got {list(x.shape)}")
        if x.dtype != np.dtype(t.dtype):
            x = x.astype(t.dtype)
        feeds.append(x)
        counts.add(n)
    if len(counts) > 1:
        raise CalibrationError(f"{graph.name}: inputs hold different numbers of samples {sorted(counts)}")
    n = counts.pop() if counts else 1
    if n == 0:
        raise CalibrationError(f"{graph.name}: no samples given")
    return feeds, n


def _is_quantized_activation(t) -> bool:
    return t.quant is not None and t.dtype not in ("float32", "float16", "float64") and not t.is_const


def _check_plan(graph: Graph) -> dict[str, np.ndarray]:
    """Fail before running on anything the executor cannot do; return the constants as it will use them."""
    for name in graph.inputs:
        if _is_quantized_activation(graph.tensors[name]):
            raise UnsupportedError(f"{graph.name}: input {name!r} is quantized ({graph.tensors[name].dtype}); "
                                   "the float executor runs float graphs only")
    for op in graph.ops:
        out = op.outputs[0] if op.outputs else "?"
        if op.type not in KERNELS:
            raise UnsupportedError(f"{op}: op {op.type} is not supported by the float executor (output {out!r})")
        if op.type in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for n in [i for i in op.inputs if i] + op.outputs:
            if _is_quantized_activation(graph.tensors[n]):
                raise UnsupportedError(f"{op}: tensor {n!r} is quantized ({graph.tensors[n].dtype}); the float "
                                       "executor does not run quantized ops")
    consts = {}
    for name, t in graph.tensors.items():
        if t.is_const:
            if t.quant is not None and t.data.dtype.kind in "iu" and t.dtype != "int32":
                # hybrid models: int8 weights feeding float ops are used through their scales
                from edgeq.model.tflite_io import dequantize_const
                consts[name] = dequantize_const(t)
            else:
                consts[name] = t.data
    return consts


def batchable(graph: Graph) -> bool:
    """True when stacking samples on axis 0 gives each sample exactly its own result."""
    acts = set(graph.inputs) | {o for op in graph.ops for o in op.outputs}
    for n in acts:
        s = graph.tensors[n].shape
        if len(s) < 2 or s[0] != 1:
            return False
    for op in graph.ops:
        if op.type in _BROADCASTING and not _same_rank_operands(graph, op):
            return False
        if op.type in _SAMPLEWISE:
            continue
        if not _axis0_safe(graph, op):
            return False
    return True


_BROADCASTING = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU")


def _same_rank_operands(graph: Graph, op: Op) -> bool:
    """A lower-rank activation, or a constant of higher rank than the output, would align its axes
    differently once samples are stacked on axis 0."""
    rank = len(graph.tensors[op.outputs[0]].shape)
    for name in op.inputs:
        t = graph.tensors[name]
        if len(t.shape) > rank or (not t.is_const and len(t.shape) != rank):
            return False
    return True


def _const(graph: Graph, name: str | None):
    if name is None or name not in graph.tensors or not graph.tensors[name].is_const:
        return None
    return np.asarray(graph.tensors[name].data).ravel().tolist()


def _axis0_safe(graph: Graph, op: Op) -> bool:
    rank = len(graph.tensors[op.inputs[0]].shape) if op.inputs and op.inputs[0] else 0
    o = op.options
    t = op.type
    if t == "CONCATENATION":
        return int(o.get("axis", 0)) % max(rank, 1) != 0
    if t in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        axes = _const(graph, op.inputs[1])
        return axes is not None and all(a % rank != 0 for a in axes)
    if t == "TRANSPOSE":
        perm = _const(graph, op.inputs[1])
        return perm is not None and perm[0] == 0
    if t in ("PAD", "PADV2"):
        p = _const(graph, op.inputs[1])
        return p is not None and p[0] == 0 and p[1] == 0
    if t == "SQUEEZE":
        dims = o.get("squeeze_dims") or []
        return bool(dims) and all(d % rank != 0 for d in dims)
    if t == "EXPAND_DIMS":
        axis = _const(graph, op.inputs[1])
        return axis is not None and axis[0] % (rank + 1) != 0
    if t == "STRIDED_SLICE":
        begin, end = _const(graph, op.inputs[1]), _const(graph, op.inputs[2])
        strides = _const(graph, op.inputs[3]) if len(op.inputs) > 3 else [1]
        if begin is None or end is None or strides is None:
            return False
        if int(o.get("ellipsis_mask", 0)) & 1:
            return True
        if (int(o.get("shrink_axis_mask", 0)) | int(o.get("new_axis_mask", 0))) & 1 or strides[0] != 1:
            return False
        return (int(o.get("begin_mask", 0)) & 1 or begin[0] == 0) and \
            (int(o.get("end_mask", 0)) & 1 or end[0] >= 1)
    if t == "BATCH_MATMUL":
        return rank >= 3 or graph.tensors[op.inputs[1]].is_const
    if t in ("QUANTIZE", "DEQUANTIZE"):
        q = graph.tensors[op.outputs[0] if t == "QUANTIZE" else op.inputs[0]].quant
        return q is None or not q.per_channel or q.axis != 0
    return False


class _NotBatchable(Exception):
    pass


def _run_once(graph: Graph, feeds: list[np.ndarray], consts: dict, want: set[str] | None,
              batch: int | None) -> dict[str, np.ndarray]:
    try:
        return _execute(graph, feeds, consts, want, batch)
    except _NotBatchable:  # a shape the static check did not foresee: fall back to one sample at a time
        parts = [_execute(graph, [f[i:i + 1] for f in feeds], consts, want, None) for i in range(batch)]
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def _execute(graph: Graph, feeds, consts, want, batch) -> dict[str, np.ndarray]:
    env: dict[str, np.ndarray] = dict(zip(graph.inputs, feeds))
    last_use: dict[str, int] = {}
    for k, op in enumerate(graph.ops):
        for i in op.inputs:
            if i:
                last_use[i] = k
    keep = want if want is not None else set(env) | {o for op in graph.ops for o in op.outputs}
    out_vals: dict[str, np.ndarray] = {n: env[n] for n in graph.inputs if n in keep}
    for k, op in enumerate(graph.ops):
        args = []
        for i in op.inputs:
            if i is None:
                args.append(None)
            elif i in env:
                args.append(env[i])
            elif i in consts:
                args.append(consts[i])
            else:
                raise UnsupportedError(f"{op}: input {i!r} has no value (not a graph input, constant or earlier output)")
        ctx = Ctx(op, args, graph, batch)
        try:
            res = KERNELS[op.type](ctx)
        except UnsupportedError:
            raise
        except (ValueError, IndexError, TypeError) as e:
            if batch:
                raise _NotBatchable() from e
            raise UnsupportedError(f"{ctx.where()}: cannot execute ({type(e).__name__}: {e})") from None
        res = res if isinstance(res, list) else [res]
        for name, val in zip(op.outputs, res):
            t = graph.tensors[name]
            val = np.asarray(val)
            if t.dtype == "float32" and val.dtype != np.float32:
                val = val.astype(np.float32)
            if batch and val.shape != batched_shape(t.shape, val.size, batch):
                raise _NotBatchable()
            env[name] = val
            if name in keep:
                out_vals[name] = val
        for i in op.inputs:  # free activations nobody reads any more
            if i and last_use.get(i) == k and i in env and i not in keep:
                del env[i]
    return out_vals
