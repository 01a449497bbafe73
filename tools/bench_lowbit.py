"""bench-lowbit: edgeq's low-bit conversions against the public anchors on the MLPerf Tiny float models, with
bench_convert.py's data and folds (each fold held out in turn while the others calibrate; SQNR pooled over folds).

Rows per model (every quantized model runs in LiteRT's reference kernels on the held-out samples, against
the float model run by LiteRT):
- 16x8: edgeq (--activations int16 --recover bias --weight-clip) vs TFLite's 16x8 PTQ (calibration wrapper, activations int16, bias int64);
- W4A8: edgeq (--weights int4 --recover cle,bias,adaround[,tune]: tune with --tune, needs PyTorch) vs ai-edge-quantizer's static recipe
  (static_wi8_ai8 with 4-bit weights; its calibration needs a SignatureDef, added to the float model);
- mixed: edgeq --mixed under a flash budget halfway between edgeq's W4A8 and W8A8 sizes, and under W4A8's
  size + 2 KB (what a few layers back at INT8 buy).
Targets: 16x8 >= anchor + 1 dB; W4A8 >= anchor + 5 dB and (ResNet-8) top-1 >= 0.85; mixed strictly between.

    .venv/bin/python tools/bench_lowbit.py [--zoo ../shared/models] [--folds 2] [--models pretrainedResnet,...] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import MODELS, float_outputs, fold_assignment, load_items  # noqa: E402

from edgeq.quantize.lowbit import convert_lowbit  # noqa: E402
from edgeq.quantize.report import run_quantized, sqnr_from_power  # noqa: E402

from edgeq.quantize.tune import available as _tune_available  # noqa: E402

# the layer-wise passes; --tune adds the whole-network tune pass (PyTorch, the 'qat' extra), which measured
# no held-out gain on ResNet-8 with these folds' calibration halves (112 samples: it fits them, not the rest)
RECOVER = ("cle", "bias", "adaround")
W4 = "edgeq w4a8 (cle,bias,adaround)"
SMALL = 2048  # flash over the W4A8 model for the second mixed row
MIXED_SMALL = "edgeq mixed (W4A8 + 2 KB flash)"


def tflite_16x8(model_bytes: bytes, calib: np.ndarray) -> bytes:
    """TFLite's 16x8 PTQ through ai-edge-litert's calibration wrapper (float I/O, int16 activations, int64 bias)."""
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as cw

    w = cw.CalibrationWrapper(model_bytes, [], [])
    w.Prepare([[1, *calib.shape[1:]]])
    for i in range(calib.shape[0]):
        w.FeedTensor([calib[i:i + 1]])
    f32, i16, i64 = np.dtype(np.float32).num, np.dtype(np.int16).num, np.dtype(np.int64).num
    return bytes(w.QuantizeModel(f32, f32, False, i16, i64, False, False))


def with_signature(model_bytes: bytes, key: str = "serving_default") -> tuple[bytes, str]:
    """The model with a SignatureDef over its subgraph-0 inputs and outputs (schema object API) and every
    operator code's builtin_code filled in, and the name of its first input."""
    from ai_edge_litert import schema_py_generated as fb
    import flatbuffers

    m = fb.ModelT.InitFromPackedBuf(model_bytes, 0)
    # Files written by older converters carry the op only in deprecated_builtin_code (builtin_code 0 = ADD);
    # TFLite reads the larger of the two, ai-edge-quantizer reads builtin_code alone and would take every FC
    # of AD for an ADD. Filling the field changes nothing else in the model.
    for code in m.operatorCodes:
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)
    sg = m.subgraphs[0]

    def maps(indices):
        out = []
        for i in indices:
            t = fb.TensorMapT()
            name = sg.tensors[i].name
            t.name = name.decode() if isinstance(name, bytes) else name
            t.tensorIndex = int(i)
            out.append(t)
        return out

    s = fb.SignatureDefT()
    s.inputs, s.outputs = maps(sg.inputs), maps(sg.outputs)
    s.signatureKey, s.subgraphIndex = key, 0
    m.signatureDefs = [s]
    b = flatbuffers.Builder(len(model_bytes) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), s.inputs[0].name


