"""The exact arena of a model on a Cortex-M board, known before flashing.

    arena_on_board("kws_int8.tflite", "qemu-an386")   -> 22528
    probe("kws_int8.tflite", "nucleo-h743zi")         -> ProbeResult(arena_bytes=..., emulator="qemu-an500", ...)
    arena_capacity("qemu-an386")                       -> RAM the runner firmware leaves for the arena

The host's `edgeq analyze` measures runtime_c built for 64 bits, whose tables hold 8-byte pointers: on a
32-bit MCU the arena is smaller. The probe (boards/probe) is runtime_c built for the board's CPU and kernel
variant, run under QEMU with semihosting: it reads the model, asks eq_arena_size, checks that eq_init fails
with one byte less and succeeds with exactly that many, and runs one eq_invoke on zero inputs.

A real board is answered by an emulated one able to run its code (EMULATOR_FOR_CPU), with the probe compiled
for the real board's CPU flags: every Cortex-M has the same 32-bit AAPCS data layout, so the arena depends
only on the model and the kernel variant, both of which the probe shares with the board's firmware.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError, ModelError
from .build import build_firmware, build_probe, load_board

QEMU = "qemu-system-arm"
# The emulated board that runs code built for each core (an500's Cortex-M7 also runs Cortex-M4 code; the
# Cortex-M55 of an547 runs Armv8-M mainline code such as the Cortex-M33's).
EMULATOR_FOR_CPU = {"cortex-m4": "qemu-an386", "cortex-m7": "qemu-an500", "cortex-m33": "qemu-an547",
                    "cortex-m55": "qemu-an547"}
STEPS = {1: "reading the command line", 2: "reading the model file", 3: "eq_model_load",
         4: "eq_arena_size", 5: "eq_init with one byte less did not fail with EQ_ERR_ARENA_TOO_SMALL",
         6: "eq_init with the exact arena", 7: "eq_invoke on zero inputs"}


@dataclass(frozen=True)
class ProbeResult:
    board: str            # the board asked about
    emulator: str         # the emulated board the probe ran on
    model_bytes: int
    arena_bytes: int      # eq_arena_size on the board's CPU
    arena_used: int       # eq_arena_used after eq_init on exactly arena_bytes (equal to it)
    init_one_less: int    # eq_init's status with arena_bytes - 1 (8: EQ_ERR_ARENA_TOO_SMALL)
    outputs_fnv1a: int    # FNV-1a 32 of every output byte after an invoke on zero inputs
    stack_bytes: int      # probe stack high-water (runtime_c's init and invoke included)


def emulator_for(board: str) -> str:
    b = load_board(board)
    if b.get("emulated"):
        return board
    emu = EMULATOR_FOR_CPU.get(b["mcpu"])
    if emu is None:
        raise DeviceError(f"{board}: no emulated board runs {b['mcpu']} code (known: {', '.join(EMULATOR_FOR_CPU)})")
    return emu


def _parse(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", text, re.M)}


def probe(model: str | Path | bytes, board: str, ops=None, timeout: float = 120.0) -> ProbeResult:
    """Runs the arena probe for `board` on `model` (a path or the bytes). `ops` builds the probe with only
    those ops and their kernels, as a per-model firmware has them (None: every op). DeviceError when QEMU
    or the toolchain is missing or a step fails on the MCU; ModelError when the runtime rejects the model."""
    if shutil.which(QEMU) is None:
        raise DeviceError(f"{QEMU} not found: install qemu-system-arm (make system-deps)")
    emu = emulator_for(board)
    elf = build_probe(emu, ops=ops, cpu_of=board)
    with tempfile.TemporaryDirectory(prefix="edgeq-probe-") as tmp:
        if isinstance(model, (bytes, bytearray, memoryview)):
            path = Path(tmp) / "model.tflite"
            path.write_bytes(bytes(model))
        else:
            path = Path(model).resolve()
            if not path.is_file():
                raise ModelError(f"{model}: no such model file")
        if " " in str(path) or len(str(path)) > 400:  # the probe's command line splits on spaces
            link = Path(tmp) / "m.tflite"
            os.symlink(path, link)
            path = link
        machine = load_board(emu)["qemu"]
        cmd = [QEMU, "-M", machine["machine"], *machine.get("args", []), "-display", "none", "-monitor", "none",
               "-serial", "none", "-semihosting-config", f"enable=on,target=native,arg=probe,arg={path}",
               "-kernel", str(elf)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{board}: the arena probe did not finish within {timeout:g} s on {emu} "
                              "(a fault resets the core, which then starts over)") from None
    text = r.stdout + r.stderr  # QEMU writes the semihosting console to stderr
    out = _parse(text)
    code = out.get("exit", r.returncode)
    if code != 0 or "arena_bytes" not in out:
        step = STEPS.get(code, f"exit code {code}")
        label = model if isinstance(model, (str, Path)) else "<model bytes>"
        why = re.search(r"^status_text=(.*)$", text, re.M)
        op = out.get("error_op", 0) - 1
        where = f" at op {op}" if op >= 0 else ""
        if why and code in (3, 4, 6):  # the runtime rejected the model: the same verdict as on the board
            raise ModelError(f"{label}: runtime_c on {board} ({emu}) failed at {step}{where}: {why.group(1)}")
        detail = why.group(1) if why else text.strip()[-300:]
        raise DeviceError(f"{label}: arena probe for {board} on {emu} failed at {step}{where} "
                          f"(QEMU exit {r.returncode}): {detail}")
    return ProbeResult(board, emu, out["model_bytes"], out["arena_bytes"], out["arena_used"], out["init_one_less"],
                       out["outputs_fnv1a"], out["stack_bytes"])


def arena_on_board(model: str | Path | bytes, board: str) -> int:
    """The exact arena bytes runtime_c needs for `model` on `board`'s CPU (measured by the probe)."""
    return probe(model, board).arena_bytes


def arena_capacity(board: str) -> int:
    """Arena bytes the runner firmware offers on `board`: RAM after .data, .bss and the stack (read from
    the firmware image's __arena_start / __arena_end)."""
    elf = build_firmware(board)
    r = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True)
    sym = {m.group(2): int(m.group(1), 16) for m in re.finditer(r"^([0-9a-f]+) \w (__arena_(?:start|end))$", r.stdout, re.M)}
    return sym["__arena_end"] - sym["__arena_start"]
