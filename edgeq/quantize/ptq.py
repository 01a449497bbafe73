"""PTQ static INT8: a float Graph plus calibrated activation ranges → a full-integer Graph (TFLite integer spec).

Rules (those of TFLite's own quantizer, checked by running the result in LiteRT):
- CONV_2D / FULLY_CONNECTED weights int8 symmetric per output channel (axis 0), DEPTHWISE_CONV_2D on axis 3;
  bias int32 with S = S_in · S_w[c], Z = 0.
- Activations int8 asymmetric per tensor from the calibrated range (widened to contain 0).
- SOFTMAX / LOGISTIC output (1/256, -128), TANH output (1/128, 0).
- Ops that move or select values without arithmetic (pooling, reshape, pad, slice, transpose...) give their
  output the input's params: their int8 kernels copy integers and would otherwise be wrong.
- CONCATENATION / MAXIMUM / MINIMUM / PACK: every input must share the output's params; inputs that differ are
  requantized by an inserted QUANTIZE op. Their float constant inputs are quantized with the output's params.
- Any other float constant input (ADD/MUL operands, PRELU alpha) is quantized per tensor from its own min/max.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.quantize import qparams as qp

WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}  # weight channel axis
FIXED_OUTPUT = {
    "SOFTMAX": (1.0 / 256.0, -128),
    "LOGISTIC": (1.0 / 256.0, -128),
    "TANH": (1.0 / 128.0, 0),
    "LOG_SOFTMAX": (16.0 / 256.0, 127),
}
# Output takes the (first, data) input's params.
SAME_AS_INPUT = {
    "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "PAD", "PADV2",
    "MIRROR_PAD", "STRIDED_SLICE", "SLICE", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "GATHER", "TILE", "BROADCAST_TO",
    "REDUCE_MAX", "REDUCE_MIN", "SPLIT", "SPLIT_V", "UNPACK",
}
# All inputs and the output share one set of params (the output's).
SHARED_INPUTS = {"CONCATENATION", "MAXIMUM", "MINIMUM", "PACK"}
# Own output params from calibration.
FREE_OUTPUT = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "MEAN",
    "SUM", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "PRELU", "HARD_SWISH", "QUANTIZE", "ABS", "RSQRT",
    "BATCH_MATMUL",
}
SUPPORTED = set(WEIGHTED) | set(FIXED_OUTPUT) | SAME_AS_INPUT | SHARED_INPUTS | FREE_OUTPUT
# Non-data inputs of the ops above (axes, shapes, paddings...) are integer constants and stay as they are;
# the data inputs are these positions (all positions for the rest).
DATA_INPUTS = {"SPLIT": (1,), "PADV2": (0, 2)}


def _is_float(t: Tensor) -> bool:
    return t.dtype in ("float32", "float16", "float64")


def _data_inputs(op: Op) -> list[str]:
    pos = DATA_INPUTS.get(op.type)
    if pos is None:
        pos = (0,) if op.type in SAME_AS_INPUT else range(len(op.inputs))
    return [op.inputs[i] for i in pos if i < len(op.inputs) and op.inputs[i] is not None]


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedError naming the first op with a float tensor that has no int8 form."""
    for op in graph.ops:
        if op.type in SUPPORTED:
            continue
        if any(_is_float(graph.tensors[n]) for n in list(op.inputs) + op.outputs if n is not None):
            out = op.outputs[0] if op.outputs else "?"
            raise UnsupportedError(f"op {op} producing tensor {out!r} has no int8 form in the TFLite spec")


def head_tensors(graph: Graph, outputs: bool = False) -> set[str]:
    """The logits: the tensors whose range sets the params of a SOFTMAX / LOG_SOFTMAX input (found through
    the ops that pass params through, e.g. RESHAPE), and with ``outputs`` the float graph outputs too.

    These get their exact calibrated min/max whatever the method: clipping a logit saturates exactly the
    values that decide the argmax, and nothing downstream averages the error away."""
    heads = [op.inputs[0] for op in graph.ops if op.type in ("SOFTMAX", "LOG_SOFTMAX") and op.inputs]
    if outputs:
        heads += [n for n in graph.outputs if _is_float(graph.tensors[n])]
    found = set()
    for n in heads:
        op = graph.producer(n)
        while op is not None and op.type in SAME_AS_INPUT and _data_inputs(op):
            n = _data_inputs(op)[0]
            op = graph.producer(n)
        if op is not None and op.type not in FIXED_OUTPUT:
            found.add(n)
    return found


def _same(a: QuantParams, b: QuantParams) -> bool:
    return bool(np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point))


