#!/usr/bin/env python3
"""`make demo`: quantize the bundled example model and show what INT8 costs in accuracy.

The example is a small CNN trained on scikit-learn's digits (tools/make_example_model.py), shipped as float
.tflite (NHWC) and .onnx (NCHW). For each source file the demo
  1. converts it to a full-integer INT8 .tflite with edgeq.convert, calibrated on the digits train split;
  2. runs the float model and the INT8 model on the held-out test split (LiteRT; onnxruntime for the
     float .onnx);
  3. runs the INT8 model on edgeq's C runtime (host build) and counts outputs bit-exact with LiteRT;
  4. runs it on an emulated Cortex-M4 board (qemu-an386, through edgeq.device): boots it, flashes the model,
     runs the test split, prints the per-op profile, compares the outputs byte for byte with LiteRT, stops it;
  5. prints float accuracy, INT8 accuracy, top-1 agreement, output SQNR and the bit-exact count;
  6. converts the .tflite to W4A8, 16x8 and dynamic range (tools/demo_lowbit.py) and checks each runs
     byte-identical in LiteRT's reference kernels, runtime_c on the host and on the emulated board.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from digits import digits_split  # noqa: E402

EXAMPLES = ROOT / "edgeq" / "examples"
SOURCES = ("digits_cnn.tflite", "digits_cnn.onnx")
METHOD = "auto"  # edgeq.converter.DEFAULT_METHOD


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10·log10(Σx² / Σ(x − x̂)²) over every element."""
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    noise = np.sum((ref - test) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))


# --- runners: each takes NCHW test images; quantized I/O is converted with the model's own parameters -------
def run_litert(model: bytes | Path, x_nchw: np.ndarray, *, raw: bool = False) -> np.ndarray:
    """Run a .tflite one image at a time in LiteRT's reference kernels (BUILTIN_REF, the bit-exactness
    oracle). Returns float outputs [N, 10], or the model's own (int8) outputs when ``raw``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    q_in, q_out = (i["dtype"], *i["quantization"]), o["quantization"]
    outs = []
    for xi in x_nchw.transpose(0, 2, 3, 1):  # the .tflite takes NHWC
        it.set_tensor(i["index"], to_model(xi[None], *q_in))
        it.invoke()
        y = it.get_tensor(o["index"])
        outs.append(y if raw else to_float(y, *q_out))
    return np.concatenate(outs)


def run_runtime_c(model: bytes, x_nchw: np.ndarray) -> np.ndarray:
    """Run an INT8 .tflite on edgeq's C runtime (host build, through cffi); returns its raw outputs."""
    from edgeq.runtime import Interpreter

    it = Interpreter(model)
    t = it.inputs[0]
    return np.concatenate([it.run(to_model(xi[None], t.dtype, t.scale, t.zero_point))[0]
                           for xi in x_nchw.transpose(0, 2, 3, 1)])


def to_model(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def to_float(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    return ((y.astype(np.int32) - zero_point) * scale).astype(np.float32)


def output_quant(model: bytes) -> tuple[float, int]:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=model).get_output_details()[0]["quantization"]


def run_onnxruntime(path: Path, x_nchw: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: xi[None]})[0] for xi in x_nchw])


def run_float(src: Path, x_nchw: np.ndarray) -> np.ndarray:
    return run_onnxruntime(src, x_nchw) if src.suffix == ".onnx" else run_litert(src, x_nchw)


# --- stages ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    source: str
    engine: str
    float_acc: float
    int8_acc: float
    agreement: float
    sqnr: float
    note: str = ""
    bit_exact: bool = True  # vs LiteRT BUILTIN_REF, for stages that run another engine


def _row(src: Path, engine: str, y: np.ndarray, y_float: np.ndarray, y_int8: np.ndarray, note: str = "") -> Row:
    return Row(src.name, engine, float(np.mean(y_float.argmax(1) == y)), float(np.mean(y_int8.argmax(1) == y)),
               float(np.mean(y_int8.argmax(1) == y_float.argmax(1))), sqnr_db(y_float, y_int8), note)


def litert_stage(src: Path, int8: bytes, x: np.ndarray, y: np.ndarray, y_float: np.ndarray) -> Row:
    return _row(src, "LiteRT ref", y, y_float, run_litert(int8, x))


def runtime_c_stage(src: Path, int8: bytes, x: np.ndarray, y: np.ndarray, y_float: np.ndarray) -> Row:
    """edgeq's C runtime on the host; its raw int8 outputs are compared byte for byte with LiteRT's."""
    raw = run_runtime_c(int8, x)
    ref = run_litert(int8, x, raw=True)
    exact = int(np.sum(np.all(raw.reshape(len(x), -1) == ref.reshape(len(x), -1), axis=1)))
    row = _row(src, "runtime_c host", y, y_float, to_float(raw, *output_quant(int8)),
               note=f"{exact}/{len(x)}")
    row.bit_exact = exact == len(x)
    return row


BOARD = "qemu-an386"


