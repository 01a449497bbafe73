"""edgeq generate: the generated C compiles with runtime_c's sources (gcc -std=c99 -Wall -Werror), runs, and
gives edgeq.runtime's outputs on the same input with exactly the arena it declares; the model array holds the
file's bytes; the files also compile for a Cortex-M4 (arm-none-eabi-gcc, compile only)."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeq.analyze import analyze
from edgeq.cli import app
from edgeq.codegen import c_name, generate
from edgeq.errors import EdgeqError
from edgeq.introspect import RUNTIME_DIR, ref_sources
from edgeq.runtime import Interpreter
from tool_models import small_cnn

MAIN_C = r"""
#include <stdio.h>
#include "%(name)s_model.h"

/* stdin: the input bytes; stdout: the output bytes; stderr: the arena actually used. */
int main(void) {
  eq_interp it;
  eq_tensor_info in, out;
  eq_status st = %(name)s_init(&it);
  if (st != EQ_OK) {
    fprintf(stderr, "init failed: %%s at op %%d\n", eq_strerror(st), (int)eq_error_op(&it));
    return 1;
  }
  if (eq_input(&it, 0, &in) != EQ_OK || in.bytes != %(NAME)s_INPUT0_BYTES) return 2;
  if (fread(in.data, 1, in.bytes, stdin) != in.bytes) return 3;
  if (eq_invoke(&it) != EQ_OK) return 4;
  if (eq_output(&it, 0, &out) != EQ_OK || out.bytes != %(NAME)s_OUTPUT0_BYTES) return 5;
  fwrite(out.data, 1, out.bytes, stdout);
  fprintf(stderr, "%%lu\n", (unsigned long)eq_arena_used(&it));
  return 0;
}
"""


@pytest.fixture(scope="module")
def runtime_objects(tmp_path_factory) -> list[Path]:
    """runtime_c's reference build (the firmware configuration) compiled once for every test here."""
    out = tmp_path_factory.mktemp("runtime_obj")
    objs = []
    for i, src in enumerate(ref_sources()):
        objs.append(out / f"{i:03d}_{src.stem}.o")
    procs = [subprocess.Popen(["gcc", "-std=c99", "-Wall", "-Werror", "-O1", "-I", RUNTIME_DIR / "include",
                               "-I", RUNTIME_DIR / "src", "-I", RUNTIME_DIR / "kernels", "-c", src, "-o", obj])
             for src, obj in zip(ref_sources(), objs)]
    assert all(p.wait() == 0 for p in procs)
    return objs


def _build_and_run(model: bytes, out_dir: Path, name: str, objs: list[Path], x: np.ndarray) -> tuple[bytes, int]:
    paths = generate(model, out_dir, name=name)
    main = out_dir / "main.c"
    main.write_text(MAIN_C % {"name": name, "NAME": name.upper()})
    exe = out_dir / "app"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-O1", "-I", RUNTIME_DIR / "include", "-I", out_dir,
                    paths[0], paths[2], main, *objs, "-o", exe, "-lm"], check=True, capture_output=True, text=True)
    r = subprocess.run([exe], input=x.tobytes(), capture_output=True, check=True)
    return r.stdout, int(r.stderr.decode().strip())


def test_generated_firmware_matches_runtime(tmp_path, runtime_objects):
    model = small_cnn(0)
    x = np.random.default_rng(4).integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    out, used = _build_and_run(model, tmp_path, "cnn", runtime_objects, x)
    (want,) = Interpreter(model).run(x)
    assert np.frombuffer(out, np.int8).reshape(want.shape).tolist() == want.tolist()
    assert used == analyze(model).ref.arena_bytes  # the declared arena is exactly what init used


