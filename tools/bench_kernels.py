"""Per-kernel speed of the x86 SIMD variants over the reference kernels on the layer shapes of the MLPerf
Tiny int8 models (VWW, ResNet-8, DS-CNN KWS, AD autoencoder), each output checked equal to the reference.

    .venv/bin/python tools/bench_kernels.py [--repeat N] [--layers]

Prints, per model, the summed median kernel time of each variant and its speedup over ref; --layers adds
one line per layer. Times are single-threaded medians over N runs (one cffi call each)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import kernel_shim  # noqa: E402


def median_us(run, repeat: int) -> float:
    run()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--layers", action="store_true", help="one line per layer")
    args = ap.parse_args()
    k = kernel_shim.Kernels(cflags=("-O2",))
    isas = [v for v in kernel_shim.VARIANTS if k.table(v) is not None]
    skipped = [v for v in kernel_shim.VARIANTS if v not in isas]
    print(f"variants: {', '.join(isas)}" + (f" (this CPU lacks {', '.join(skipped)})" if skipped else ""))
    header = f"{'model':8s} " + " ".join(f"{v + ' us':>14s}" for v in isas) + " " + " ".join(
        f"{'x ' + v:>13s}" for v in isas[1:])
    print(header)
    for model, layers in kernel_shim.MLPERF_LAYERS.items():
        totals = dict.fromkeys(isas, 0.0)
        rng = np.random.default_rng(0)
        for layer in layers:
            case = kernel_shim.layer_case(layer, rng)
            times, outs = {}, {}
            for v in isas:
                run, out = kernel_shim.layer_call(k, v, case)
                times[v] = median_us(run, args.repeat)
                outs[v] = out
                totals[v] += times[v]
            for v in isas[1:]:
                if not np.array_equal(outs[v], outs["ref"]):
                    raise SystemExit(f"{v} differs from ref on {model} layer {layer}")
            if args.layers:
                print(f"  {str(layer):40s} " + " ".join(f"{times[v]:9.1f}" for v in isas) + "   " +
                      " ".join(f"x{times['ref'] / times[v]:6.1f}" for v in isas[1:]))
        print(f"{model:8s} " + " ".join(f"{totals[v]:14.1f}" for v in isas) + " " +
              " ".join(f"{totals['ref'] / totals[v]:13.1f}" for v in isas[1:]))


if __name__ == "__main__":
    main()
