"""The convert API: float .tflite / .onnx → full-integer INT8 .tflite (PTQ static), with a fidelity summary.

    edgeq.convert(src, calib=..., method=...) -> bytes
    edgeq.convert_file(src, dst, calib=..., ...) -> ConversionResult   (writes dst atomically)
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import CalibrationError, EdgeqError, ModelError
from edgeq.fileio import write_atomic
from edgeq.model.ir import Graph
from edgeq.quantize.calibrate import check_samples, collect_stats
from edgeq.quantize.observers import METHODS as OBSERVER_METHODS
from edgeq.quantize.ptq import head_tensors, quantize_graph
from edgeq.quantize.report import FidelityReport, fidelity_report, sqnr_db

# "auto" picks minmax or mse per model (see _auto_stats); the others are one observer each
METHODS = ("auto", *OBSERVER_METHODS)
DEFAULT_METHOD = "auto"  # chosen from tools/bench_convert.py (see its table)
HOLDOUT = 0.2
AUTO_CHOICES = ("mse", "minmax")  # mse first: the one the others must beat by AUTO_MARGIN_DB
AUTO_HOLDOUT = 0.2  # the last fifth of the calibration samples decides auto's choice
# A fifth of a calibration set is a small jury: on bench-convert's splits the logit-SQNR margin between the two
# methods on it wandered by ±2 dB for the same model, while mse has the better held-out SQNR overall; so
# minmax replaces mse only when it wins by this much.
AUTO_MARGIN_DB = 1.0


def _source_bytes(src) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "<bytes>"
    p = Path(src)
    try:
        return p.read_bytes(), str(p)
    except FileNotFoundError:
        raise ModelError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{p}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelError(f"{p}: cannot read ({e.strerror})") from None


def load_model(src) -> Graph:
    """A float Graph from a .tflite or .onnx path or bytes (b"TFL3" at offset 4 means .tflite)."""
    return _load_model(src)[0]


def _load_model(src) -> tuple[Graph, bytes | None]:
    """(graph, the .tflite bytes it was read from, or None for ONNX)."""
    return _load_model_sized(src)[:2]


def _load_model_sized(src) -> tuple[Graph, bytes | None, int]:
    """_load_model plus the source's size in bytes (the file is read once)."""
    data, label = _source_bytes(src)
    size = len(data)
    if len(data) >= 8 and data[4:8] == b"TFL3":
        from edgeq.model.tflite_io import read_tflite

        graph = read_tflite(data, label=label)
    elif label.lower().endswith(".tflite"):
        from edgeq.model.tflite_io import read_tflite

        graph = read_tflite(data, label=label)  # not a flatbuffer: let the reader say why
    else:
        from edgeq.model.onnx_import import import_onnx

        graph = import_onnx(data, label=label)
        data = None
    if label != "<bytes>":
        graph.name = Path(label).stem
    return graph, data, size


def check_weights(graph: Graph) -> None:
    """ModelError naming the first constant with NaN or infinite values."""
    for name, t in graph.tensors.items():
        if t.is_const and np.issubdtype(np.asarray(t.data).dtype, np.floating):
            # a finite sum (one pass, no mask) proves every value finite; otherwise look closer
            if not np.isfinite(np.sum(t.data, dtype=np.float64)) and not np.isfinite(t.data).all():
                bad = int(np.size(t.data) - np.isfinite(t.data).sum())
                raise ModelError(f"{graph.name}: constant tensor {name!r} has {bad} NaN/inf values")


def layout_note(graph: Graph) -> str:
    if graph.input_perm:
        return "NHWC (source was NCHW)"
    return "NHWC" if any(len(graph.tensors[n].shape) == 4 for n in graph.inputs) else "as the source"


@dataclass
class ConversionResult:
    """What convert_file did: sizes, fidelity on the held-out samples, and how the input is laid out."""

    src: str
    dst: str
    method: str
    io: str
    float_bytes: int
    int8_bytes: int
    seconds: float
    calib_samples: int
    holdout_samples: int
    input_layout: str
    report: FidelityReport | None = None
    notes: list[str] = field(default_factory=list)
    chosen_method: str = ""  # for method "auto": minmax or mse

    @property
    def output_sqnr_db(self) -> float:
        return self.report.min_output_sqnr_db if self.report else math.nan

    @property
    def top1_agreement(self) -> float | None:
        if not self.report or not self.report.top1_agreement:
            return None
        return min(self.report.top1_agreement.values())

    def summary(self) -> dict:
        d = {k: getattr(self, k) for k in ("src", "dst", "method", "chosen_method", "io", "float_bytes", "int8_bytes", "seconds",
                                          "calib_samples", "holdout_samples", "input_layout", "notes")}
        if self.report:
            d.update(self.report.to_dict())
        return d