def test_files_and_macros(tmp_path):
    model = small_cnn(1)
    paths = generate(model, tmp_path / "fw", name="cnn")
    assert [p.name for p in paths] == ["cnn_model.c", "cnn_model.h", "cnn_init.c"]
    c, h, init = (p.read_text() for p in paths)
    # the array: 16 bytes a line, 16-byte aligned, exactly the model's bytes, sha256 in the header comment
    lines = re.findall(r"^  (0x.*)$", c, re.M)
    assert all(len(ln.split()) == 16 for ln in lines[:-1]) and 1 <= len(lines[-1].split()) <= 16
    assert bytes(int(v.rstrip(","), 16) for ln in lines for v in ln.split()) == model
    assert "EDGEQ_ALIGN16 = {" in c and hashlib.sha256(model).hexdigest() in c
    assert f"{len(model)} bytes" in c.splitlines()[0]

    def macro(name):
        m = re.search(rf"^#define {name} (.+?)(?: /\*.*)?$", h, re.M)
        assert m, name
        return m.group(1)

    assert macro("CNN_ARENA_BYTES") == f"{analyze(model).ref.arena_bytes}u"
    it = Interpreter(model)
    (i0,), (o0,) = it.inputs, it.outputs
    assert macro("CNN_INPUT0_DIMS") == "{1, 8, 8, 3}" and macro("CNN_OUTPUT0_DIMS") == "{1, 10}"
    assert macro("CNN_INPUT0_TYPE") == "9" and macro("CNN_INPUT0_BYTES") == "192"
    assert np.float32(macro("CNN_INPUT0_SCALE").rstrip("f")) == np.float32(i0.scale)
    assert int(macro("CNN_INPUT0_ZERO_POINT")) == i0.zero_point
    assert np.float32(macro("CNN_OUTPUT0_SCALE").rstrip("f")) == np.float32(o0.scale)
    assert int(macro("CNN_OUTPUT0_ZERO_POINT")) == o0.zero_point == -128
    assert "eq_status cnn_init(eq_interp *it);" in h
    assert "static uint8_t cnn_arena[CNN_ARENA_BYTES] EDGEQ_ALIGN16;" in init and "eq_model_load" in init


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
def test_compiles_for_cortex_m4(tmp_path):
    paths = generate(small_cnn(0), tmp_path, name="cnn")
    for src in (paths[0], paths[2]):
        r = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Werror", "-O2", "-mcpu=cortex-m4", "-mthumb",
                            "-I", RUNTIME_DIR / "include", "-I", tmp_path, "-c", src, "-o", src.with_suffix(".o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    sizes = subprocess.run(["arm-none-eabi-size", "-A", paths[0].with_suffix(".o")], capture_output=True, text=True)
    assert re.search(r"^\.rodata\s+(\d+)", sizes.stdout, re.M), sizes.stdout  # the model lives in flash


def test_names_and_errors(tmp_path):
    assert c_name("kws-ref model.v2") == "kws_ref_model_v2"
    assert c_name("1st") == "m_1st" and c_name("int") == "m_int" and c_name("--") == "model"
    src = tmp_path / "My Model-int8.tflite"
    src.write_bytes(small_cnn(0))
    paths = generate(src, tmp_path / "out")
    assert paths[0].name == "my_model_int8_model.c" and "MY_MODEL_INT8_ARENA_BYTES" in paths[1].read_text()
    (tmp_path / "file").write_text("x")
    with pytest.raises(EdgeqError, match="not a folder"):
        generate(src, tmp_path / "file")


def test_cli_generate(tmp_path):
    src = tmp_path / "cnn.tflite"
    src.write_bytes(small_cnn(0))
    r = CliRunner().invoke(app, ["generate", str(src), "-o", str(tmp_path / "fw"), "--name", "net"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "fw" / "net_model.c").exists() and f"{analyze(src).ref.arena_bytes:,}" in r.stdout
    r = CliRunner().invoke(app, ["generate", str(tmp_path / "missing.tflite"), "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and not (tmp_path / "x").exists()


def test_mlperf_kws_firmware(zoo, tmp_path, runtime_objects):
    model = (zoo / "mlperf_tiny" / "kws_ref_model.tflite").read_bytes()
    it = Interpreter(model)
    x = np.random.default_rng(0).integers(-128, 128, it.inputs[0].shape, dtype=np.int8)
    out, used = _build_and_run(model, tmp_path, "kws", runtime_objects, x)
    (want,) = it.run(x)
    assert np.frombuffer(out, np.int8).tolist() == want.ravel().tolist()
    assert used == analyze(model).ref.arena_bytes


# A bare Cortex-M4 image for QEMU's mps2-an386: vector table (initial SP, reset = newlib's semihosting crt0),
# code and constants in flash at 0, data and the arena in RAM at 0x20000000; printf goes out by semihosting.
M4_VECTORS = """
extern void _start(void);
__attribute__((section(".vectors"), used)) void (*const vectors[2])(void) = {(void (*)(void))0x20400000, _start};
void _init(void) {}
void _fini(void) {}
"""
M4_LD = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
ENTRY(_start)
SECTIONS {
  .vectors : { KEEP(*(.vectors)) } > FLASH
  .text : { *(.text*) *(.rodata*) . = ALIGN(4); } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  .init_array : { PROVIDE(__init_array_start = .); KEEP(*(.init_array*)) PROVIDE(__init_array_end = .); } > FLASH
  .fini_array : { PROVIDE(__fini_array_start = .); KEEP(*(.fini_array*)) PROVIDE(__fini_array_end = .); } > FLASH
  .preinit_array : { PROVIDE(__preinit_array_start = .); PROVIDE(__preinit_array_end = .); } > FLASH
  .data : { *(.data*) } > RAM
  .bss : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(8); __bss_end__ = .; } > RAM
  end = .; __end__ = .;
}
"""
M4_MAIN = r"""
#include <stdio.h>
#include "cnn_model.h"
int main(void) {
  eq_interp it;
  eq_tensor_info in, out;
  eq_status st = cnn_init(&it);
  printf("init %d used %lu\n", (int)st, (unsigned long)eq_arena_used(&it));
  if (st != EQ_OK) return 1;
  eq_input(&it, 0, &in);
  for (size_t i = 0; i < in.bytes; i++) ((int8_t *)in.data)[i] = (int8_t)(i * 37 + 11);
  if (eq_invoke(&it) != EQ_OK) return 2;
  eq_output(&it, 0, &out);
  printf("out");
  for (size_t i = 0; i < out.bytes; i++) printf(" %d", ((int8_t *)out.data)[i]);
  printf("\n");
  return 0;
}
"""
_CRT0 = Path("/usr/lib/arm-none-eabi/newlib/thumb/v7e-m/nofp/rdimon-crt0.o")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None
                    or not _CRT0.exists(), reason="arm-none-eabi-gcc, newlib or qemu-system-arm is not installed")
def test_runs_on_emulated_cortex_m4(tmp_path):
    """The generated files linked with runtime_c's reference build run on a Cortex-M4 (QEMU mps2-an386) and
    give the host runtime's outputs; the 32-bit build needs at most the declared arena (its interpreter
    tables hold 4-byte pointers, so it needs a little less)."""
    model = small_cnn(0)
    paths = generate(model, tmp_path, name="cnn")
    for name, text in (("vectors.c", M4_VECTORS), ("m4.ld", M4_LD), ("main.c", M4_MAIN)):
        (tmp_path / name).write_text(text)
    elf = tmp_path / "app.elf"
    r = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft",
                        "--specs=rdimon.specs", "-nostartfiles", "-T", tmp_path / "m4.ld",
                        "-I", RUNTIME_DIR / "include", "-I", RUNTIME_DIR / "src", "-I", RUNTIME_DIR / "kernels",
                        "-I", tmp_path, tmp_path / "vectors.c", tmp_path / "main.c", paths[0], paths[2],
                        *ref_sources(), _CRT0, "-o", elf, "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor", "none",
                        "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", elf],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    init, out = r.stdout.strip().splitlines()
    used = int(init.split()[-1])
    assert init.startswith("init 0 ") and 0 < used <= analyze(model).ref.arena_bytes
    x = ((np.arange(192) * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8).reshape(1, 8, 8, 3)
    (want,) = Interpreter(model).run(x)
    assert [int(v) for v in out.split()[1:]] == want.ravel().tolist()
