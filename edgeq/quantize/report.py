"""Fidelity report: how far the int8 model is from the float one, layer by layer, on held-out samples.

The int8 .tflite runs in LiteRT (reference kernels, every intermediate tensor preserved); each of its tensors
is matched by name with the float graph's activation, dequantized and compared: SQNR in dB
(10·log10(Σx² / Σ(x − x̂)²)), pooled over the samples. Classifier outputs (SOFTMAX) also get top-1 agreement.
The JSON report keeps full tensor names; the terminal table shows short ones (``short_name``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeq.model.ir import Graph


def sqnr_from_power(signal: float, noise: float) -> float:
    """10·log10(signal / noise); +inf for an exact match, -inf for a zero signal with noise."""
    if noise <= 0.0:
        return math.inf
    if signal <= 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    err = ref - np.asarray(test, np.float64)
    return sqnr_from_power(float(np.sum(ref * ref)), float(np.sum(err * err)))


def _interpreter(model: bytes, preserve: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=bytes(model), experimental_preserve_all_tensors=preserve,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def _to_model(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float data → the model input's type (quantized with the input's own params when integer)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zp = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dtype)


def _to_float(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    qp = detail.get("quantization_parameters", {})
    scales, zps = qp.get("scales", np.zeros(0)), qp.get("zero_points", np.zeros(0))
    if scales.size > 1:
        shape = [1] * y.ndim
        shape[qp.get("quantized_dimension", 0)] = scales.size
        return ((y.astype(np.float64) - zps.reshape(shape)) * scales.reshape(shape)).astype(np.float32)
    scale, zp = detail["quantization"]
    if scale == 0.0:
        return y.astype(np.float32)
    return ((y.astype(np.float64) - zp) * scale).astype(np.float32)


def run_quantized(model: bytes, inputs: Sequence[np.ndarray], *, capture: Sequence[str] = ()):
    """Run a (quantized) .tflite one sample at a time on float ``inputs`` (graph layout, samples on axis 0).

    Returns the float (dequantized) outputs, one array per model output; with ``capture`` (tensor names), also
    a dict of those tensors, dequantized and stacked over samples."""
    it = _interpreter(model, preserve=bool(capture))
    ins, outs = it.get_input_details(), it.get_output_details()
    details = {d["name"]: d for d in it.get_tensor_details()}
    names = [n for n in capture if n in details]
    ys: list[list[np.ndarray]] = [[] for _ in outs]
    caps: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for k in range(inputs[0].shape[0]):
        for d, x in zip(ins, inputs):
            it.set_tensor(d["index"], _to_model(np.asarray(x[k:k + 1], np.float32), d))
        it.invoke()
        for j, d in enumerate(outs):
            ys[j].append(_to_float(it.get_tensor(d["index"]), d))
        for n in names:
            caps[n].append(_to_float(it.get_tensor(details[n]["index"]), details[n]))
    result = [np.concatenate(y) for y in ys]
    if capture:
        return result, {n: np.concatenate(v) for n, v in caps.items()}
    return result


@dataclass
class LayerFidelity:
    tensor: str
    op: str
    sqnr_db: float


@dataclass
class FidelityReport:
    layers: list[LayerFidelity] = field(default_factory=list)
    output_sqnr_db: dict[str, float] = field(default_factory=dict)
    top1_agreement: dict[str, float] = field(default_factory=dict)  # classifier outputs only
    samples: int = 0

    @property
    def min_output_sqnr_db(self) -> float:
        return min(self.output_sqnr_db.values()) if self.output_sqnr_db else math.nan

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        d = asdict(self)
        d["layers"] = [{k: clean(v) for k, v in row.items()} for row in d["layers"]]
        d["output_sqnr_db"] = {k: clean(v) for k, v in self.output_sqnr_db.items()}
        return d

    def write_json(self, path: str | Path, extra: dict | None = None) -> None:
        Path(path).write_text(json.dumps({**(extra or {}), **self.to_dict()}, indent=2) + "\n")


def _classifier_outputs(graph: Graph) -> list[str]:
    out = []
    for name in graph.outputs:
        op = graph.producer(name)
        if op is not None and op.type == "SOFTMAX":
            out.append(name)
    return out


def fidelity_report(float_graph: Graph, model: bytes, samples: Sequence[np.ndarray], *,
                    engine: str = "auto") -> FidelityReport:
    """Compare the quantized ``model`` with ``float_graph`` on ``samples`` (graph layout, axis 0 = sample)."""
    from edgeq.quantize.calibrate import activation_batches, float_activations

    names = float_activations(float_graph)
    float_acts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for batch in activation_batches(float_graph, samples, engine=engine):
        for n in names:
            float_acts[n].append(batch[n])
    ref = {n: np.concatenate(v) for n, v in float_acts.items()}
    _, quant = run_quantized(model, samples, capture=names)
    rep = FidelityReport(samples=int(samples[0].shape[0]))
    producers = {o: op.type for op in float_graph.ops for o in op.outputs}
    for n in names:
        if n in quant:
            rep.layers.append(LayerFidelity(n, producers.get(n, "input"), sqnr_db(ref[n], quant[n])))
    for n in float_graph.outputs:
        if n in quant:
            rep.output_sqnr_db[n] = sqnr_db(ref[n], quant[n])
    for n in _classifier_outputs(float_graph):
        if n in quant:
            a, b = ref[n].reshape(ref[n].shape[0], -1), quant[n].reshape(quant[n].shape[0], -1)
            rep.top1_agreement[n] = float(np.mean(a.argmax(1) == b.argmax(1)))
    return rep


def short_name(name: str, width: int = 48) -> str:
    """A readable tensor name for tables: TFLite joins the names of fused ops with ';'
    ("model/activation/Relu;model/batch_normalization/FusedBatchNormV3;..."), so keep the first one, and
    cut a long one in the middle, where paths are least telling."""
    first = name.split(";", 1)[0] or name
    if len(first) <= width:
        return first
    head = (width - 1) // 2
    return first[:head] + "…" + first[len(first) - (width - 1 - head):]


def render(rep: FidelityReport, console=None, title: str = "int8 fidelity vs float") -> None:
    """Print the per-layer table and the output summary with rich."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"{title} ({rep.samples} held-out samples)")
    t.add_column("#", justify="right")
    t.add_column("op")
    t.add_column("tensor", no_wrap=True)
    t.add_column("SQNR dB", justify="right")
    for i, row in enumerate(rep.layers):
        v = row.sqnr_db
        color = "green" if v >= 30 else "yellow" if v >= 15 else "red"
        t.add_row(str(i), row.op, short_name(row.tensor), f"[{color}]{v:.1f}[/{color}]" if math.isfinite(v) else "exact")
    console.print(t)
    for n, v in rep.output_sqnr_db.items():
        line = f"output {short_name(n)}: SQNR {v:.2f} dB"
        if n in rep.top1_agreement:
            line += f", top-1 agreement {100 * rep.top1_agreement[n]:.1f}%"
        console.print(line)
