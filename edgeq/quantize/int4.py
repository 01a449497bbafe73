"""INT4 weights (W4A8 / W4A16): CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weights as TFLite INT4,
symmetric per output channel in [-7, 7] (Z = 0), applied to an already quantized graph.

The graph keeps the int4 values unpacked in int8 arrays with dtype "int4" (the writer packs them two per
byte, low nibble first). Each converted op's bias is requantized to the new S_in · S_w[c] from the float
model's bias, with bias correction when the calibration means are given (4-bit rounding moves the mean
output far more than 8-bit rounding, so the correction matters more here).
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from edgeq.model.ir import Graph, Op, QuantParams
from edgeq.quantize import ptq
from edgeq.quantize import qparams as qp

INT4_MAX = 7


def int4_clip_thresholds(w: np.ndarray, axis: int, clip: str = "mse", grid: int = 60, lowest: float = 0.3) -> np.ndarray:
    """Per-channel threshold T: max |w| ("minmax") or the one minimizing the channel's 4-bit squared error."""
    if clip == "minmax":
        return np.abs(np.moveaxis(np.asarray(w, np.float64), axis, 0).reshape(w.shape[axis], -1)).max(axis=1)
    if clip != "mse":
        raise ValueError(f"unknown weight clipping {clip!r} (choose minmax or mse)")
    return qp.mse_clip_thresholds(w, axis, grid=grid, lowest=lowest, qmax=INT4_MAX)


def int4_qparams(w: np.ndarray, axis: int, clip: str = "mse") -> QuantParams:
    t = int4_clip_thresholds(w, axis, clip)
    scale = np.where(t > 0, t / INT4_MAX, 1.0).astype(np.float32)
    return QuantParams(scale, np.zeros(scale.size, np.int64), axis)


def quantize_int4(w: np.ndarray, q: QuantParams) -> np.ndarray:
    return qp.quantize(w, q, -INT4_MAX, INT4_MAX)


def float_weights(float_graph: Graph, op: Op) -> tuple[np.ndarray, np.ndarray, Op]:
    """(float weights, float bias or zeros, the float op) for the float op that owns weight ``op.inputs[1]``."""
    w_name = op.inputs[1]
    for fop in float_graph.ops:
        if fop.type == op.type and len(fop.inputs) > 1 and fop.inputs[1] == w_name:
            w = np.asarray(float_graph.tensors[w_name].data, np.float32)
            out_ch = w.shape[3] if op.type == "DEPTHWISE_CONV_2D" else w.shape[0]
            b_name = fop.inputs[2] if len(fop.inputs) > 2 else None
            b = np.zeros(out_ch, np.float32) if b_name is None else np.asarray(float_graph.tensors[b_name].data, np.float32)
            return w, b, fop
    raise KeyError(f"{op}: no float op owns weight tensor {w_name!r}")


def weighted_ops(graph: Graph) -> list[Op]:
    return [op for op in graph.ops if op.type in ptq.WEIGHTED and graph.tensors[op.inputs[1]].is_const]


@dataclass
class Rounded:
    """What a ``rounding`` callback may return instead of the bare int values: the values, the per-channel
    scales they go with (a scale search may change them) and the float shift to add to the bias (an
    empirical correction measured on calibration data; None: the analytic one from ``means`` applies)."""
    values: np.ndarray
    qparams: QuantParams
    bias_shift: np.ndarray | None = None


RoundFn = Callable[[Op, np.ndarray, QuantParams], "np.ndarray | Rounded"]


def apply_int4(float_graph: Graph, qgraph: Graph, *, layers: Collection[str] | None = None, clip: str = "mse",
               means: dict[str, np.ndarray] | None = None, rounding: RoundFn | None = None) -> Graph:
    """Turn the weights of the weighted ops of ``qgraph`` (a quantized copy of ``float_graph``) into INT4, in
    place, and return it. ``layers`` limits this to the ops whose output tensor is named there; ``clip``
    picks the per-channel threshold (minmax or mse); ``means`` (per-channel float input means, from
    calibrate_stats) turns on bias correction; ``rounding(float_op, w, q)`` replaces round-to-nearest
    (AdaRound, GPTQ) and returns the int values in [-7, 7], or a Rounded (values, scales, bias shift)."""
    done: set[str] = set()
    for op in weighted_ops(qgraph):
        if layers is not None and op.outputs[0] not in layers:
            continue
        w_name = op.inputs[1]
        wt = qgraph.tensors[w_name]
        if w_name in done or wt.dtype == "int4":
            continue
        if sum(1 for o in qgraph.ops if len(o.inputs) > 1 and o.inputs[1] == w_name) > 1:
            continue  # a weight shared by several ops keeps one precision: left as it is
        w, b, fop = float_weights(float_graph, op)
        axis = ptq.WEIGHTED[op.type]
        in_t = qgraph.tensors[op.inputs[0]]
        # scales raised where a bias would not fit over S_in · S_w (as int8 weights do)
        q = qp.fit_bias(int4_qparams(w, axis, clip), float(in_t.quant.scale[0]), b)
        out = rounding(fop, w, q) if rounding is not None else quantize_int4(w, q)
        shift = None
        if isinstance(out, Rounded):
            wq, q, shift = out.values, out.qparams, out.bias_shift
            fitted = qp.fit_bias(q, float(in_t.quant.scale[0]), b)
            if fitted is not q:  # a searched scale too fine for the bias: those channels round to nearest
                moved = fitted.scale != q.scale
                near = quantize_int4(w, fitted)
                sel = [slice(None)] * w.ndim
                sel[axis] = moved
                wq = np.array(wq, copy=True)
                wq[tuple(sel)] = near[tuple(sel)]
                q = fitted
                shift = None if shift is None else np.where(moved, 0.0, shift).astype(np.float32)
        else:
            wq = out
        wt.data, wt.dtype, wt.quant = wq.astype(np.int8), "int4", q
        done.add(w_name)
        m = means.get(fop.inputs[0]) if means else None  # quantized names may differ (io casts)
        if shift is not None:
            b = (b + shift).astype(np.float32)
        elif m is not None and (op.type == "DEPTHWISE_CONV_2D" and w.shape[-1] % m.size == 0 or w.shape[-1] == m.size):
            b = b - ptq._bias_shift(op, w, wq, q, m).astype(np.float32)
        _set_bias(qgraph, op, b, float(in_t.quant.scale[0]), q, "int64" if in_t.dtype == "int16" else "int32")
    qgraph.validate()
    return qgraph


def _set_bias(g: Graph, op: Op, b: np.ndarray, in_scale: float, wq: QuantParams, dtype: str) -> None:
    bq = qp.bias_qparams(in_scale, wq)
    if dtype == "int64":
        data = np.round(b.astype(np.float64) / bq.scale.astype(np.float64)).astype(np.int64)
    else:
        data = qp.quantize_bias(b, bq)
    name = op.inputs[2] if len(op.inputs) > 2 else None
    if name is not None and sum(1 for o in g.ops if name in o.inputs) == 1:
        t = g.tensors[name]
        t.data, t.dtype, t.quant, t.shape = data, dtype, bq, data.shape
        return
    t = g.add_const(f"{op.inputs[1]}_bias4", data, bq)
    t.dtype = dtype
    op.inputs = list(op.inputs) + [None] * (3 - len(op.inputs))
    op.inputs[2] = t.name
