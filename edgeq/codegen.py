"""C sources that put an INT8 .tflite into firmware with runtime_c.

    paths = generate("kws_int8.tflite", "out/", name="kws")
    # out/kws_model.c  the model bytes: a 16-byte-aligned const uint8_t array (lives in flash)
    # out/kws_model.h  extern array and length, KWS_ARENA_BYTES, input/output shapes, types, scales, zero points
    # out/kws_init.c   a static arena of KWS_ARENA_BYTES and kws_init(): eq_model_load + eq_init

KWS_ARENA_BYTES is the arena runtime_c's reference-kernel build (the microcontroller configuration) needs
for this model. Without a board it is measured on this host: exact for 64-bit builds, an upper bound for
32-bit ones (the interpreter's tables hold pointers, so a Cortex-M needs a little less). With
board="qemu-an386" (or any board in boards/) it is the exact figure for that board's CPU, measured by the
arena probe (edgeq.device.probe). Files are written atomically.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from .errors import EdgeqError, ModelError
from .introspect import RuntimeView

TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 6: "BOOL", 7: "INT16", 9: "INT8"}
_C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
               "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
               "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
               "volatile", "while"}


def c_name(text: str) -> str:
    """A lower-case C identifier from a file stem or user name ("kws-ref model" -> "kws_ref_model")."""
    s = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower() or "model"
    if s[0].isdigit() or s in _C_KEYWORDS:
        s = "m_" + s
    return s


def _float_literal(x: float) -> str:
    r = repr(float(np.float32(x)))
    return (r if ("." in r or "e" in r) else r + ".0") + "f"


def _byte_lines(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        lines.append("  " + " ".join(f"0x{b:02x}," for b in data[i:i + 16]))
    return "\n".join(lines)


def _comment(text: str) -> str:
    """Text that cannot end or break a C comment."""
    return " ".join(text.replace("*/", "* /").split())


def _io_macros(prefix: str, kind: str, k: int, t) -> list[str]:
    p = f"{prefix}_{kind}{k}"
    dims = ", ".join(str(d) for d in t.shape)
    elements = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    return [
        f"/* {kind.lower()} {k} '{_comment(t.name)}': {TYPE_NAMES.get(t.type, t.type)} [{dims}] */",
        f"#define {p}_INDEX {t.index} /* tensor index in the model */",
        f"#define {p}_TYPE {t.type} /* TFLite TensorType: {TYPE_NAMES.get(t.type, '?')} */",
        f"#define {p}_NDIM {len(t.shape)}",
        f"#define {p}_DIMS {{{dims}}}",
        f"#define {p}_ELEMENTS {elements}",
        f"#define {p}_BYTES {t.bytes}",
        f"#define {p}_SCALE {_float_literal(t.scale)}",
        f"#define {p}_ZERO_POINT {t.zero_point}",
    ]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def generate(model: str | Path | bytes, out_dir: str | Path, name: str | None = None, board: str | None = None,
             arena_bytes: int | None = None) -> list[Path]:
    """Writes <name>_model.c, <name>_model.h and <name>_init.c into out_dir (created if missing); returns
    their paths. `name` defaults to the model file's stem. `board`: <NAME>_ARENA_BYTES is the exact arena
    on that board (arena_bytes, when the caller has already measured it with edgeq.device.probe)."""
    if isinstance(model, (str, Path)):
        source = Path(model).name
        try:
            data = Path(model).read_bytes()
        except OSError as e:
            raise ModelError(f"{model}: cannot read model ({e.strerror})") from None
    else:
        data, source = bytes(model), "<model bytes>"
    name = c_name(name or (Path(model).stem if isinstance(model, (str, Path)) else "model"))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EdgeqError(f"{out}: exists and is not a folder")
    view = RuntimeView(data, "ref", str(model) if isinstance(model, (str, Path)) else source)
    if board is not None and arena_bytes is None:
        from .device.probe import arena_on_board

        arena_bytes = arena_on_board(data, board)
    if board is None:
        arena_bytes = view.arena_bytes
        arena_note = ("exact for a 64-bit\n * build; a 32-bit microcontroller needs at most this, a few percent less: "
                      "its tables hold 4-byte pointers.\n * `edgeq generate --board NAME` writes the exact figure "
                      "for a board)")
        where = "runtime_c's reference kernels"
    else:
        arena_note = f"exact on {board}: eq_init\n * succeeds with it and fails with one byte less on that CPU)"
        where = f"runtime_c's reference kernels on {board}"
    out.mkdir(parents=True, exist_ok=True)
    up = name.upper()
    sha = hashlib.sha256(data).hexdigest()
    ins = [view.tensor(i) for i in view.inputs]
    outs = [view.tensor(i) for i in view.outputs]
    header = f"{name}_model.h"
    banner = (f"/* Generated by edgeq generate from {_comment(source)}: {len(data)} bytes, sha256 {sha}.\n"
              f" * Arena with {where}: {arena_bytes} bytes. Do not edit. */\n")

    guard = f"{up}_MODEL_H"
    io = [m for k, t in enumerate(ins) for m in _io_macros(up, "INPUT", k, t) + [""]]
    io += [m for k, t in enumerate(outs) for m in _io_macros(up, "OUTPUT", k, t) + [""]]
    h_text = f"""{banner}#ifndef {guard}