def aeq_w4a8(model_bytes: bytes, calib: np.ndarray) -> bytes:
    """ai-edge-quantizer: the static_wi8_ai8 recipe's config with 4-bit weights (min/max, per channel)."""
    from ai_edge_quantizer import qtyping, quantizer

    sig_model, in_name = with_signature(model_bytes)
    q = quantizer.Quantizer(sig_model)
    q.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                        weight_num_bits=4)
    data = {"serving_default": [{in_name: calib[i:i + 1]} for i in range(calib.shape[0])]}
    res = q.calibrate(data, num_threads=1)
    return bytes(q.quantize(res, enable_progress_report=False).quantized_model)


def _acc(stats: dict, key: str, ref: np.ndarray, y: np.ndarray, classifier: bool, size: int, sec: float) -> None:
    s = stats.setdefault(key, {"sig": 0.0, "noise": 0.0, "agree": 0, "n": 0, "bytes": [], "sec": []})
    y = y.reshape(ref.shape).astype(np.float64)
    s["sig"] += float(np.sum(ref.astype(np.float64) ** 2))
    s["noise"] += float(np.sum((ref - y) ** 2))
    if classifier:
        s["agree"] += int(np.sum(ref.reshape(len(ref), -1).argmax(1) == y.reshape(len(y), -1).argmax(1)))
    s["n"] += len(ref)
    s["bytes"].append(size)
    s["sec"].append(sec)