def split_holdout(samples: list[np.ndarray], holdout: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(calibration, held-out): the last ``holdout`` fraction (at least 1 sample) is held out; a single
    sample is used for both."""
    n = samples[0].shape[0]
    if holdout <= 0 or n == 1:
        return samples, samples
    k = min(n - 1, max(1, int(round(n * holdout))))
    return [a[:n - k] for a in samples], [a[n - k:] for a in samples]


@dataclass
class _Converted:
    model: bytes
    graph: Graph
    calib_n: int
    holdout_n: int
    report: FidelityReport | None
    notes: list[str]
    src_bytes: int = 0  # size of the source model
    chosen: str = ""  # the observer method the ranges came from (auto's pick, else the method itself)


def _convert(src, *, calib, method, io, preprocess, percentile, weight_clip, want_report, progress,
             holdout, engine, bias_correction=True) -> _Converted:
    from edgeq.data import load_calibration
    from edgeq.model.tflite_io import write_tflite

    if method not in METHODS:
        raise EdgeqError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    if io not in ("int8", "uint8", "float"):
        raise EdgeqError(f"unknown io type {io!r} (choose int8, uint8 or float)")
    if weight_clip not in ("minmax", "mse"):
        raise EdgeqError(f"unknown weight clipping {weight_clip!r} (choose minmax or mse)")
    graph, tflite_bytes, src_size = _load_model_sized(src)
    check_weights(graph)
    if calib is None:
        raise CalibrationError("static int8 conversion needs calibration data (calib=...)")
    samples = load_calibration(calib, graph, preprocess)
    check_samples(graph, samples)
    notes: list[str] = []
    if want_report:
        cal, held = split_holdout(samples, holdout)
        if cal[0] is held[0]:
            notes.append("fidelity measured on the calibration samples (too few to hold some out)")
    else:
        cal, held = samples, None
    # the logits keep their exact range whatever the method: clipping them can only flip the argmax
    heads = head_tensors(graph)
    if method == "auto":
        ranges, means, chosen = _auto_stats(graph, cal, heads, engine=engine, progress=progress,
                                            model=tflite_bytes, weight_clip=weight_clip,
                                            bias_correction=bias_correction)
        notes.append(f"auto chose {chosen}")
    else:
        chosen = method
        stats = collect_stats(graph, cal, method, percentile=percentile, engine=engine, progress=progress,
                              model=tflite_bytes)[0]
        ranges, means = stats.ranges(heads), stats.means()
    qgraph = quantize_graph(graph, ranges, io=io, weight_clip=weight_clip,
                            means=means if bias_correction else None)
    model = write_tflite(qgraph)
    report = fidelity_report(graph, model, held, engine=engine) if want_report else None
    return _Converted(model, qgraph, int(cal[0].shape[0]), int(held[0].shape[0]) if held else 0, report, notes,
                      src_size, chosen)


def _auto_stats(graph: Graph, cal: list[np.ndarray], heads: set[str], *, engine: str, progress: bool,
                model: bytes | None, weight_clip: str, bias_correction: bool):
    """(ranges, means, chosen method) of the "auto" method: mse, or minmax when it quantizes the logits
    better by AUTO_MARGIN_DB on calibration samples kept out of the ranges it is judged by.

    One float pass with MSE observers (which also know the exact extremes, i.e. the minmax ranges) keeps the
    first 80% of the samples apart from the last 20% and captures the float logits on the latter; each
    method's int8 model from the first part's ranges is scored by logit SQNR on the last part; the final
    ranges are the chosen method's over all samples (the two parts' histograms merge exactly). Models with no
    SOFTMAX head (an autoencoder's output is judged by its reconstruction, not an argmax) and calibration sets
    too small to split take mse, which bench-convert found best or equal there."""
    n = int(cal[0].shape[0])
    split = n - max(1, int(round(n * AUTO_HOLDOUT)))
    if not heads or split < 1:
        stats = collect_stats(graph, cal, "mse", engine=engine, progress=progress, model=model)[0]
        return stats.ranges(heads), stats.means(), "mse"
    first, second, logits = collect_stats(graph, cal, "mse", engine=engine, progress=progress, model=model,
                                          split=split, capture=heads)
    held = [a[split:] for a in cal]
    score = {}
    for m in AUTO_CHOICES:
        q = quantize_graph(graph, first.ranges(heads, extremes=m == "minmax"), io="int8", weight_clip=weight_clip,
                           means=first.means() if bias_correction else None)
        got = _int8_values(q, held, sorted(logits))
        score[m] = min(sqnr_db(logits[k], got[k]) for k in logits)
    chosen = AUTO_CHOICES[0]
    for m in AUTO_CHOICES[1:]:
        if score[m] > score[chosen] + AUTO_MARGIN_DB:
            chosen = m
    both = first.merged(second)
    return both.ranges(heads, extremes=chosen == "minmax"), both.means(), chosen


def _int8_values(qgraph: Graph, inputs: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Dequantized values of tensors ``names`` of an int8 graph on float ``inputs`` (quantized here with the
    graph inputs' params), run by LiteRT's optimized kernels, all samples in one invoke when the graph takes
    a batch (the reference kernels are exact but far slower; a choice between two models needs no exactness)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeq.model.tflite_io import write_tflite

    it = Interpreter(model_content=write_tflite(qgraph), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    index = {d["name"]: d["index"] for d in it.get_tensor_details()}
    xs = []
    for name, x in zip(qgraph.inputs, inputs):
        q = qgraph.tensors[name].quant
        xs.append(np.clip(np.round(x / q.scale[0]) + q.zero_point[0], -128, 127).astype(np.int8))
    n = xs[0].shape[0]
    got: dict[str, list[np.ndarray]] = {k: [] for k in names}
    try:
        for name, x in zip(qgraph.inputs, xs):
            it.resize_tensor_input(index[name], list(x.shape), strict=False)
        it.allocate_tensors()
        whole = all(it.get_tensor(index[k]).shape[:1] == (n,) for k in names)
    except (RuntimeError, ValueError):
        whole = False
    chunks = [slice(0, n)] if whole else [slice(i, i + 1) for i in range(n)]
    if not whole:
        for name, x in zip(qgraph.inputs, xs):
            it.resize_tensor_input(index[name], [1, *x.shape[1:]], strict=False)
        it.allocate_tensors()
    for rows in chunks:
        for name, x in zip(qgraph.inputs, xs):
            it.set_tensor(index[name], x[rows])
        it.invoke()
        for k in names:
            got[k].append(it.get_tensor(index[k]))
    out = {}
    for k in names:
        q = qgraph.tensors[k].quant
        out[k] = (np.concatenate(got[k]).astype(np.float32) - q.zero_point[0]) * q.scale[0]
    return out


def convert(src, *, calib=None, method: str = DEFAULT_METHOD, io: str = "int8", preprocess=None,
            percentile: float = 99.99, weight_clip: str = "minmax", report: str | os.PathLike | None = None,
            progress: bool = True, holdout: float = HOLDOUT, engine: str = "auto",
            bias_correction: bool = True) -> bytes:
    """Quantize a float model to a full-integer INT8 .tflite and return its bytes.

    src         path or bytes of a float .tflite or .onnx model.
    calib       calibration data: image directory, .npy/.npz/.bin file, array(s) or iterable of samples
                (see edgeq.data.load_calibration); ``preprocess`` is the image preprocessing spec.
    method      activation range method: auto (mse, or minmax where it gives clearly better logits on held-back
                calibration samples), minmax, ema, percentile (``percentile``), kl or mse.
    io          int8, uint8 or float (QUANTIZE/DEQUANTIZE added at the model boundary).
    weight_clip minmax (max |w| per channel) or mse (per-channel MSE-optimal threshold).
    report      when given, a path for the JSON fidelity report; then ``holdout`` (a fraction, at least one
                sample) of the calibration samples is held out of calibration and used for the report.
    engine      how the float model is run for calibration: auto, litert or reference.
    bias_correction  fold the mean output shift caused by weight rounding into each bias (from the
                calibration data's per-channel means).
    """
    c = _convert(src, calib=calib, method=method, io=io, preprocess=preprocess, percentile=percentile,
                 weight_clip=weight_clip, want_report=report is not None, progress=progress, holdout=holdout,
                 engine=engine, bias_correction=bias_correction)
    if report is not None:
        c.report.write_json(report, {"method": method, "io": io, "calib_samples": c.calib_n, "notes": c.notes})
    return c.model


def convert_file(src, dst, *, calib=None, method: str = DEFAULT_METHOD, io: str = "int8", preprocess=None,
                 percentile: float = 99.99, weight_clip: str = "minmax",
                 report: str | os.PathLike | None = None, progress: bool = True, holdout: float = HOLDOUT,
                 engine: str = "auto", bias_correction: bool = True) -> ConversionResult:
    """convert() to a file at ``dst`` (written atomically: no partial file on failure) and return the
    summary, with the fidelity measured on held-out calibration samples; ``report`` also writes it as JSON."""
    t0 = time.perf_counter()
    c = _convert(src, calib=calib, method=method, io=io, preprocess=preprocess, percentile=percentile,
                 weight_clip=weight_clip, want_report=True, progress=progress, holdout=holdout, engine=engine,
                 bias_correction=bias_correction)
    write_atomic(dst, c.model)
    result = ConversionResult(
        src="<bytes>" if isinstance(src, (bytes, bytearray, memoryview)) else str(src), dst=str(dst),
        method=method, io=io, float_bytes=c.src_bytes, int8_bytes=len(c.model),
        seconds=time.perf_counter() - t0, calib_samples=c.calib_n, holdout_samples=c.holdout_n,
        input_layout=layout_note(c.graph), report=c.report, notes=c.notes, chosen_method=c.chosen)
    if report is not None:
        c.report.write_json(report, {k: v for k, v in result.summary().items() if k not in ("layers",)})
    return result
