"""The Cortex-M arena probe and per-model firmware.

The probe (boards/probe, run under QEMU by edgeq.device.probe) must report exactly the arena the runner
firmware then uses on the same CPU, prove it there (eq_init with one byte less fails, with exactly that many
succeeds and runs), and come in below the host's 64-bit figure. A firmware linked for one model's ops must
hold only those ops and still run the model byte for byte as the host runtime does."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from edgeq.device.build import build_firmware, firmware_size, model_ops, op_link_symbols
from edgeq.errors import DeviceError
from tool_models import small_cnn

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="no arm-none-eabi-gcc or qemu-system-arm")
EQ_ERR_ARENA_TOO_SMALL = 8
SMALL_CNN_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}


@pytest.fixture(scope="module")
def model() -> bytes:
    return small_cnn(seed=3)


def _fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def _host_outputs_on_zeros(model: bytes) -> bytes:
    from edgeq.runtime import Interpreter

    it = Interpreter(model)
    xs = [np.zeros(t.shape, t.dtype) for t in it.inputs]
    return b"".join(y.tobytes() for y in it.run(*xs))


def _symbols(elf: Path) -> set[str]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^[0-9a-f]+ [TtDdRr] (\w+)$", out, re.M))


def test_model_ops_and_link_symbols(model):
    assert model_ops(model) == SMALL_CNN_OPS
    syms = op_link_symbols({"CONV_2D", "LOGISTIC"})
    assert {"eq_op_conv_2d", "eq_conv2d_s8", "eq_conv2d_s8_scratch_size", "eq_op_logistic", "eq_lut_s8"} <= set(syms)
    assert "eq_depthwise_conv2d_s8" not in syms and "eq_add_s8" not in syms
    with pytest.raises(DeviceError, match="does not implement NOT_AN_OP"):
        op_link_symbols({"CONV_2D", "NOT_AN_OP"})


def test_probe_is_exact_on_the_mcu_and_below_the_host_figure(model):
    from edgeq.analyze import analyze
    from edgeq.device.probe import probe

    p = probe(model, "qemu-an386")
    assert p.emulator == "qemu-an386" and p.model_bytes == len(model)
    assert p.arena_used == p.arena_bytes and p.init_one_less == EQ_ERR_ARENA_TOO_SMALL
    assert p.outputs_fnv1a == _fnv1a(_host_outputs_on_zeros(model))
    host = analyze(model).ref.arena_bytes
    assert 0 < p.arena_bytes < host, "4-byte pointers: the MCU arena is below the 64-bit host's"
    assert 0 < p.stack_bytes < 4096
    # same figure from the per-model probe (only the model's ops linked), and on the Cortex-M55
    from edgeq.device.probe import probe as probe_again

    assert probe_again(model, "qemu-an386", ops=model_ops(model)).arena_bytes == p.arena_bytes
    assert probe_again(model, "qemu-an547").arena_bytes == p.arena_bytes


def test_probe_reports_the_runtimes_verdict(model):
    from edgeq.device.probe import probe
    from edgeq.errors import ModelError

    with pytest.raises(ModelError, match="eq_model_load: malformed model"):
        probe(model[:200], "qemu-an386")
    # an image without DEPTHWISE_CONV_2D (op 1 of the model) refuses it as a firmware built so would
    with pytest.raises(ModelError, match="at op 1: unsupported operator"):
        probe(model, "qemu-an386", ops=SMALL_CNN_OPS - {"DEPTHWISE_CONV_2D"})


def test_real_board_is_probed_on_an_emulator_of_its_core(model):
    from edgeq.analyze import analyze
    from edgeq.device.probe import arena_on_board

    a = analyze(model, board="nucleo-f446re")  # Cortex-M4F, 128 KiB RAM: answered by qemu-an386
    assert a.board.emulator == "qemu-an386" and a.board.arena_bytes == arena_on_board(model, "qemu-an386")
    assert a.board.ram_size == 128 * 1024 and 100_000 < a.board.capacity < a.board.ram_size and a.board.fits
    assert a.to_dict()["board"]["fits"] is True


def test_generate_with_board_writes_the_exact_figure(model, tmp_path):
    from edgeq.codegen import generate
    from edgeq.device.probe import arena_on_board

    h = generate(model, tmp_path, name="cnn", board="qemu-an547")[1].read_text()
    exact = arena_on_board(model, "qemu-an547")
    assert f"#define CNN_ARENA_BYTES {exact}u" in h and "exact on qemu-an547" in h


class _Board:
    """The runner firmware on QEMU, reached through edgeq.device's client on a loopback socket."""

    def __init__(self, board: str, elf: Path):
        from edgeq.device.build import load_board
        from edgeq.device.client import Client
        from edgeq.device.transport import open_port

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        q = load_board(board)["qemu"]
        self.proc = subprocess.Popen(
            ["qemu-system-arm", "-M", q["machine"], *q["args"], "-kernel", str(elf), "-display", "none",
             "-monitor", "none", "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client = Client(open_port(f"socket://127.0.0.1:{port}"), board=board)
                break
            except DeviceError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "QEMU did not start"
                time.sleep(0.05)
        self.client.connect()

    def close(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()


def test_per_model_firmware_uses_the_probed_arena_and_runs(model):
    from edgeq.device.probe import probe

    ops = model_ops(model)
    elf = build_firmware("qemu-an386", ops=ops)
    syms = _symbols(elf)
    assert {"eq_op_conv_2d", "eq_op_softmax", "eq_conv2d_s8", "eq_depthwise_conv2d_s8"} <= syms
    assert not {"eq_op_add", "eq_add_s8", "eq_op_mul", "eq_mul_s8", "eq_op_transpose"} & syms
    full, small = firmware_size("qemu-an386"), firmware_size("qemu-an386", ops=ops)
    assert small["runtime"] < full["runtime"] - 5000 and small["ops"] == sorted(ops)

    exact = probe(model, "qemu-an386").arena_bytes
    b = _Board("qemu-an386", elf)
    try:
        b.client.upload(model)
        load = b.client.load()
        assert load.arena_used == exact, "the probe's figure is what the firmware uses after LOAD"
        b.client.write_input(0, bytes(8 * 8 * 3))
        b.client.invoke()
        assert b.client.read_output(0, 10) == _host_outputs_on_zeros(model)
    finally:
        b.close()


# ---- code size against TensorFlow Lite Micro + CMSIS-NN (needs the MLPerf Tiny zoo) ---------------------
def test_code_size_at_or_below_tflm(zoo):
    from edgeq.device.build import TFLM_CODE_KB, code_size_table

    rows = code_size_table(zoo)
    assert {(r["model"], r["board"]) for r in rows} == {(m, b) for m in TFLM_CODE_KB for b in ("qemu-an386", "qemu-an547")}
    for r in rows:
        assert r["runtime"] <= r["tflm"] * 1000, r
        assert r["image"] <= r["tflm"] * 1000, r  # even the whole runner image (protocol, port, libc)