def bench_model(model, zoo: Path, data: Path, folds: int, seed: int = 0, log=print) -> list[dict]:
    src = (zoo / model.file).read_bytes()
    items = load_items(model, data)
    fold_of = fold_assignment(len(items), folds, seed)
    stats: dict = {}
    for f in range(folds):
        calib = np.concatenate([it for it, k in zip(items, fold_of) if k != f])
        evalx = np.concatenate([it for it, k in zip(items, fold_of) if k == f])
        ref = float_outputs(src, evalx)

        def run(key, fn):
            t0 = time.perf_counter()
            try:
                m = fn()
                sec = time.perf_counter() - t0
                y = run_quantized(m, [evalx])[0]
            except Exception as e:  # noqa: BLE001 - an anchor that cannot convert or run is a result too
                stats.setdefault(key, {})["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
                log(f"  fold {f} {key}: FAILED ({stats[key]['error']})")
                return None
            _acc(stats, key, ref, y, model.classifier, len(m), sec)
            log(f"  fold {f} {key}: {len(m)} B, {sec:.1f} s")
            return m

        run("tflite 16x8", lambda: tflite_16x8(src, calib))
        run("edgeq 16x8 (bias, mse clip)", lambda: convert_lowbit(
            src, calib=calib, activations="int16", io="float", recover=("bias",), weight_clip="mse", holdout=0,
            measure_passes=False).model)
        run("aeq w4a8", lambda: aeq_w4a8(src, calib))
        w8 = run("edgeq w8a8 (bias)", lambda: convert_lowbit(src, calib=calib, io="float", recover=("bias",),
                                                             holdout=0, measure_passes=False).model)
        w4 = run(W4, lambda: convert_lowbit(
            src, calib=calib, io="float", weights="int4", recover=RECOVER, holdout=0, measure_passes=False).model)
        budget = (len(w8) + len(w4)) // 2
        stats.setdefault("_budget", []).append(budget)
        run("edgeq mixed (halfway flash)", lambda: convert_lowbit(
            src, calib=calib, io="float", mixed=True, flash=budget, recover=("bias", "adaround"), holdout=0,
            measure_passes=False, sensitivity_all=False).model)
        # what a little flash over the all-INT4 model buys: the few layers INT4 hurts most back at INT8
        stats.setdefault("_budget_small", []).append(len(w4) + SMALL)
        run(MIXED_SMALL, lambda: convert_lowbit(
            src, calib=calib, io="float", mixed=True, flash=len(w4) + SMALL, recover=("bias", "adaround"),
            holdout=0, measure_passes=False, sensitivity_all=False).model)
    rows = []
    budgets = {"edgeq mixed (halfway flash)": max(stats.pop("_budget")), MIXED_SMALL: max(stats.pop("_budget_small"))}
    for key, s in stats.items():
        if "error" in s:
            rows.append({"model": model.name, "method": key, "sqnr_db": None, "top1": None, "bytes": None,
                         "seconds": None, "budget": None, "error": s["error"]})
            continue
        rows.append({"model": model.name, "method": key, "sqnr_db": round(sqnr_from_power(s["sig"], s["noise"]), 2),
                     "top1": round(s["agree"] / s["n"], 3) if model.classifier else None,
                     "bytes": int(np.max(s["bytes"])), "seconds": round(float(np.median(s["sec"])), 1),
                     "budget": budgets.get(key)})
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'model':18} {'method':32} {'SQNR dB':>8} {'top-1':>6} {'bytes':>8} {'sec':>6}")
    for r in rows:
        if r.get("error"):
            print(f"{r['model']:18} {r['method']:32} failed: {r['error']}")
            continue
        top1 = "" if r["top1"] is None else f"{r['top1']:.3f}"
        extra = f"  (budget {r['budget']})" if r.get("budget") else ""
        print(f"{r['model']:18} {r['method']:32} {r['sqnr_db']:8.2f} {top1:>6} {r['bytes']:8d} {r['seconds']:6.1f}{extra}")
    print()
    for name in dict.fromkeys(r["model"] for r in rows):
        by = {r["method"]: r for r in rows if r["model"] == name}
        def diff(a, b):
            return None if by[a]["sqnr_db"] is None or by[b]["sqnr_db"] is None else by[a]["sqnr_db"] - by[b]["sqnr_db"]

        d16 = diff("edgeq 16x8 (bias, mse clip)", "tflite 16x8")
        d4 = diff(W4, "aeq w4a8")
        mixed = by["edgeq mixed (halfway flash)"]
        lo, hi = by[W4]["sqnr_db"], by["edgeq w8a8 (bias)"]["sqnr_db"]
        between = lo < mixed["sqnr_db"] < hi
        closer = mixed["sqnr_db"] - lo > hi - mixed["sqnr_db"]
        t16 = "anchor failed" if d16 is None else f"{d16:+.2f} dB vs TFLite ({'ok' if d16 >= 1 else 'MISSED'} >= +1)"
        t4 = "anchor failed" if d4 is None else f"{d4:+.2f} dB vs ai-edge-quantizer ({'ok' if d4 >= 5 else 'MISSED'} >= +5)"
        print(f"{name}: 16x8 {t16}; W4A8 {t4}; mixed {mixed['sqnr_db']:.2f} dB in "
              f"({lo:.2f}, {hi:.2f}): {'between' if between else 'NOT between'}, "
              f"{'closer to INT8' if closer else 'closer to INT4'}; size {mixed['bytes']} <= {mixed['budget']}: "
              f"{mixed['bytes'] <= mixed['budget']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--zoo", type=Path, default=root.parent / "shared" / "models")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=",".join(m.name for m in MODELS))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tune", action="store_true", help="add the whole-network tune pass to W4A8 (needs PyTorch)")
    args = ap.parse_args()
    global RECOVER, W4
    if args.tune:
        if not _tune_available():
            raise SystemExit("--tune needs PyTorch: pip install 'edgeq[qat]'")
        RECOVER = (*RECOVER, "tune")
        W4 = f"edgeq w4a8 ({','.join(RECOVER)})"
    data = args.zoo.parent / "data"
    rows = []
    print(f"W4A8 recovery: {','.join(RECOVER)}" + ("" if "tune" in RECOVER else
                                                   f" (tune: --tune; PyTorch {'present' if _tune_available() else 'missing'})"))
    order = args.models.split(",")
    for name in order:
        m = next(m for m in MODELS if m.name == name)
        print(f"{m.name}:", flush=True)
        rows += bench_model(m, args.zoo, data, args.folds, args.seed)
        print_table([r for r in rows if r["model"] == m.name])  # each model's table as soon as it is done
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
