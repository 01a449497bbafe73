#!/usr/bin/env python3
"""`make bench`: runtime_c on the host against the anchors, measured in this one process.

For each MLPerf Tiny int8 model: median latency of runtime_c, LiteRT with XNNPACK (1 thread), LiteRT's
builtin kernels without delegates, and the TFLite Micro Python interpreter, as ratios; and runtime_c's
arena beside TFLite Micro's (its recording allocator's total). Also checks that runtime_c's outputs equal
LiteRT's reference kernels on the inputs it times. The arena is given twice: for the kernels this host
runs (SIMD variants keep packed weights in the arena) and for the scalar reference kernels, the
configuration a microcontroller build compiles.

A second table covers the paths beyond int8: VWW and IC quantized 16x8 by edgeq (int16 activations; the
scales come from random calibration inputs, which changes nothing about speed), the public hybrid KWS model
and VWW converted hybrid (--dynamic): runtime_c with its reference kernels (EDGEQ_ISA=ref, timed in a child
process since the kernel table is chosen once per process) and with this host's SIMD kernels, against
LiteRT's default kernels (XNNPACK) and its reference kernels, whose bytes runtime_c must reproduce.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import json
import subprocess

import numpy as np
from rich.console import Console
from rich.table import Table

from edgeq.introspect import RuntimeView
from edgeq.runtime import Interpreter as EdgeqInterpreter

MODELS = {
    "KWS": "mlperf_tiny/kws_ref_model.tflite",
    "VWW": "mlperf_tiny/vww_96_int8.tflite",
    "IC": "mlperf_tiny/pretrainedResnet_quant.tflite",
    "AD": "mlperf_tiny/ad01_int8.tflite",
}


def zoo_dir(arg: str | None) -> Path:
    for cand in (arg, os.environ.get("EDGEQ_ZOO"), Path(__file__).resolve().parents[2] / "shared" / "models"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    sys.exit("bench: the MLPerf Tiny models were not found; pass --zoo DIR or set EDGEQ_ZOO")


def median_seconds(fn, reps: int, min_time: float = 0.3) -> float:
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * reps:
            break
    return statistics.median(times)


def litert(path: Path, resolver: str | None):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {"num_threads": 1}
    if resolver:
        kw["experimental_op_resolver_type"] = getattr(OpResolverType, resolver)
    it = Interpreter(model_path=str(path), **kw)
    it.allocate_tensors()
    return it


def litert_run(it, x: np.ndarray) -> np.ndarray:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@contextlib.contextmanager
def captured_output():
    """Capture what C++ code prints on file descriptors 1 and 2 (TFLite Micro's allocation report)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        box = {}
        try:
            yield box
        finally:
            for fd, old in ((1, saved[0]), (2, saved[1])):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


def tflm(path: Path):
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None, None
    it = runtime.Interpreter.from_file(str(path), arena_size=4 * 1024 * 1024)
    with captured_output() as out:
        it.print_allocations()
    m = re.search(r"Arena allocation total (\d+) bytes", out["text"])
    return it, (int(m.group(1)) if m else None)


# Beyond int8: (row name, zoo file, conversion) with conversion None (the file as it is), "int16" or "dynamic".
LOWBIT_MODELS = [
    ("VWW 16x8", "mlperf_tiny/vww_96_float.tflite", "int16"),
    ("IC 16x8", "mlperf_tiny/pretrainedResnet.tflite", "int16"),
    ("KWS hybrid", "mlperf_tiny/kws_ref_model_float32.tflite", None),
    ("VWW hybrid", "mlperf_tiny/vww_96_float.tflite", "dynamic"),
]


def lowbit_model(path: Path, conversion: str | None, rng: np.random.Generator) -> bytes:
    src = path.read_bytes()
    if conversion is None:
        return src
    from edgeq.quantize.lowbit import convert_lowbit

    if conversion == "dynamic":
        return convert_lowbit(src, dynamic=True, measure_passes=False).model
    from ai_edge_litert.interpreter import Interpreter

    shape = Interpreter(model_content=src).get_input_details()[0]["shape"]
    calib = rng.uniform(0, 1, (16, *shape[1:])).astype(np.float32)
    return convert_lowbit(src, calib=calib, activations="int16", io="int16", measure_passes=False).model


def time_models(folder: Path, reps: int) -> None:
    """Child mode: time runtime_c on every m<i>.tflite / x<i>.npy in folder; write y<i>.npy and times.json."""
    times = []
    for i in range(len(list(folder.glob("m*.tflite")))):
        it = EdgeqInterpreter((folder / f"m{i}.tflite").read_bytes())
        x = np.load(folder / f"x{i}.npy")
        np.save(folder / f"y{i}.npy", np.asarray(it.run(x)[0]))
        times.append(median_seconds(lambda: it.run(x), reps))
    (folder / "times.json").write_text(json.dumps(times))


def lowbit_table(zoo: Path, reps: int, console: Console) -> None:
    from edgeq.introspect import kernel_isa

    rng = np.random.default_rng(0)
    isa = kernel_isa()  # this process runs the best variant this CPU has (or EDGEQ_ISA's)
    table = Table(title=f"16x8 and hybrid: runtime_c reference kernels vs {isa} kernels vs LiteRT (median latency)")
    for col in ("model", "runtime_c ref", "runtime_c SIMD", "speed-up", "LiteRT XNNPACK", "ratio", "LiteRT ref",
                "SIMD = ref bytes", "vs LiteRT ref"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for i, (name, rel, conversion) in enumerate(LOWBIT_MODELS):
            model = lowbit_model(zoo / rel, conversion, rng)
            (folder / f"m{i}.tflite").write_bytes(model)
            spec = EdgeqInterpreter(model).inputs[0]
            x = (rng.uniform(-1, 1, spec.shape) if spec.dtype == np.float32 else
                 rng.integers(-32768, 32768, spec.shape)).astype(spec.dtype)
            np.save(folder / f"x{i}.npy", x)
            rows.append((name, model, x))
        subprocess.run([sys.executable, __file__, "--time-only", str(folder), "--reps", str(reps)], check=True,
                       env=dict(os.environ, EDGEQ_ISA="ref"))
        t_ref = json.loads((folder / "times.json").read_text())
        for i, (name, model, x) in enumerate(rows):
            ours = EdgeqInterpreter(model)
            y = np.asarray(ours.run(x)[0])
            same = y.tobytes() == np.load(folder / f"y{i}.npy").tobytes()
            t_simd = median_seconds(lambda: ours.run(x), reps)
            path = folder / f"m{i}.tflite"
            xnn, lref = litert(path, None), litert(path, "BUILTIN_REF")
            t_xnn = median_seconds(lambda: litert_run(xnn, x), reps)
            t_lref = median_seconds(lambda: litert_run(lref, x), max(5, reps // 3))
            want = litert_run(lref, x)
            if want.tobytes() == y.tobytes():
                exact = "byte-exact"
            else:
                exact = f"max |diff| {np.abs(want.astype(np.float64) - y).max():.2g}"
            ms = lambda t: f"{t * 1e3:.3f} ms"  # noqa: E731
            table.add_row(name, ms(t_ref[i]), ms(t_simd), f"{t_ref[i] / t_simd:.1f}x", ms(t_xnn),
                          f"{t_xnn / t_simd:.2f}x", ms(t_lref), "yes" if same else "NO", exact)
    console.print(table)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", help="folder of the MLPerf Tiny models (default: EDGEQ_ZOO or ../shared/models)")
    ap.add_argument("--reps", type=int, default=30, help="timed runs per engine and model (median taken)")
    ap.add_argument("--tables", default="int8,lowbit", help="which tables: int8, lowbit (16x8 and hybrid), or both")
    ap.add_argument("--time-only", help=argparse.SUPPRESS)  # child process of the lowbit table
    args = ap.parse_args()
    if args.time_only:
        time_models(Path(args.time_only), args.reps)
        return 0
    zoo = zoo_dir(args.zoo)
    console = Console(width=200)
    tables = set(args.tables.split(","))
    if "lowbit" in tables:
        lowbit_table(zoo, args.reps, console)
    if "int8" not in tables:
        return 0
    rng = np.random.default_rng(0)

    table = Table(title="runtime_c on this host vs the anchors (median latency; ratio = anchor / runtime_c)")
    for col in ("model", "runtime_c", "LiteRT XNNPACK", "ratio", "LiteRT builtin", "ratio", "TFLM", "ratio",
                "arena host", "arena ref", "arena TFLM", "bit-exact"):
        table.add_column(col, justify="right")
    for name, rel in MODELS.items():
        path = zoo / rel
        ours = EdgeqInterpreter(str(path))
        spec = ours.inputs[0]
        x = rng.integers(-128, 128, size=spec.shape, dtype=np.int8).astype(spec.dtype)
        ref = litert(path, "BUILTIN_REF")
        exact = all(
            np.array_equal(ours.run(xi)[0], litert_run(ref, xi))
            for xi in [x] + [rng.integers(-128, 128, size=spec.shape).astype(spec.dtype) for _ in range(9)]
        )
        t_ours = median_seconds(lambda: ours.run(x), args.reps)
        xnn, builtin = litert(path, None), litert(path, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")
        t_xnn = median_seconds(lambda: litert_run(xnn, x), args.reps)
        t_builtin = median_seconds(lambda: litert_run(builtin, x), args.reps)
        micro, micro_arena = tflm(path)
        if micro is not None:
            def run_micro():
                micro.set_input(x, 0)
                micro.invoke()
            t_micro = median_seconds(run_micro, max(5, args.reps // 3))
        ms = lambda t: f"{t * 1e3:.3f} ms"  # noqa: E731
        table.add_row(
            name, ms(t_ours), ms(t_xnn), f"{t_xnn / t_ours:.2f}x", ms(t_builtin), f"{t_builtin / t_ours:.2f}x",
            ms(t_micro) if micro else "n/a", f"{t_micro / t_ours:.1f}x" if micro else "n/a",
            f"{ours.arena_bytes:,}", f"{RuntimeView(path.read_bytes(), variant='ref').arena_bytes:,}",
            f"{micro_arena:,}" if micro_arena else "n/a",
            "yes (10/10)" if exact else "NO",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
