"""The low-bit conversion pipeline behind `edgeq convert --weights int4 / --activations int16 / --dynamic /
--recover / --mixed`: float model → calibrated (optionally equalized) → int8 or 16x8 → INT4 weights
(optionally AdaRound) or a mixed-precision plan → .tflite, with fidelity measured on held-out samples by
the integer reference executor (which runs every combination, including those LiteRT has no kernel for).

    r = convert_lowbit("model.tflite", calib=x, weights="int4", recover=("cle", "bias", "adaround"))
    r.model (bytes), r.sqnr_db, r.passes (SQNR after each recovery pass), r.layers, r.plan, r.to_dict()
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import CalibrationError, EdgeqError
from edgeq.model.ir import Graph

RECOVERY = ("cle", "bias", "adaround", "tune")  # applied in this order
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def parse_recover(text: str | None) -> tuple[str, ...]:
    """"cle,bias,adaround" → the passes in pipeline order; EdgeqError naming an unknown one (or "tune"
    without PyTorch)."""
    if not text:
        return ()
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in RECOVERY]
    if bad:
        raise EdgeqError(f"unknown recovery pass {bad[0]!r} (choose from {', '.join(RECOVERY)})")
    if "tune" in names:
        from edgeq.quantize.tune import _torch

        _torch()  # one-line EdgeqError when PyTorch is missing
    return tuple(n for n in RECOVERY if n in names)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise EdgeqError(f"cannot read size {text!r} (e.g. 64KB, 1.5MB, 20000; KB = 1024 bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_budget(text: str | None) -> tuple[int | None, int | None]:
    """"flash=64KB,ram=32KB" → (flash bytes, ram bytes); either may be absent."""
    if not text:
        return None, None
    out = {"flash": None, "ram": None}
    for part in text.split(","):
        if not part.strip():
            continue
        key, _, val = part.partition("=")
        key = key.strip().lower()
        if key not in out or not val:
            raise EdgeqError(f"cannot read budget item {part.strip()!r} (write flash=64KB,ram=32KB)")
        out[key] = parse_size(val)
    return out["flash"], out["ram"]


@dataclass
class LowbitResult:
    model: bytes
    graph: Graph
    options: dict
    float_bytes: int
    seconds: float = 0.0
    sqnr_db: float = math.nan
    top1: float | None = None
    layers: list[dict] = field(default_factory=list)    # tensor, op, precision, sqnr_db
    passes: list[dict] = field(default_factory=list)    # pass, sqnr_db (cumulative, in order)
    plan: object | None = None                         # mixed.Plan
    sizes: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calib_samples: int = 0
    holdout_samples: int = 0

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "options": self.options, "float_bytes": self.float_bytes, "model_bytes": len(self.model),
            "seconds": round(self.seconds, 3), "output_sqnr_db": clean(self.sqnr_db), "top1_agreement": self.top1,
            "calib_samples": self.calib_samples, "holdout_samples": self.holdout_samples,
            "passes": [{k: clean(v) for k, v in p.items()} for p in self.passes],
            "layers": [{k: clean(v) for k, v in row.items()} for row in self.layers],
            "plan": self.plan.to_dict() if self.plan is not None else None, "sizes": self.sizes, "notes": self.notes,
        }


# evaluation ---------------------------------------------------------------------------------------------------
def _is_classifier(g: Graph) -> bool:
    return any((p := g.producer(o)) is not None and p.type == "SOFTMAX" for o in g.outputs)


def evaluate(float_graph: Graph, qgraph: Graph, samples, *, layers: bool = False, layer_graph: Graph | None = None):
    """(output SQNR dB, top-1 agreement or None, per-layer rows) of ``qgraph`` run by the integer reference
    on float ``samples``, against ``float_graph``; the layers are compared with ``layer_graph`` (the
    equalized float graph after CLE: its intermediate tensors are scaled per channel) when given."""
    from edgeq.quantize.mixed import dequantized_outputs, model_inputs
    from edgeq.quantize.report import sqnr_db
    from edgeq.reference.float_exec import run_float
    from edgeq.reference.int_exec import run_int

    ref = run_float(float_graph, samples, capture=True)
    vals = run_int(qgraph, model_inputs(qgraph, samples), capture=True)
    outs = dequantized_outputs(qgraph, [vals[o] for o in qgraph.outputs])
    sq = min(sqnr_db(ref[f], y.reshape(ref[f].shape)) for f, y in zip(float_graph.outputs, outs))
    top1 = None
    if _is_classifier(float_graph):
        a = ref[float_graph.outputs[0]].reshape(samples[0].shape[0], -1)
        b = outs[0].reshape(a.shape)
        top1 = float(np.mean(a.argmax(1) == b.argmax(1)))
    rows = []
    if layers and layer_graph is not None and layer_graph is not float_graph:
        ref = run_float(layer_graph, samples, capture=True)
        float_graph = layer_graph
    if layers:
        producers = {o: op for op in float_graph.ops for o in op.outputs}
        qprod = {o: op for op in qgraph.ops for o in op.outputs}
        for op in float_graph.ops:
            n = op.outputs[0]
            if n not in vals or n not in ref or n in float_graph.outputs:
                continue
            t = qgraph.tensors[n]
            v = vals[n].astype(np.float64)
            if t.quant is not None and t.dtype != "float32":
                v = (v - float(t.quant.zero_point[0])) * float(t.quant.scale[0])
            prec = _precision(qgraph, qprod.get(n))
            rows.append({"tensor": n, "op": producers[n].type, "precision": prec,
                         "sqnr_db": sqnr_db(ref[n], v.reshape(ref[n].shape).astype(np.float32))})
    return sq, top1, rows


def _precision(g: Graph, op) -> str:
    """What a layer runs in: int4/int8 weights with int8/int16 activations, or float."""
    if op is None:
        return "?"
    if op.type == "QUANTIZE" and op.inputs and g.producer(op.inputs[0]) is not None:
        op = g.producer(op.inputs[0])  # islands end in a QUANTIZE back to int8
    act = g.tensors[op.outputs[0]].dtype
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        w = g.tensors[op.inputs[1]].dtype
        if act == "float32":
            return "float" if w == "float32" else f"hybrid {w}"
        return f"w{w[3:]}a{act[3:]}"
    return act


# pipeline -----------------------------------------------------------------------------------------------------
def convert_lowbit(src, *, calib=None, method: str | None = None, io: str = "int8", preprocess=None,
                   weights: str = "int8", activations: str = "int8", dynamic: bool = False,
                   recover: tuple[str, ...] = (), mixed: bool = False, flash: int | None = None,
                   ram: int | None = None, target_sqnr: float | None = None, weight_clip: str | None = None,
                   holdout: float = 0.2, engine: str = "auto", progress: bool = False,
                   adaround_iters: int = 300, measure_passes: bool = True,
                   mixed_choices: tuple[str, ...] = ("int4", "int8"), sensitivity_all: bool = True,
                   fit: dict | None = None, tune_opts: dict | None = None) -> LowbitResult:
    """Convert a float .tflite/.onnx with the low-bit options (see the module docstring).

    weights      int8 or int4 (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weights)
    activations  int8 or int16 (16x8)
    dynamic      hybrid model: int8 weights, float activations, no calibration needed
    recover      any of "cle", "bias", "adaround" (AdaRound acts on INT4 weights; with INT4 weights "bias"
                 also re-measures the activation ranges on the weight-quantized model)
    fit          extra AdaRound options (adaround.AdaRound: method, sweeps, scarce, scales, ...)
    recover "tune" (needs PyTorch) fits the INT4 roundings and biases of the whole quantized graph to the float
                 model's output after the layer-wise passes (tune.tune; ``tune_opts``: steps, lr, lam, ...)
    mixed        per-layer precision search under ``flash`` / ``ram`` (bytes) and/or ``target_sqnr``, picking
                 among ``mixed_choices`` (int4, int8, int16, float; sensitivity is measured for all four unless
                 ``sensitivity_all`` is False)
    io           int8 / uint8 / float for int8 models; for 16x8 models "float" gives float I/O, anything
                 else int16 I/O
    """
    from edgeq.converter import DEFAULT_METHOD, _load_model_sized, check_weights, split_holdout
    from edgeq.data import load_calibration
    from edgeq.model.tflite_io import write_tflite
    from edgeq.quantize.calibrate import calibrate_stats, check_samples
    from edgeq.quantize.observers import METHODS
    from edgeq.quantize.ptq import head_tensors

    t0 = time.perf_counter()
    method = method or DEFAULT_METHOD
    if method == "auto":  # the int8 converter's per-model choice; low-bit paths calibrate with mse
        method = "mse"
    if weights not in ("int8", "int4"):
        raise EdgeqError(f"unknown weight type {weights!r} (choose int8 or int4)")
    if activations not in ("int8", "int16"):
        raise EdgeqError(f"unknown activation type {activations!r} (choose int8 or int16)")
    if method not in METHODS:
        raise EdgeqError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    for r in recover:
        if r not in RECOVERY:
            raise EdgeqError(f"unknown recovery pass {r!r} (choose from {', '.join(RECOVERY)})")
    recover = tuple(r for r in RECOVERY if r in recover)  # pipeline order
    if dynamic and (weights != "int8" or activations != "int8" or mixed or recover):
        raise EdgeqError("--dynamic takes int8 weights and float activations: it combines with no other "
                         "precision, recovery or mixed option")
    if mixed and activations != "int8":
        raise EdgeqError("--mixed searches per-layer precisions around an int8 model: leave --activations int8")
    if mixed and flash is None and ram is None and target_sqnr is None:
        raise EdgeqError("--mixed needs a budget (--budget flash=...,ram=...) or a --target-sqnr")
    opts = {"weights": weights, "activations": activations, "dynamic": dynamic, "recover": list(recover),
            "mixed": mixed, "flash": flash, "ram": ram, "target_sqnr": target_sqnr, "method": method, "io": io}
    graph, tflite_bytes, src_size = _load_model_sized(src)
    check_weights(graph)
    notes: list[str] = []

    if dynamic:
        from edgeq.quantize.dynamic import quantize_dynamic

        q = quantize_dynamic(graph, weight_clip=weight_clip or "minmax")
        model = write_tflite(q)
        res = LowbitResult(model, q, opts, src_size, sizes={"float": src_size, "model": len(model)}, notes=notes)
        if calib is not None:
            from edgeq.quantize.report import run_quantized, sqnr_db
            from edgeq.reference.float_exec import run_float

            samples = load_calibration(calib, graph, preprocess)
            check_samples(graph, samples)
            yf = run_float(graph, samples)
            yq = run_quantized(model, samples)
            res.sqnr_db = min(sqnr_db(a, b.reshape(a.shape)) for a, b in zip(yf, yq))
            res.holdout_samples = int(samples[0].shape[0])
            if _is_classifier(graph):
                res.top1 = float(np.mean(yf[0].reshape(len(yf[0]), -1).argmax(1) == yq[0].reshape(len(yq[0]), -1).argmax(1)))
            notes.append("dynamic range: no calibration used; fidelity measured by LiteRT on all given samples")
        res.seconds = time.perf_counter() - t0
        return res

    if calib is None:
        raise CalibrationError("static low-bit conversion needs calibration data (calib=...)")
    samples = load_calibration(calib, graph, preprocess)
    check_samples(graph, samples)
    cal, held = split_holdout(samples, holdout)
    if cal[0] is held[0]:
        notes.append("fidelity measured on the calibration samples (too few to hold some out)")
    if "adaround" in recover and weights != "int4" and not mixed:
        notes.append("adaround optimizes INT4 weights: with int8 weights it has nothing to do")
    if weights == "int4" and not mixed and not {"bias", "adaround"} & set(recover):
        # nearest rounding to 15 levels costs convolutional models most of their fidelity (ResNet-8 on the 14
        # zoo images, convert's 3 held out: 9.4 dB, 26.2 dB with cle,bias,adaround); say so, not silently
        notes.append("INT4 weights rounded to nearest: --recover bias,adaround (with cle for depthwise-separable "
                     "models) usually recovers most of what that loses")

    def base_model(g: Graph, ranges, m):
        clip = weight_clip or "minmax"
        if activations == "int16":
            from edgeq.quantize.int16 import quantize_graph_16x8

            return quantize_graph_16x8(g, ranges, io="float" if io == "float" else "int16", weight_clip=clip, means=m)
        from edgeq.quantize.ptq import quantize_graph

        return quantize_graph(g, ranges, io=io, weight_clip=clip, means=m)

    def adaround(g: Graph, work: Graph, use_bias: bool):
        """AdaRound for the INT4 layers of ``work`` (being quantized from ``g``): each layer is fitted to the
        inputs ``work``'s earlier layers give it, and measures the bias correction there when ``use_bias``."""
        from edgeq.quantize.adaround import AdaRound

        return AdaRound(g, cal, qgraph=work, iters=adaround_iters, bias=use_bias, **(fit or {}))

    if "tune" in recover:
        from edgeq.quantize.tune import _torch

        _torch()

    def quantize(g: Graph, use_cle: bool, use_bias: bool, use_ada: bool, calib_state=None, use_tune=False):
        ranges, means = calib_state or calibrate_stats(g, cal, method, engine=engine, progress=progress,
                                                       exact=head_tensors(g),
                                                       model=tflite_bytes if g is graph else None)
        m = means if use_bias else None
        q = base_model(g, ranges, m)
        if weights == "int4" and not mixed:
            from edgeq.quantize.int4 import apply_int4

            rounding = adaround(g, q, use_bias) if use_ada else None
            apply_int4(g, q, clip=weight_clip or "mse", means=m, rounding=rounding)
            if use_bias:  # INT4 weights move every layer's output distribution: ranges measured again
                from edgeq.quantize.recalibrate import Replay, recalibrate

                r2, _ = recalibrate(g, q, cal, method, engine=engine)
                q2 = base_model(g, r2, m)
                apply_int4(g, q2, clip=weight_clip or "mse", rounding=Replay(g, q))
                q = q2
        if use_tune:
            from edgeq.quantize.tune import tune

            q, info = tune(graph, g, q, cal, **(tune_opts or {}))
            notes.append(f"tune: {info['flipped']} INT4 roundings changed, calibration objective "
                         f"{info['objective_before']:.4g} -> {info['objective_after']:.4g}, held-back "
                         f"{info['holdback_before']:.4g} -> {info['holdback_after']:.4g}: "
                         f"{'kept' if info['kept'] else 'not kept'} ({info['seconds']:.1f} s)")
        return q, (ranges, means)

    # recovery passes, cumulative in pipeline order, each measured on the held-out samples
    stages = [()] + [recover[:k + 1] for k in range(len(recover))] if measure_passes else [recover]
    passes = []
    g_eq = None
    state = {}
    q = None
    for st in stages:
        use_cle = "cle" in st
        if use_cle and g_eq is None:
            from edgeq.quantize.cle import equalize

            g_eq, cle_notes = equalize(graph)
            notes.extend(cle_notes)
        g = g_eq if use_cle else graph
        key = "cle" if use_cle else "plain"
        if key not in state:
            state[key] = None
        q, state[key] = quantize(g, use_cle, "bias" in st, "adaround" in st, state[key], "tune" in st)
        if measure_passes or st == stages[-1]:
            sq, top1, _ = evaluate(graph, q, held)
            passes.append({"pass": "+".join(st) if st else "none", "sqnr_db": sq, "top1": top1})
    g = g_eq if "cle" in recover else graph
    ranges, means = state["cle" if "cle" in recover else "plain"]

    plan = None
    if mixed:
        from edgeq.quantize import mixed as mx
        from edgeq.reference.float_exec import run_float

        base = q
        ev = cal[0] if cal[0].shape[0] <= 64 else cal[0][np.linspace(0, cal[0].shape[0] - 1, 64).astype(int)]
        ev = [ev] if len(cal) == 1 else [c[:64] for c in cal]
        ref = run_float(graph, ev)
        m = means if "bias" in recover else None
        options = ("int4", "int16", "float") if sensitivity_all else tuple(p for p in mixed_choices if p != "int8")
        plan = mx.search(g, base, ranges, ev, ref, flash=flash, ram=ram, target_sqnr=target_sqnr, means=m,
                         allowed=mixed_choices, options=options)
        # AdaRound as on the all-INT4 path (ResNet-8, flash = INT4 size + 2 KB: 12.1 -> 14.0 dB, top-1 0.853 ->
        # 0.871 on held-out images, against AdaRound on float inputs without the bias correction)
        fitted = "adaround" in recover and "int4" in plan.precisions.values()
        rounding_for = (lambda work: adaround(g, work, "bias" in recover)) if fitted else None
        q = mx.build_mixed(g, base, {k: v for k, v in plan.precisions.items() if v != "int8"}, ranges, means=m,
                           rounding_for=rounding_for)
        notes.extend(plan.notes)
    model = write_tflite(q)
    sq, top1, rows = evaluate(graph, q, held, layers=True, layer_graph=g)
    if passes:
        passes[-1] = {**passes[-1], "sqnr_db": sq, "top1": top1} if not mixed else passes[-1]
    res = LowbitResult(model, q, opts, src_size, sqnr_db=sq, top1=top1, layers=rows, passes=passes, plan=plan,
                       notes=notes, calib_samples=int(cal[0].shape[0]), holdout_samples=int(held[0].shape[0]))
    res.sizes = {"float": src_size, "model": len(model)}
    if plan is not None:
        res.sizes.update({"flash_budget": flash, "ram_budget": ram, "ram_estimate": plan.ram})
    res.seconds = time.perf_counter() - t0
    return res
