"""runtime_c seen from the inside, for the tools (`edgeq analyze`, `edgeq compare`, `edgeq generate`).

    v = RuntimeView(model_bytes, variant="ref")   # "host": the variant this CPU runs; "ref": scalar kernels
    v.arena_bytes, v.layout(), v.tensor(3), v.op_io(0), v.op_scratch(0)
    outs, per_op = v.run_capture([x])              # every op's outputs, copied as each op finishes

Two builds of the same C sources back it. "host" is edgeq.runtime's library (kernels chosen at load time
from CPU features). "ref" is built here with the scalar reference dispatcher and no x86 kernels: the
configuration a microcontroller build compiles, so its arena figure is the one firmware should reserve
(measured with this host's pointer width; see `ref_library`). Both expose runtime_c/include/
edgeq_introspect.h, which reads the interpreter's own tables.
"""
from __future__ import annotations

import fcntl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cffi import FFI

from . import runtime
from .errors import EdgeqError, ModelError, RuntimeFailure, UnsupportedError

RUNTIME_DIR = runtime.RUNTIME_DIR
REF_LIB_PATH = RUNTIME_DIR / "build" / "ref" / "libedgeq_ref.so"
VARIANTS = ("host", "ref")

_CDEF = runtime._CDEF + """
const char *eq_kernel_isa(void);
typedef struct { size_t total; size_t head; size_t planned_peak; size_t planner_temp; size_t persistent; }
  eq_arena_layout_info;
eq_status eq_arena_layout(const eq_interp *it, eq_arena_layout_info *layout);
int32_t eq_tensor_count(const eq_interp *it);
eq_status eq_tensor_at(const eq_interp *it, int32_t index, eq_tensor_info *info);
int32_t eq_tensor_is_const(const eq_interp *it, int32_t index);
int32_t eq_op_io_count(const eq_interp *it, int32_t op, int32_t is_output);
int32_t eq_op_io(const eq_interp *it, int32_t op, int32_t is_output, int32_t k);
eq_status eq_op_output(const eq_interp *it, int32_t op, int32_t k, eq_tensor_info *info);
size_t eq_op_scratch_bytes(const eq_interp *it, int32_t op);
"""

ffi = FFI()
ffi.cdef(_CDEF)
_libs: dict[str, object] = {}


def ref_sources() -> list[Path]:
    """The C files of a reference-kernel build: everything but the per-ISA dispatcher and x86 kernels."""
    pats = ("src/*.c", "src/ops/*.c", "kernels/ref/*.c")
    return sorted(p for pat in pats for p in RUNTIME_DIR.glob(pat))


def _stale(target: Path) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    pats = ("include/*.h", "src/**/*.[ch]", "kernels/*.h", "kernels/ref/*.[ch]")
    return any(p.stat().st_mtime > built for pat in pats for p in RUNTIME_DIR.glob(pat))