def _activation_params(graph: Graph, ranges: dict[str, tuple[float, float]], *,
                       of_range=qp.affine_qparams, fixed: dict[str, tuple[float, int]] = FIXED_OUTPUT) -> dict[str, QuantParams]:
    """Decide the params of every float activation and non-weight float constant, in execution order:
    ``of_range(lo, hi)`` for calibrated ranges and constants (int8 affine by default), ``fixed`` for the
    outputs whose params the kernels fix (int8's FIXED_OUTPUT by default)."""
    params: dict[str, QuantParams] = {}

    def from_range(name: str) -> QuantParams:
        if name not in ranges:
            raise KeyError(f"no calibrated range for tensor {name!r}")
        return of_range(*ranges[name])

    for name in graph.inputs:
        if _is_float(graph.tensors[name]):
            params[name] = from_range(name)
    for op in graph.ops:
        weight_inputs = set(op.inputs[1:3]) if op.type in WEIGHTED else set()
        data = [n for n in _data_inputs(op) if n not in weight_inputs and _is_float(graph.tensors[n])]
        outs = [o for o in op.outputs if _is_float(graph.tensors[o])]
        if op.type in SHARED_INPUTS:
            shared = from_range(outs[0])
            for o in outs:
                params[o] = shared
            for n in data:
                if graph.tensors[n].is_const and n not in params:
                    params[n] = shared
            continue
        for n in data:
            if n not in params and graph.tensors[n].is_const:
                data_n = graph.tensors[n].data
                params[n] = of_range(float(np.min(data_n)), float(np.max(data_n)))
        for o in outs:
            if op.type in fixed:
                params[o] = QuantParams(np.float32(fixed[op.type][0]), fixed[op.type][1])
            elif op.type in SAME_AS_INPUT and data:
                params[o] = params[data[0]]
            else:
                params[o] = from_range(o)
        if op.type == "PADV2" and len(op.inputs) > 2 and op.inputs[2] in params:
            params[op.inputs[2]] = params[op.inputs[0]]  # the pad value must be in the data's scale
    return params


def _insert_requantize(graph: Graph, params: dict[str, QuantParams]) -> None:
    """Give every input of a SHARED_INPUTS op the output's params, through a QUANTIZE op where they differ."""
    new_ops: list[Op] = []
    for op in graph.ops:
        if op.type in SHARED_INPUTS and op.outputs and op.outputs[0] in params:
            target = params[op.outputs[0]]
            for i, n in enumerate(op.inputs):
                if n is None or n not in params or _same(params[n], target):
                    continue
                src = graph.tensors[n]
                t = graph.add_tensor(Tensor(f"{n}_requant", src.shape, src.dtype))
                params[t.name] = target
                new_ops.append(Op("QUANTIZE", [n], [t.name], {}, name=f"requantize {n}"))
                op.inputs[i] = t.name
        new_ops.append(op)
    graph.ops = new_ops


def _bias_shift(op: Op, w: np.ndarray, wq: np.ndarray, q: QuantParams, mean_in: np.ndarray) -> np.ndarray:
    """Expected change of each output channel caused by weight rounding alone: (dequant(Wq) - W) · E[x]
    with E[x] the per-channel mean of the op's input (border padding ignored)."""
    # float32 is plenty for a correction of a rounding error (and halves the passes over the weights)
    dw = wq.astype(np.float32)
    dw *= q.scale.astype(np.float32).reshape(q.broadcast_shape(wq.ndim))  # Z = 0 for weights
    dw -= w
    m = mean_in.astype(np.float64)
    if op.type == "DEPTHWISE_CONV_2D":
        mult = w.shape[3] // m.size
        return dw.sum(axis=(0, 1, 2), dtype=np.float64) * np.repeat(m, mult)
    if dw.ndim == 2 and dw.shape[1] == m.size:  # FULLY_CONNECTED: one float32 matrix-vector product
        return (dw @ m.astype(np.float32)).astype(np.float64)
    return dw.reshape(dw.shape[0], -1, m.size).sum(axis=1, dtype=np.float64) @ m


def _quantize_weighted(graph: Graph, op: Op, params: dict[str, QuantParams], weight_clip: str,
                       per_channel_fc: bool, done: dict[str, tuple],
                       means: dict[str, np.ndarray] | None = None) -> None:
    w_name = op.inputs[1]
    w = graph.tensors[w_name]
    if not w.is_const:
        raise UnsupportedError(f"op {op}: weight tensor {w_name!r} is not constant (int8 needs constant weights)")
    axis = WEIGHTED[op.type]
    if op.type == "FULLY_CONNECTED" and not per_channel_fc:
        axis = None
    in_scale = float(params[op.inputs[0]].scale[0])
    b_name = op.inputs[2] if len(op.inputs) > 2 else None
    if w_name in done:
        wq, shift = done[w_name][1], done[w_name][2]
    else:
        wf = np.asarray(w.data, np.float32)
        b_float = None if b_name is None else done[b_name][2] if b_name in done else graph.tensors[b_name].data
        wq = qp.fit_bias(qp.weight_qparams(wf, axis, weight_clip), in_scale, b_float)
        w.data, w.dtype, w.quant = qp.quantize_weights(wf, wq), "int8", wq
        shift = None
        m = means.get(op.inputs[0]) if means else None
        if m is not None and wf.shape[-1] % m.size == 0 and (op.type == "DEPTHWISE_CONV_2D" or wf.shape[-1] == m.size):
            shift = _bias_shift(op, wf, w.data, wq, m).astype(np.float32)
        done[w_name] = ("weight", wq, shift)
    if b_name is None and shift is not None:
        out_ch = w.shape[0] if op.type != "DEPTHWISE_CONV_2D" else w.shape[3]
        b_name = graph.add_tensor(Tensor(f"{w_name}_bias", (out_ch,), "float32", np.zeros(out_ch, np.float32))).name
        op.inputs = list(op.inputs) + [None] * (3 - len(op.inputs))
        op.inputs[2] = b_name
    if b_name is None:
        return
    bq = qp.bias_qparams(in_scale, wq)
    if bq.scale.size == 1 and wq.scale.size == 1:
        bq = QuantParams(bq.scale, 0)
    b = graph.tensors[b_name]
    if b_name in done:
        if _same(done[b_name][1], bq):
            return
        b = graph.add_tensor(Tensor(f"{b_name}_q", b.shape, "float32", done[b_name][2].copy()))
        op.inputs[2] = b.name
    float_bias = np.asarray(b.data, np.float32)
    if shift is not None and b_name not in done:
        float_bias = float_bias - shift
    b.data, b.dtype, b.quant = qp.quantize_bias(float_bias, bq), "int32", bq
    done[b.name] = ("bias", bq, float_bias)


