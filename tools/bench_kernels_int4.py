"""INT4 CONV_2D / DEPTHWISE_CONV_2D kernel times against int8 on the same shapes, per variant (the figures of
runtime_c/kernels/README.md's INT4 table). Both run as the runtime runs them on the host: conv weights
packed once at prepare (int8 into int16 pairs / bytes, INT4 into a 4-bit panel), the packed run timed;
depthwise reads the weights as stored. Each output is checked equal to the reference variant's. Times: best of --repeat batches of ~20 ms, single-threaded; with
--rounds N the whole table is measured N times and each cell keeps its best (a busy host inflates single runs).

    .venv/bin/python tools/bench_kernels_int4.py [--repeat 7] [--rounds 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import kernel_shim  # noqa: E402
from test_simd_int4 import S4, cpu_runs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edgeq.model.tflite_io import pack_int4  # noqa: E402

LAYERS = [("conv", 16, 16, 32, 32, 3, 3, 1), ("conv", 12, 12, 64, 64, 1, 1, 1), ("dw", 24, 24, 32, 1)]


def best_us(run, repeat: int) -> float:
    run()
    t = time.perf_counter()
    run()
    inner = max(1, int(0.02 / max(time.perf_counter() - t, 1e-7)))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            run()
        times.append((time.perf_counter() - t) / inner)
    return min(times) * 1e6


def int8_call(k: kernel_shim.Kernels, isa: str, case):
    """The int8 kernel as the host runtime runs it: conv packed once (prepare), then the packed run."""
    kind, params, x, w, bias, mult, shift, oshape = case
    t = k.table(isa)
    pk = t.conv2d_s8_pack if kind == "conv" else k.ffi.NULL
    if pk == k.ffi.NULL:
        return kernel_shim.layer_call(k, isa, case)
    ffi = k.ffi
    p = ffi.new("eq_conv_params *", params)
    s_in, s_f, s_out = (ffi.new("eq_shape4 *", s) for s in (x.shape, w.shape, oshape))
    packed = np.zeros(pk.packed_size(p, s_in, s_f, s_out) + 16, np.uint8)
    q = k._quant(mult, shift)
    pk.pack(p, q, s_in, s_f, ffi.cast("int8_t *", w.ctypes.data), k._ptr("int32_t *", bias), s_out,
            ffi.cast("void *", packed.ctypes.data + 16))
    scratch = np.zeros(pk.scratch_size(p, s_in, s_f, s_out) + 16, np.uint8)
    out = np.zeros(oshape, np.int8)
    args = (p, s_in, ffi.cast("int8_t *", x.ctypes.data), s_f, ffi.cast("void *", packed.ctypes.data + 16), s_out,
            ffi.cast("int8_t *", out.ctypes.data), ffi.cast("void *", scratch.ctypes.data + 16))
    keep = (packed, scratch, q, x, w, out)

    def run():
        pk.run(*args)
        return keep
    return run, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    k = kernel_shim.Kernels()
    s4 = S4(Path(tempfile.mkdtemp(prefix="bench_s4_")))
    isas = [v for v in kernel_shim.VARIANTS if v == "ref" or cpu_runs(v)]
    print("| shape | " + " | ".join(isas) + " |")
    print("|---" * (len(isas) + 1) + "|")
    for layer in LAYERS:
        rng = np.random.default_rng(0)
        case = kernel_shim.layer_case(layer, rng)
        kind, params, x, w8, bias, mult, shift, oshape = case
        packed = pack_int4(rng.integers(-8, 8, w8.shape, dtype=np.int8))
        runs, ref4 = [], None
        for isa in isas:
            run4, out4 = s4.call(isa, kind == "dw", params, x, packed, w8.shape, bias, mult, shift, oshape,
                                 prepared=True)
            run4()
            if ref4 is None:
                ref4 = out4.copy()
            elif out4.tobytes() != ref4.tobytes():
                raise SystemExit(f"{isa} INT4 differs from ref on {layer}")
            run8, out8 = int8_call(k, isa, case)
            runs.append((run8, run4, out8))  # the runs write into out8: keep it alive
        best = [[float("inf")] * 2 for _ in isas]
        for _ in range(args.rounds):
            for i, pair in enumerate(runs):
                best[i] = [min(b, best_us(r, args.repeat)) for b, r in zip(best[i], pair[:2])]
        cells = [f"{t8:.1f} / {t4:.1f} us" for t8, t4 in best]
        if kind == "conv":
            name = f"conv {layer[1]}x{layer[2]}x{layer[3]} -> {layer[4]}, {layer[5]}x{layer[6]}"
        else:
            name = f"depthwise {layer[1]}x{layer[2]}x{layer[3]}, 3x3"
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