def board_stage(src: Path, int8: bytes, x: np.ndarray, y: np.ndarray, y_float: np.ndarray) -> Row:
    """runtime_c on an emulated Cortex-M4 (qemu-an386) over the serial protocol: boot the board, flash the
    model, run the test set through it (SET_INPUT / INVOKE / GET_OUTPUT per image in one session), compare
    with LiteRT byte for byte, print the profile, and stop the board again (unless it was already running)."""
    from edgeq.device import qemu, render
    from edgeq.device.api import flash, profile, run

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    was_running = qemu.status(BOARD) is not None
    try:
        t0 = time.perf_counter()
        f = flash(int8, BOARD)
        t = run_litert_input_spec(int8)
        xs = to_model(x.transpose(0, 2, 3, 1), *t)
        counts: list[int] = []
        (raw,) = run(int8, BOARD, [xs], counts=counts)
        p = profile(int8, BOARD, inputs=[xs[:1]])
        dt = time.perf_counter() - t0
    finally:
        if not was_running:
            qemu.stop(BOARD)
    ref = run_litert(int8, x, raw=True)
    exact = int(np.sum(np.all(raw.reshape(len(x), -1) == ref.reshape(len(x), -1), axis=1)))
    console.print(f"{BOARD}: flashed {f.size} B ({'uploaded' if f.uploaded else 'already there'}), ran {len(x)} test "
                  f"images in {dt:.1f} s, {int(np.median(counts)):,} instructions per inference")
    p.model = f"{src.stem} INT8"
    render.profile_table(p, console)
    row = _row(src, f"{BOARD} (Cortex-M4)", y, y_float, to_float(raw, *output_quant(int8)), note=f"{exact}/{len(x)}")
    row.bit_exact = exact == len(x)
    return row


def run_litert_input_spec(model: bytes) -> tuple:
    """(dtype, scale, zero point) of the model's input, as to_model takes them."""
    from ai_edge_litert.interpreter import Interpreter

    d = Interpreter(model_content=model).get_input_details()[0]
    return (d["dtype"], *d["quantization"])


# Each stage runs the INT8 model somewhere and compares it with the float model.
STAGES = [litert_stage, runtime_c_stage, board_stage]


def calibration_for(src: Path, x_train: np.ndarray) -> np.ndarray:
    """The train split in the source model's layout: NCHW for .onnx, NHWC for .tflite."""
    return x_train if src.suffix == ".onnx" else x_train.transpose(0, 2, 3, 1)


def main() -> int:
    import edgeq

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    x_tr, _, x_te, y_te = digits_split()
    console.print(f"[bold]edgeq demo[/]: digits CNN, calibrated on {len(x_tr)} training images, "
                  f"evaluated on {len(x_te)} held-out test images (method: {METHOD})")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in SOURCES:
            src = EXAMPLES / name
            t0 = time.perf_counter()
            int8 = edgeq.convert(src, calib=calibration_for(src, x_tr), method=METHOD, io="int8", progress=False)
            dt = time.perf_counter() - t0
            out = Path(tmp) / f"{src.stem}_int8.tflite"
            out.write_bytes(int8)
            console.print(f"converted {name} ({src.stat().st_size} B float) -> INT8 .tflite ({len(int8)} B) "
                          f"in {dt:.1f} s")
            y_float = run_float(src, x_te)
            rows.extend(stage(src, int8, x_te, y_te, y_float) for stage in STAGES)

    table = Table(title="float vs INT8 on the digits test split",
                  caption="agree: top-1 agreement of INT8 with float; SQNR: of the INT8 output vs float; "
                          "LiteRT ref: LiteRT's reference kernels (BUILTIN_REF); bit-exact: test images whose "
                          "INT8 output equals LiteRT ref's byte for byte")
    for col in ("source", "INT8 on", "float acc", "INT8 acc", "agree", "SQNR", "bit-exact"):
        table.add_column(col, justify="left" if col in ("source", "INT8 on") else "right", no_wrap=True)
    for r in rows:
        table.add_row(r.source, r.engine, f"{r.float_acc:.2%}", f"{r.int8_acc:.2%}", f"{r.agreement:.2%}",
                      f"{r.sqnr:.1f} dB", r.note)
    console.print(table)

    import demo_lowbit

    src = EXAMPLES / SOURCES[0]
    low = demo_lowbit.run_all(src, calibration_for(src, x_tr), x_te, y_te, run_float(src, x_te), BOARD,
                              run_litert, sqnr_db)
    console.print(demo_lowbit.table(low, BOARD))
    worst = min(r.int8_acc - r.float_acc for r in rows)
    ok = all(r.sqnr >= 20 for r in rows) and worst >= -0.02 and all(r.bit_exact for r in rows)
    ok_low = all(r.ok for r in low)
    console.print("[green]demo passed[/]: INT8 within 2 points of float, SQNR >= 20 dB, runtime_c bit-exact "
                  "with LiteRT; low-bit modes match LiteRT (hybrid within 1e-6) and give the host's bytes on the board"
                  if ok and ok_low else
                  "[red]demo failed[/]: accuracy drop > 2 points, SQNR < 20 dB, or runtime_c / the board not "
                  "bit-exact")
    return 0 if ok and ok_low else 1


if __name__ == "__main__":
    from edgeq.errors import EdgeqError

    try:
        sys.exit(main())
    except EdgeqError as e:  # e.g. the emulated board stopped by another process: one line, no traceback
        print(f"demo failed: {e}", file=sys.stderr)
        sys.exit(2)
