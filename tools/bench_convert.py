"""bench-convert: edgeq's PTQ methods against TFLite's own post-training quantizer on the MLPerf Tiny float models.

For each model the real calibration data (../shared/data) is split into folds of whole images / vectors:
each fold in turn is held out for evaluation while the others calibrate (images become several crops and
flips each). Every method converts with the same calibration samples; the int8 models run in LiteRT's
reference kernels on the held-out samples and are compared with the float model: output SQNR (pooled over
folds), top-1 agreement (classifiers) and conversion seconds: the median of rounds that run every method
once in turn after untimed warm-ups, and the median over rounds of each method's time over the anchor's in
the same round (the ratio the 2x target is checked on). Flips count held-out samples whose top-1 differs
from the float model's; the auto row names the method auto chose on each fold.

The whole cross-validation runs once per fold assignment (--seeds, default 0,1,2: seed 0 puts item i in
fold i % folds, other seeds shuffle the items first) and the figures pool all of them: with 14 images, one
assignment's top-1 agreement moves by a view or two with the assignment alone, and pooling several makes
the comparison with the anchor a measurement rather than a draw. --seeds 0 gives the single split.

    .venv/bin/python tools/bench_convert.py [--zoo ../shared/models] [--folds 2] [--seeds 0,1,2] [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeq.converter import DEFAULT_METHOD, METHODS, _convert, convert  # noqa: E402
from edgeq.data import image_files  # noqa: E402
from edgeq.quantize.report import run_quantized, sqnr_from_power  # noqa: E402


@dataclass
class Model:
    name: str
    file: str
    kind: str  # "image" or "vector"
    size: int = 0  # image side
    scale: float = 1.0  # pixel multiplier
    classifier: bool = True


MODELS = [
    Model("vww_96_float", "mlperf_tiny/vww_96_float.tflite", "image", 96, 1.0 / 255.0),
    Model("pretrainedResnet", "mlperf_tiny/pretrainedResnet.tflite", "image", 32, 1.0),
    Model("ad01_fp32", "mlperf_tiny/ad01_fp32.tflite", "vector", classifier=False),
]
VIEWS_PER_IMAGE = 16  # 8 crops x 2 flips


def image_views(path: Path, size: int, scale: float) -> np.ndarray:
    """[16, size, size, 3] float32: the whole image, the centre and four corner crops at 80%, and two
    zoomed centre crops, each also mirrored; resized to size x size RGB and multiplied by ``scale``."""
    from PIL import Image

    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    s = min(w, h)
    boxes = [(0, 0, w, h), ((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)]
    c = int(0.8 * s)
    boxes += [(0, 0, c, c), (w - c, 0, w, c), (0, h - c, c, h), (w - c, h - c, w, h)]
    for f in (0.6, 0.45):
        c = int(f * s)
        boxes.append(((w - c) // 2, (h - c) // 2, (w + c) // 2, (h + c) // 2))
    out = []
    for box in boxes:
        v = img.crop(box).resize((size, size), Image.BILINEAR)
        for flip in (False, True):
            a = np.asarray(v.transpose(Image.FLIP_LEFT_RIGHT) if flip else v, np.float32)
            out.append(a * np.float32(scale))
    return np.stack(out)


def load_items(model: Model, data: Path) -> list[np.ndarray]:
    """One array of samples per real item (image or feature vector): folds never split an item."""
    if model.kind == "image":
        return [image_views(p, model.size, model.scale) for p in image_files(data / "images")]
    raw = np.fromfile(data / "anomaly" / "normal_id_01_00000000_hist_librosa.bin", dtype=np.float32)
    return [v[None, :] for v in raw.reshape(-1, 640)]


def anchor_convert(model_bytes: bytes, calib: np.ndarray) -> bytes:
    """TFLite's own PTQ (MinMax calibration, per-channel weights) through ai-edge-litert's wrapper."""
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as cw

    w = cw.CalibrationWrapper(model_bytes, [], [])
    w.Prepare([[1, *calib.shape[1:]]])
    for i in range(calib.shape[0]):
        w.FeedTensor([calib[i:i + 1]])
    i8, i32 = np.dtype(np.int8).num, np.dtype(np.int32).num
    return bytes(w.QuantizeModel(i8, i8, False, i8, i32, False, False))


def float_outputs(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    ys = []
    for k in range(x.shape[0]):
        it.set_tensor(i, x[k:k + 1])
        it.invoke()
        ys.append(it.get_tensor(o).copy())
    return np.concatenate(ys)


def fold_assignment(n_items: int, folds: int, seed: int = 0) -> np.ndarray:
    """Fold of each item: item i in fold i % folds (seed 0), or after a seeded shuffle of the items."""
    order = np.arange(n_items) if seed == 0 else np.random.default_rng(seed).permutation(n_items)
    fold_of = np.empty(n_items, np.int64)
    fold_of[order] = np.arange(n_items) % folds
    return fold_of


def _timed(fn) -> tuple[float, object]:
    """Wall seconds of one call, with the garbage collector run before and held off during it (a collection
    landing in one method's run and not another's is not conversion time)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


