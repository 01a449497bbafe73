"""PTQ 16x8: int16 symmetric activations (zero point 0), int8 per-channel weights, int64 bias (TFLite's
"16x8" integer scheme).

The decisions follow ptq.py's int8 rules (which ops pass params through, which share them, which get
fixed output params), with symmetric int16 params in place of asymmetric int8 ones:
- activations S = max(|rmin|, |rmax|) / 32767, Z = 0;
- SOFTMAX / LOGISTIC / TANH output (1/32768, 0) as TFLite's 16-bit kernels require;
- CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED bias int64 with S = S_in · S_w[c];
- ADD / SUB written with pot_scale_int16 = false (the general rescaling path; the power-of-two path would
  reject calibrated scales).
"""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.quantize import ptq
from edgeq.quantize import qparams as qp

INT16_MAX = 32767
NO_INT16 = {"HARD_SWISH", "PRELU", "RSQRT", "SQUARED_DIFFERENCE", "BATCH_MATMUL"}  # no int16 kernel in TFLite
FIXED_OUTPUT_16 = {"SOFTMAX": (1.0 / 32768.0, 0), "LOGISTIC": (1.0 / 32768.0, 0), "TANH": (1.0 / 32768.0, 0)}


def symmetric_qparams(rmin: float, rmax: float) -> QuantParams:
    amax = max(abs(float(rmin)), abs(float(rmax)), qp.MIN_SPAN)
    if not np.isfinite(amax):
        raise ValueError(f"range [{rmin}, {rmax}] is not finite")
    return QuantParams(np.float32(amax / INT16_MAX), 0)


def _io_casts16(graph: Graph, io: str) -> None:
    """io="float": QUANTIZE at the int16 inputs and DEQUANTIZE at the int16 outputs (others stay int16)."""
    if io == "int16":
        return
    if io != "float":
        raise ValueError(f"io must be int16 or float for 16x8 models, got {io!r}")

    def rename(old: str) -> Tensor:
        t = graph.tensors.pop(old)
        inner = Tensor(graph.unique_name(f"{old}_int16"), t.shape, t.dtype, None, t.quant)
        graph.tensors[inner.name] = inner
        for op in graph.ops:
            op.inputs = [inner.name if n == old else n for n in op.inputs]
            op.outputs = [inner.name if n == old else n for n in op.outputs]
        graph.tensors[old] = Tensor(old, t.shape, "float32")
        return inner

    head, tail = [], []
    for name in graph.inputs:
        if graph.tensors[name].dtype == "int16":
            inner = rename(name)
            head.append(Op("QUANTIZE", [name], [inner.name], {}, name=f"input {name}"))
    for name in graph.outputs:
        if graph.tensors[name].dtype == "int16" and name not in graph.inputs:
            inner = rename(name)
            tail.append(Op("DEQUANTIZE", [inner.name], [name], {}, name=f"output {name}"))
    graph.ops = head + graph.ops + tail


def quantize_graph_16x8(graph: Graph, ranges: dict[str, tuple[float, float]], *, io: str = "int16",
                        weight_clip: str = "minmax", means: dict[str, np.ndarray] | None = None) -> Graph:
    """16x8 copy of a float ``graph`` from the calibrated (rmin, rmax) of every float activation.

    ``io`` is "int16" (the model's inputs/outputs are int16) or "float" (QUANTIZE/DEQUANTIZE added);
    ``weight_clip`` and ``means`` (bias correction) as in ptq.quantize_graph."""
    ptq.check_supported(graph)
    for op in graph.ops:
        if op.type in NO_INT16:
            raise UnsupportedError(f"op {op} producing tensor {op.outputs[0]!r} has no 16x8 kernel in TFLite")
    g = ptq._working_copy(graph)
    params = ptq._activation_params(g, ranges, of_range=symmetric_qparams, fixed=FIXED_OUTPUT_16)
    ptq._insert_requantize(g, params)
    done: dict[str, tuple] = {}
    for op in g.ops:
        if op.type in ptq.WEIGHTED:
            ptq._quantize_weighted(g, op, params, weight_clip, True, done, means)
    # int64 bias: requantize the float bias kept by _quantize_weighted without the int32 bound
    for name, (kind, q, float_bias) in done.items():
        if kind == "bias":
            t = g.tensors[name]
            t.data = np.round(np.asarray(float_bias, np.float64) / q.scale.astype(np.float64)).astype(np.int64)
            t.dtype = "int64"
    for name, q in params.items():
        t = g.tensors[name]
        if t.is_const:
            t.data = qp.quantize(t.data, q, -INT16_MAX, INT16_MAX, np.int16)
        t.dtype, t.quant = "int16", q
    for op in g.ops:
        if op.type in ("ADD", "SUB"):
            op.options["pot_scale_int16"] = False
        if op.type == "FULLY_CONNECTED" and len(op.inputs) > 2 and op.inputs[2] is not None:
            op.options["quantized_bias_type"] = "INT64"  # LiteRT checks it against the bias tensor
    _io_casts16(g, io)
    g.validate()
    return g
