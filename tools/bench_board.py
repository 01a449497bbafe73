#!/usr/bin/env python3
"""`make bench-board`: the four MLPerf Tiny int8 models on the emulated boards (qemu-an386, qemu-an547).

For each model and board: upload it over the serial protocol, run seeded random samples and check every
output byte against LiteRT's reference kernels (BUILTIN_REF), and report instructions per inference (QEMU
-icount: deterministic), arena bytes used on the board, and the firmware's code size (runtime_c core + ops +
kernels apart from the runner, board code and libc; the model is uploaded, not linked in), beside the
TFLite Micro + CMSIS-NN figures measured under the same QEMU 7.2 (../shared/docs/BOARDS.md). Then the
fault test: 50 uploads to qemu-an386 through a proxy that damages 1 % of the bytes (--no-faults skips it).

    tools/bench_board.py [--boards qemu-an386,qemu-an547] [--samples 3] [--models kws,vww] [--no-faults] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ZOO = Path(os.environ.get("EDGEQ_ZOO") or Path(__file__).resolve().parents[2] / "shared" / "models")
MODELS = {  # short name -> file under the zoo
    "kws": "mlperf_tiny/kws_ref_model.tflite",
    "vww": "mlperf_tiny/vww_96_int8.tflite",
    "ic": "mlperf_tiny/pretrainedResnet_quant.tflite",
    "ad": "mlperf_tiny/ad01_int8.tflite",
}
# TFLite Micro + CMSIS-NN under QEMU 7.2 (BOARDS.md / the boards issue): instructions per inference (millions)
TFLM_INSTR = {"qemu-an386": {"kws": 7.70, "vww": 24.10, "ic": 29.86, "ad": 0.583},
              "qemu-an547": {"kws": 1.82, "vww": 6.56, "ic": 4.91, "ad": 0.150}}
TFLM_ARENA = {"kws": 22_832, "vww": 100_720, "ic": 55_008, "ad": 3_024}  # smallest working arena on the M4


def litert_ref(data: bytes, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    outs = []
    for xs in samples:
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], np.asarray(x).reshape(d["shape"]))
        it.invoke()
        outs.append([it.get_tensor(d["index"]).copy() for d in it.get_output_details()])
    return outs


def bench_one(board: str, name: str, data: bytes, n: int) -> dict:
    from edgeq.device.api import Loaded, session

    rng = np.random.default_rng(0)
    with session(board, invoke_timeout=300.0) as c:
        t0 = time.monotonic()
        m = Loaded(c, data)
        upload_s = time.monotonic() - t0
        samples = []
        for _ in range(n):
            xs = []
            for s in m.inputs:
                i = np.iinfo(s.dtype)
                xs.append(rng.integers(i.min, i.max, s.shape, endpoint=True).astype(s.dtype))
            samples.append(xs)
        counts, dev = [], []
        t1 = time.monotonic()
        for xs in samples:
            counts.append(m.run_one(xs))
            dev.append(m.read_outputs())
        run_s = (time.monotonic() - t1) / n
        mem = c.memory()
    ref = litert_ref(data, samples)
    exact = sum(all(a.tobytes() == np.asarray(b).reshape(a.shape).tobytes() for a, b in zip(d, r))
                for d, r in zip(dev, ref))
    return dict(board=board, model=name, model_bytes=len(data), samples=n, exact=exact, instructions=counts,
                arena_bytes=mem.arena_used, stack_bytes=mem.stack_used, code_bytes=mem.code_bytes,
                upload_seconds=round(upload_s, 2), seconds_per_inference=round(run_s, 3))


def run_fault_test(console: Console) -> dict:
    """The QEMU fault test (tests/test_device_fault.py): 50 noisy uploads, a reset and a cut mid-upload."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-m", "qemu", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_device_fault.py")]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [ln.strip() for ln in r.stdout.splitlines() if "uploads through" in ln]
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()[-200:]
    return dict(passed=r.returncode == 0, summary=summary, noisy=lines[0] if lines else "",
                seconds=round(time.monotonic() - t0, 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", default="qemu-an386,qemu-an547")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--no-faults", action="store_true", help="skip the 50-upload fault test (minutes)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args()
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 130)
    if not ZOO.is_dir():
        console.print(f"bench-board: the MLPerf Tiny models are not at {ZOO} (set EDGEQ_ZOO)")
        return 2
    from edgeq.device import qemu
    from edgeq.device.build import code_size_table, firmware_size

    boards = args.boards.split(",")
    names = args.models.split(",")
    os.environ.setdefault("EDGEQ_STATE_DIR", tempfile.mkdtemp(prefix="edgeq-bench-boards-"))
    rows, sizes = [], {}
    try:
        for board in boards:
            sizes[board] = firmware_size(board)
            for name in names:
                data = (ZOO / MODELS[name]).read_bytes()
                console.print(f"{board}: {name} ({len(data):,} bytes) ...", end=" ")
                r = bench_one(board, name, data, args.samples)
                console.print(f"{r['exact']}/{r['samples']} equal, {r['instructions'][0] / 1e6:.2f} M instructions")
                rows.append(r)
    finally:
        for board in boards:
            qemu.stop(board)

    t = Table(title="MLPerf Tiny int8 on the emulated boards: edgeq (reference kernels) vs TFLM + CMSIS-NN",
              caption="instructions per inference under QEMU -icount (median; spread: max - min over the samples, "
                      "data-dependent paths); equal: samples whose outputs "
                      "are byte-identical with LiteRT BUILTIN_REF; arena: bytes the board's runtime used "
                      "(TFLM: smallest working arena, M4)")
    for col in ("board", "model", "equal", "M instr.", "spread", "TFLM+CMSIS-NN", "ratio", "arena B", "TFLM arena B",
                "stack B", "upload s", "s/inference"):
        t.add_column(col, justify="left" if col in ("board", "model") else "right")
    for r in rows:
        ref = TFLM_INSTR.get(r["board"], {}).get(r["model"])
        ins = float(np.median(r["instructions"])) / 1e6
        t.add_row(r["board"], r["model"], f"{r['exact']}/{r['samples']}", f"{ins:.2f}",
                  f"{max(r['instructions']) - min(r['instructions']):,}",
                  f"{ref:.2f}" if ref else "-", f"{ins / ref:.2f}x" if ref else "-", f"{r['arena_bytes']:,}",
                  f"{TFLM_ARENA[r['model']]:,}", f"{r['stack_bytes']:,}", f"{r['upload_seconds']:.1f}",
                  f"{r['seconds_per_inference']:.2f}")
    console.print(t)
    for board, s in sizes.items():
        console.print(f"{board} firmware with every op: text {s['text']:,} + data {s['data']:,} B; runtime_c "
                      f"{s['runtime']:,} B, runner {s['firmware']:,} B, board {s['board']:,} B, libc {s['libc']:,} B")
    code = code_size_table(ZOO, boards=tuple(boards))
    c = Table(title="Code per model (firmware linked with the model's ops only; text+data, model not included)")
    for col in ("board", "model", "runtime_c B", "whole image B", "TFLM+CMSIS-NN KB", "ratio"):
        c.add_column(col, justify="left" if col in ("board", "model") else "right")
    for r in code:
        c.add_row(r["board"], r["model"], f"{r['runtime']:,}", f"{r['image']:,}", f"{r['tflm']}",
                  f"{r['image'] / (r['tflm'] * 1000):.2f}x")
    console.print(c)
    faults = None
    if not args.no_faults:
        console.print("fault test on qemu-an386 (50 uploads through 1 % damaged bytes, reset and cut mid-upload) ...")
        faults = run_fault_test(console)
        console.print(f"  {faults['noisy'] or '(no summary)'}")
        console.print(f"  {faults['summary']} in {faults['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(dict(rows=rows, firmware=sizes, code=code, faults=faults), indent=2))
    ok = all(r["exact"] == r["samples"] for r in rows) and (faults is None or faults["passed"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