def bench_model(model: Model, zoo: Path, data: Path, folds: int, methods: list[str],
                repeats: int = 3, seeds: tuple[int, ...] = (0,), min_seconds: float = 0.3) -> list[dict]:
    model_bytes = (zoo / model.file).read_bytes()
    items = load_items(model, data)
    # untimed conversions each way: module imports and first-call setup are not conversion time
    for _ in range(2):
        anchor_convert(model_bytes, items[0])
        for m in methods:
            convert(model_bytes, calib=items[0], method=m, holdout=0, progress=False)
    names = ["anchor", *methods]
    stats = {m: {"sig": 0.0, "noise": 0.0, "agree": 0, "n": 0, "sec": [], "ratio": [], "chose": []} for m in names}
    for seed, f in ((seed, f) for seed in seeds for f in range(folds)):
        fold_of = fold_assignment(len(items), folds, seed)
        calib = np.concatenate([it for it, k in zip(items, fold_of) if k != f])
        evalx = np.concatenate([it for it, k in zip(items, fold_of) if k == f])
        ref = float_outputs(model_bytes, evalx)
        convs = {"anchor": lambda: anchor_convert(model_bytes, calib)}
        for m in methods:
            convs[m] = lambda m=m: convert(model_bytes, calib=calib, method=m, io="int8", holdout=0, progress=False)
        # rounds of one run of every method, in turn: load from other processes hits every method alike, and
        # each method's time is compared with the anchor's of the same round. Fast models get more rounds
        # (at least ``min_seconds`` of anchor time) so that a millisecond of jitter does not decide.
        out, spent, rounds = {}, 0.0, 0
        while rounds < repeats or (spent < min_seconds and rounds < 100):
            row = {}
            for m in names:
                row[m], out[m] = _timed(convs[m])
                stats[m]["sec"].append(row[m])
                stats[m]["ratio"].append(row[m] / row["anchor"])
            spent += row["anchor"]
            rounds += 1
        if "auto" in methods:  # which method auto picked on this fold (an untimed run that reports it)
            stats["auto"]["chose"].append(_convert(model_bytes, calib=calib, method="auto", io="int8", preprocess=None,
                                                   percentile=99.99, weight_clip="minmax", want_report=False,
                                                   progress=False, holdout=0, engine="auto").chosen)
        for m in names:
            y = run_quantized(out[m], [evalx])[0]
            stats[m]["sig"] += float(np.sum(ref.astype(np.float64) ** 2))
            stats[m]["noise"] += float(np.sum((ref.astype(np.float64) - y) ** 2))
            if model.classifier:
                stats[m]["agree"] += int(np.sum(ref.argmax(-1) == y.argmax(-1)))
            stats[m]["n"] += ref.shape[0]
    rows = []
    for m, s in stats.items():
        rows.append({
            "model": model.name, "method": m, "default": m == DEFAULT_METHOD,
            "sqnr_db": sqnr_from_power(s["sig"], s["noise"]),
            "top1": s["agree"] / s["n"] if model.classifier else None,
            "flips": s["n"] - s["agree"] if model.classifier else None,
            "seconds": float(np.median(s["sec"])), "time_vs_anchor": float(np.median(s["ratio"])),
            "calib_samples": int(calib.shape[0]), "eval_samples": s["n"], "chose": s["chose"],
        })
    return rows