def _io_casts(graph: Graph, io: str) -> None:
    """io="float": QUANTIZE at inputs and DEQUANTIZE at outputs; io="uint8": int8↔uint8 QUANTIZE ops.

    The user-facing tensors keep the original names; the int8 ones inside become ``<name>_int8``."""
    if io == "int8":
        return
    if io not in ("float", "uint8"):
        raise ValueError(f"io must be int8, uint8 or float, got {io!r}")

    def outer(t: Tensor) -> tuple[str, QuantParams | None]:
        if io == "float":
            return "float32", None
        return "uint8", QuantParams(t.quant.scale, t.quant.zero_point + 128)

    def rename(old: str) -> Tensor:
        t = graph.tensors.pop(old)
        inner = Tensor(graph.unique_name(f"{old}_int8"), t.shape, t.dtype, None, t.quant)
        graph.tensors[inner.name] = inner
        for op in graph.ops:
            op.inputs = [inner.name if n == old else n for n in op.inputs]
            op.outputs = [inner.name if n == old else n for n in op.outputs]
        dtype, q = outer(t)
        graph.tensors[old] = Tensor(old, t.shape, dtype, None, q)
        return inner

    head, tail = [], []
    for name in graph.inputs:
        if graph.tensors[name].dtype == "int8":
            inner = rename(name)
            head.append(Op("QUANTIZE", [name], [inner.name], {}, name=f"input {name}"))
    for name in graph.outputs:
        if graph.tensors[name].dtype == "int8" and name not in graph.inputs:
            inner = rename(name)
            kind = "DEQUANTIZE" if io == "float" else "QUANTIZE"
            tail.append(Op(kind, [inner.name], [name], {}, name=f"output {name}"))
    graph.ops = head + graph.ops + tail


def _working_copy(graph: Graph) -> Graph:
    """A copy whose tensors and ops can be changed freely; constant arrays are shared, not copied
    (the quantizer replaces them, never writes into them)."""
    g = Graph(graph.name)
    g.tensors = {n: dataclasses.replace(t) for n, t in graph.tensors.items()}
    g.ops = [Op(op.type, list(op.inputs), list(op.outputs), dict(op.options), op.name) for op in graph.ops]
    g.inputs, g.outputs = list(graph.inputs), list(graph.outputs)
    g.metadata, g.input_perm, g.output_perm = dict(graph.metadata), dict(graph.input_perm), dict(graph.output_perm)
    return g


def quantize_graph(graph: Graph, ranges: dict[str, tuple[float, float]], *, io: str = "int8",
                   weight_clip: str = "minmax", per_channel_fc: bool = True,
                   means: dict[str, np.ndarray] | None = None) -> Graph:
    """Full-integer copy of a float ``graph`` given the calibrated (rmin, rmax) of every float activation.

    ``io`` picks the model's input/output type: "int8", "uint8" or "float" (adds QUANTIZE/DEQUANTIZE).
    ``weight_clip`` is "minmax" or "mse" (per-channel MSE-optimal weight thresholds).
    ``means`` (per-channel means of the float activations, from calibrate_stats) turns on bias correction:
    each weighted op's bias absorbs the expected output shift that rounding its weights causes."""
    if io not in ("int8", "uint8", "float"):
        raise ValueError(f"io must be int8, uint8 or float, got {io!r}")
    check_supported(graph)
    g = _working_copy(graph)
    params = _activation_params(g, ranges)
    _insert_requantize(g, params)
    done: dict[str, tuple] = {}
    for op in g.ops:
        if op.type in WEIGHTED:
            _quantize_weighted(g, op, params, weight_clip, per_channel_fc, done, means)
    for name, q in params.items():
        t = g.tensors[name]
        if t.is_const:
            t.data = qp.quantize(t.data, q)
        t.dtype, t.quant = "int8", q
    _io_casts(g, io)
    g.validate()
    return g