def ref_library() -> Path:
    """Builds runtime_c with reference kernels only (when stale) into build/ref/libedgeq_ref.so.

    Its arena figure is exact for a 64-bit reference build; a 32-bit microcontroller needs at most that
    many bytes (its interpreter tables hold 4-byte pointers)."""
    REF_LIB_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(REF_LIB_PATH.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stale(REF_LIB_PATH):
            tmp = REF_LIB_PATH.with_suffix(".so.tmp")
            # -Bsymbolic: calls inside this library stay inside it even when the host library (same
            # symbol names) is loaded in the same process.
            cmd = ["gcc", "-std=c99", "-O1", "-fPIC", "-shared", "-Wl,-Bsymbolic", "-Iinclude", "-Isrc",
                   "-Ikernels", *[str(p.relative_to(RUNTIME_DIR)) for p in ref_sources()], "-o", str(tmp), "-lm"]
            r = subprocess.run(cmd, cwd=RUNTIME_DIR, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeFailure(f"building runtime_c (ref) failed: {(r.stderr or r.stdout).strip()[-2000:]}")
            tmp.replace(REF_LIB_PATH)
    return REF_LIB_PATH


def lib(variant: str = "host"):
    """The loaded runtime_c library of a variant ("host" or "ref"), built first when needed."""
    if variant not in VARIANTS:
        raise EdgeqError(f"unknown runtime variant {variant!r} (choose from {', '.join(VARIANTS)})")
    if variant not in _libs:
        path = runtime.build_library() if variant == "host" else ref_library()
        _libs[variant] = ffi.dlopen(str(path))
    return _libs[variant]


def kernel_isa(variant: str = "host") -> str:
    """The kernel variant a library runs: "ref", "avx2", "avx512vnni", ..."""
    return ffi.string(lib(variant).eq_kernel_isa()).decode()


def op_name(builtin: int, variant: str = "host") -> str:
    name = ffi.string(lib(variant).eq_op_name(builtin)).decode()
    return name if name != "UNKNOWN" else f"builtin operator {builtin}"


def _aligned(nbytes: int):
    owner = ffi.new("uint8_t[]", max(nbytes, 1) + runtime.ARENA_ALIGN)
    addr = int(ffi.cast("uintptr_t", owner))
    return owner, owner + (-addr % runtime.ARENA_ALIGN)


def status_name(status: int) -> str:
    return ffi.string(ffi.cast("eq_status", status))


@dataclass(frozen=True)
class TensorView:
    index: int
    name: str
    type: int            # TFLite TensorType value
    shape: tuple[int, ...]
    scale: float         # first channel's value for per-channel tensors; 0 when unquantized
    zero_point: int
    bytes: int
    is_const: bool

    @property
    def dtype(self):
        return np.dtype(runtime.DTYPES[self.type]) if self.type in runtime.DTYPES else None


@dataclass(frozen=True)
class ArenaLayout:
    total: int          # what eq_init needs (== eq_arena_size)
    head: int           # planned region
    planned_peak: int   # highest end of any planned activation/scratch buffer
    planner_temp: int   # the planner's own temporaries (the head is at least this)
    persistent: int     # interpreter tables and op constants at the tail


_UNSUPPORTED = {"EQ_ERR_UNSUPPORTED_OP", "EQ_ERR_UNSUPPORTED_TYPE"}
_MODEL = {"EQ_ERR_MODEL", "EQ_ERR_VERSION", "EQ_ERR_SHAPE", "EQ_ERR_QUANT", "EQ_ERR_LIMIT"}


class RuntimeView:
    """One model initialised in runtime_c (variant "host" or "ref") on an exactly sized arena."""

    MAX_ARENA = runtime.MAX_ARENA

    def __init__(self, model: bytes | str | Path, variant: str = "host", label: str | None = None):
        if isinstance(model, (str, Path)):
            label = label or str(model)
            try:
                model = Path(model).read_bytes()
            except OSError as e:
                raise ModelError(f"{model}: cannot read model ({e.strerror})") from None
        self.label = label or "<model bytes>"
        self.variant = variant
        self.L = lib(variant)
        self.isa = kernel_isa(variant)
        self._model_owner, self._model_ptr = _aligned(len(model))
        ffi.memmove(self._model_ptr, model, len(model))
        self._model = ffi.new("eq_model *")
        self._it = ffi.new("eq_interp *")
        self._check(self.L.eq_model_load(self._model, self._model_ptr, len(model)), "loading")
        self.arena_bytes = self._measure()
        self._arena_owner, self._arena = _aligned(self.arena_bytes)
        self._check(self.L.eq_init(self._it, self._model, self._arena, self.arena_bytes), "initialising")
        self.n_ops = int(self.L.eq_op_count(self._it))
        self.n_tensors = int(self.L.eq_tensor_count(self._it))
        self.inputs = [int(self._io_info(self.L.eq_input, i).index) for i in range(self.L.eq_input_count(self._it))]
        self.outputs = [int(self._io_info(self.L.eq_output, i).index)
                        for i in range(self.L.eq_output_count(self._it))]

    # -- setup -------------------------------------------------------------------------------------------
    def _measure(self) -> int:
        """eq_arena_size on growing work memory (a failure leaves the op at fault in the handle)."""
        size = 1 << 16
        while True:
            owner, ptr = _aligned(size)
            st = self.L.eq_init(self._it, self._model, ptr, size)
            used = int(self.L.eq_arena_used(self._it))
            self._it.ctx = ffi.NULL
            del owner
            if status_name(st) != "EQ_ERR_ARENA_TOO_SMALL" or size >= self.MAX_ARENA:
                self._check(st, "planning")
                return used
            size = min(size * 4, self.MAX_ARENA)

    def _check(self, st: int, what: str) -> None:
        if st == 0:
            return
        name = status_name(st)
        msg = ffi.string(self.L.eq_strerror(st)).decode()
        op = int(self.L.eq_error_op(self._it))
        where = f" at op {op} ({op_name(int(self.L.eq_error_builtin(self._it)), self.variant)})" if op >= 0 else ""
        text = f"{self.label}: runtime_c {what} failed{where}: {msg}"
        if name in _UNSUPPORTED:
            raise UnsupportedError(text)
        if name in _MODEL and what != "running":
            raise ModelError(text)
        raise RuntimeFailure(text)

    def _io_info(self, getter, i):
        info = ffi.new("eq_tensor_info *")
        self._check(getter(self._it, i, info), "querying tensors")
        return info

    # -- queries -----------------------------------------------------------------------------------------
    def layout(self) -> ArenaLayout:
        lay = ffi.new("eq_arena_layout_info *")
        self._check(self.L.eq_arena_layout(self._it, lay), "querying the arena")
        return ArenaLayout(int(lay.total), int(lay.head), int(lay.planned_peak), int(lay.planner_temp),
                           int(lay.persistent))

    def tensor(self, index: int) -> TensorView:
        info = ffi.new("eq_tensor_info *")
        self._check(self.L.eq_tensor_at(self._it, index, info), "querying tensors")
        return TensorView(index, ffi.string(info.name).decode("utf-8", "replace"), int(info.type),
                          tuple(int(info.dims[d]) for d in range(info.ndim)), float(info.scale),
                          int(info.zero_point), int(info.bytes), self.L.eq_tensor_is_const(self._it, index) == 1)

    def op_builtin(self, op: int) -> int:
        return int(self.L.eq_op_builtin(self._it, op))

    def op_name(self, op: int) -> str:
        return op_name(self.op_builtin(op), self.variant)

    def op_io(self, op: int) -> tuple[list[int], list[int]]:
        """(input tensor indices with -1 for absent ones, output tensor indices)."""
        ins = [int(self.L.eq_op_io(self._it, op, 0, k)) for k in range(self.L.eq_op_io_count(self._it, op, 0))]
        outs = [int(self.L.eq_op_io(self._it, op, 1, k)) for k in range(self.L.eq_op_io_count(self._it, op, 1))]
        return ins, outs

    def op_scratch(self, op: int) -> int:
        return int(self.L.eq_op_scratch_bytes(self._it, op))

    # -- running -----------------------------------------------------------------------------------------
    def _write_inputs(self, xs) -> None:
        if len(xs) != len(self.inputs):
            raise RuntimeFailure(f"{self.label}: the model takes {len(self.inputs)} input(s), got {len(xs)}")
        for i, x in enumerate(xs):
            info = self._io_info(self.L.eq_input, i)
            t = self.tensor(int(info.index))
            a = np.ascontiguousarray(np.asarray(x).reshape(t.shape), dtype=t.dtype)
            ffi.memmove(info.data, ffi.from_buffer(a), int(info.bytes))

    def _read(self, info, t: TensorView) -> np.ndarray:
        return np.frombuffer(ffi.buffer(info.data, int(info.bytes)), dtype=t.dtype).reshape(t.shape).copy()

    def run_capture(self, xs) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Runs once; returns the model outputs and {tensor index: array} of every op output, each copied
        inside the op hook right after its op finished (later ops may reuse the buffer)."""
        self._write_inputs(xs)
        captured: dict[int, np.ndarray] = {}
        info = ffi.new("eq_tensor_info *")
        views = {}

        @ffi.callback("void(void *, int32_t, int32_t, int32_t)")
        def hook(user, op, builtin, done):
            if not done:
                return
            for k in range(self.L.eq_op_io_count(self._it, op, 1)):
                if self.L.eq_op_output(self._it, op, k, info) != 0:
                    continue
                idx = int(info.index)
                t = views.get(idx) or views.setdefault(idx, self.tensor(idx))
                if t.dtype is not None:
                    captured[idx] = self._read(info, t)

        self.L.eq_set_op_hook(self._it, hook, ffi.NULL)
        try:
            self._check(self.L.eq_invoke(self._it), "running")
        finally:
            self.L.eq_set_op_hook(self._it, ffi.cast("eq_op_hook", 0), ffi.NULL)
        outs = []
        for i in range(len(self.outputs)):
            oi = self._io_info(self.L.eq_output, i)
            outs.append(self._read(oi, self.tensor(int(oi.index))))
        return outs, captured


def init_status(model: bytes, arena_bytes: int, variant: str = "host") -> str:
    """eq_init's status name ("EQ_OK", "EQ_ERR_ARENA_TOO_SMALL", ...) on an arena of exactly arena_bytes:
    how tests prove a figure is exact without trusting the figure's own code path."""
    L = lib(variant)
    m_owner, m_ptr = _aligned(len(model))
    ffi.memmove(m_ptr, model, len(model))
    model_s = ffi.new("eq_model *")
    st = L.eq_model_load(model_s, m_ptr, len(model))
    if st != 0:
        return status_name(st)
    a_owner, a_ptr = _aligned(arena_bytes)
    it = ffi.new("eq_interp *")
    return status_name(L.eq_init(it, model_s, a_ptr, arena_bytes))
