"""The demo's low-bit part: the digits .tflite converted to W4A8 (packed INT4 weights, with recovery), 16x8
(int16 activations) and dynamic range (hybrid: float activations, int8 weights), each with float I/O, run in
LiteRT's reference kernels, in runtime_c on the host and on the emulated Cortex-M4 board, and compared
byte for byte. TensorFlow Lite Micro cannot run the hybrid model; runtime_c runs it on the board's FPU."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

MODES = {  # name: convert_lowbit options (the CLI's --weights int4 --recover bias,adaround / --activations int16 / --dynamic)
    "W4A8": {"weights": "int4", "recover": ("bias", "adaround")},
    "16x8": {"activations": "int16"},
    "dynamic": {"dynamic": True},
}
# Hybrid models end in float ops (here SOFTMAX, whose exp comes from the C library in LiteRT): their outputs
# may differ from LiteRT's in the last bits, within this bound.
FLOAT_TOLERANCE = 1e-6


@dataclass
class LowbitRow:
    mode: str
    size: int
    acc: float
    agree: float
    sqnr: float
    host_exact: int
    host_max_diff: float
    board_exact: int
    n: int
    instructions: int
    seconds: float

    @property
    def ok(self) -> bool:
        host_ok = self.host_exact == self.n or (self.mode == "dynamic" and self.host_max_diff <= FLOAT_TOLERANCE)
        return host_ok and self.board_exact == self.n


def run_all(src: Path, x_train_nhwc: np.ndarray, x_te_nchw: np.ndarray, y_te: np.ndarray, y_float: np.ndarray,
            board: str, litert, sqnr_db) -> list[LowbitRow]:
    """One row per mode; ``litert(model, x_nchw)`` runs LiteRT BUILTIN_REF and returns float outputs."""
    from edgeq.device import qemu
    from edgeq.device.api import run
    from edgeq.quantize.lowbit import convert_lowbit
    from edgeq.runtime import Interpreter

    x = np.ascontiguousarray(x_te_nchw.transpose(0, 2, 3, 1), np.float32)
    rows = []
    was_running = qemu.status(board) is not None
    try:
        for mode, kw in MODES.items():
            t0 = time.perf_counter()
            model = convert_lowbit(src, calib=None if kw.get("dynamic") else x_train_nhwc, io="float",
                                   **kw).model
            dt = time.perf_counter() - t0
            ref = litert(model, x_te_nchw)
            it = Interpreter(model)
            host = np.concatenate([it.run(xi[None])[0] for xi in x])
            counts: list[int] = []
            (dev,) = run(model, board, [x], counts=counts)
            same = lambda a, b: int(np.sum([a[i].tobytes() == b[i].tobytes() for i in range(len(x))]))  # noqa: E731
            rows.append(LowbitRow(mode, len(model), float(np.mean(ref.argmax(1) == y_te)),
                                  float(np.mean(ref.argmax(1) == y_float.argmax(1))), sqnr_db(y_float, ref),
                                  same(host.reshape(len(x), -1), ref.reshape(len(x), -1)),
                                  float(np.max(np.abs(host.reshape(ref.shape) - ref))),
                                  same(dev.reshape(len(x), -1), host.reshape(len(x), -1)), len(x),
                                  int(np.median(counts)), dt))
    finally:
        if not was_running:
            qemu.stop(board)
    return rows


def table(rows: list[LowbitRow], board: str) -> Table:
    t = Table(title="low-bit modes of digits_cnn.tflite (float I/O) on the test split",
              caption="W4A8: packed INT4 weights, bias correction + AdaRound; 16x8: int16 activations; dynamic: "
                      "float activations, int8 weights (hybrid). host: runtime_c's outputs byte-identical to "
                      f"LiteRT's reference kernels (max |diff|); board: {board}'s byte-identical to the host's")
    for col in ("mode", "bytes", "acc", "agree", "SQNR", "host", "max |diff|", "board", "instr/inf", "convert"):
        t.add_column(col, justify="left" if col == "mode" else "right", no_wrap=True)
    for r in rows:
        t.add_row(r.mode, f"{r.size:,}", f"{r.acc:.2%}", f"{r.agree:.2%}", f"{r.sqnr:.1f} dB",
                  f"{r.host_exact}/{r.n}", f"{r.host_max_diff:.1g}", f"{r.board_exact}/{r.n}",
                  f"{r.instructions / 1e3:.1f} k",
                  f"{r.seconds:.1f} s")
    return t