#define {guard}

#include <stddef.h>
#include <stdint.h>

#include "edgeq.h"

/* The model array and the arena must be 16-byte aligned; define EDGEQ_ALIGN16 for other compilers. */
#ifndef EDGEQ_ALIGN16
#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM) || defined(__ICCARM__)
#define EDGEQ_ALIGN16 __attribute__((aligned(16)))
#else
#error "define EDGEQ_ALIGN16 to this compiler's 16-byte alignment attribute"
#endif
#endif

#define {up}_MODEL_BYTES {len(data)}u
/* Bytes eq_init needs: runtime_c with reference kernels, as measured by `edgeq analyze` ({arena_note} */
#define {up}_ARENA_BYTES {arena_bytes}u
#define {up}_NUM_INPUTS {len(ins)}
#define {up}_NUM_OUTPUTS {len(outs)}

{chr(10).join(io)}
extern const uint8_t {name}_model[{len(data)}];
extern const size_t {name}_model_len;

/* Loads the model in place and prepares `it` on a static arena of {up}_ARENA_BYTES ({name}_init.c).
 * Returns EQ_OK, or the status of the step that failed; then eq_error_op(it) names the op at fault. */
eq_status {name}_init(eq_interp *it);

#endif
"""
    c_text = f"""{banner}#include "{header}"

const uint8_t {name}_model[{len(data)}] EDGEQ_ALIGN16 = {{
{_byte_lines(data)}
}};
const size_t {name}_model_len = {len(data)};
"""
    init_text = f"""{banner}#include "{header}"

static uint8_t {name}_arena[{up}_ARENA_BYTES] EDGEQ_ALIGN16;
static eq_model {name}_model_handle;

/* Typical use:
 *   eq_interp it;
 *   eq_tensor_info in, out;
 *   eq_status st = {name}_init(&it);
 *   if (st != EQ_OK) report(eq_strerror(st), eq_error_op(&it));
 *   eq_input(&it, 0, &in);   fill in.data ({up}_INPUT0_BYTES bytes)
 *   eq_invoke(&it);
 *   eq_output(&it, 0, &out); read out.data */
eq_status {name}_init(eq_interp *it) {{
  eq_status st = eq_model_load(&{name}_model_handle, {name}_model, {name}_model_len);
  if (st != EQ_OK) {{
    (void)eq_init(it, NULL, NULL, 0); /* leaves `it` empty, so eq_error_op(it) is -1 */
    return st;
  }}
  return eq_init(it, &{name}_model_handle, {name}_arena, sizeof {name}_arena);
}}
"""
    paths = [out / f"{name}_model.c", out / header, out / f"{name}_init.c"]
    for p, text in zip(paths, (c_text, h_text, init_text)):
        _write(p, text)
    return paths