def verdict(rows: list[dict]) -> list[str]:
    """The acceptance checks of the converter, one line each."""
    lines = []
    for name in dict.fromkeys(r["model"] for r in rows):
        rs = {r["method"]: r for r in rows if r["model"] == name}
        a, d = rs["anchor"], rs[DEFAULT_METHOD]
        best = max((r for m, r in rs.items() if m != "anchor"), key=lambda r: r["sqnr_db"])
        top1_ok = a["top1"] is None or d["top1"] >= a["top1"]
        checks = {
            "default SQNR >= anchor": d["sqnr_db"] >= a["sqnr_db"],
            "default top-1 >= anchor": top1_ok,
            "best >= anchor + 1 dB": best["sqnr_db"] >= a["sqnr_db"] + 1.0,
            "default time <= 2x anchor": d["time_vs_anchor"] <= 2.0,
            "every method <= 10 s": all(r["seconds"] <= 10 for r in rs.values()),
        }
        lines.append(f"{name}: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in checks.items())
                     + f" (best: {best['method']} {best['sqnr_db'] - a['sqnr_db']:+.2f} dB;"
                     f" default time {d['time_vs_anchor']:.2f}x anchor)")
    return lines


def main(argv=None) -> int:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", default=os.environ.get("EDGEQ_ZOO", str(here.parent / "shared" / "models")))
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--models", default=",".join(m.name for m in MODELS))
    ap.add_argument("--repeats", type=int, default=3,
                    help="least timed conversions per method and fold (more for fast models; median)")
    ap.add_argument("--seeds", default="0,1,2",
                    help="fold assignments pooled (0: item i -> fold i %% folds; others shuffle the items first)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    zoo = Path(args.zoo)
    if not zoo.is_dir():
        print(f"bench-convert: model zoo {zoo} not found (give --zoo or EDGEQ_ZOO)", file=sys.stderr)
        return 2
    data = zoo.parent / "data"
    methods = args.methods.split(",")
    seeds = tuple(int(x) for x in args.seeds.split(","))
    rows = []
    for m in MODELS:
        if m.name in args.models.split(","):
            rows += bench_model(m, zoo, data, args.folds, methods, args.repeats, seeds)

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"edgeq PTQ vs TFLite PTQ (anchor), {args.folds}-fold held-out evaluation pooled over fold "
                    f"assignments {args.seeds}, LiteRT BUILTIN_REF")
    for col in ("model", "method", "output SQNR dB", "vs anchor", "top-1 agree (flips)", "seconds", "time/anchor",
                "calib/eval"):
        t.add_column(col, justify="left" if col in ("model", "method") else "right")
    anchors = {r["model"]: r for r in rows if r["method"] == "anchor"}
    for r in rows:
        a = anchors[r["model"]]
        label = r["method"] + (f" ({'/'.join(r['chose'])})" if r["chose"] else "")
        t.add_row(r["model"], label + (" (default)" if r["default"] else ""), f"{r['sqnr_db']:.2f}",
                  "" if r["method"] == "anchor" else f"{r['sqnr_db'] - a['sqnr_db']:+.2f}",
                  "-" if r["top1"] is None else f"{100 * r['top1']:.1f}% ({r['flips']})", f"{r['seconds']:.4f}",
                  f"{r['time_vs_anchor']:.2f}x",
                  f"{r['calib_samples']}/{r['eval_samples']}")
    console = Console(width=max(Console().width, 110))
    console.print(t)
    for line in verdict(rows):
        console.print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
