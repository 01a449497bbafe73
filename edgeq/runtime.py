"""Host binding of runtime_c (cffi, ABI mode) with numpy in/out.

    it = Interpreter("model_int8.tflite")      # or the model's bytes; arena sized exactly
    y, = it.run(x)                              # one numpy array per model output
    it.inputs[0].shape, it.outputs[0].scale, it.arena_bytes, it.profile(x)

The shared library is runtime_c/build/host/libedgeq.so; it is (re)built with `make -C runtime_c host`
when missing or older than the C sources. C error codes become edgeq.errors exceptions naming the
model and, when known, the op at fault.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cffi import FFI

from edgeq.errors import ModelError, RuntimeFailure, UnsupportedError

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime_c"
LIB_PATH = RUNTIME_DIR / "build" / "host" / "libedgeq.so"
ARENA_ALIGN = 16
MAX_ARENA = 1 << 30  # the largest arena the binding will try when sizing one

_CDEF = """
typedef enum {
  EQ_OK = 0, EQ_ERR_ARGUMENT, EQ_ERR_MODEL, EQ_ERR_VERSION, EQ_ERR_UNSUPPORTED_OP, EQ_ERR_UNSUPPORTED_TYPE,
  EQ_ERR_SHAPE, EQ_ERR_QUANT, EQ_ERR_ARENA_TOO_SMALL, EQ_ERR_LIMIT, EQ_ERR_STATE
} eq_status;
const char *eq_strerror(eq_status status);
typedef struct eq_model {
  const uint8_t *buf; size_t size;
  size_t opcodes, tensors, operators, buffers, inputs, outputs;
  int32_t n_opcodes, n_tensors, n_ops, n_buffers, n_inputs, n_outputs;
} eq_model;
eq_status eq_model_load(eq_model *model, const void *data, size_t size);
struct eq_ctx;
typedef struct eq_interp { struct eq_ctx *ctx; int32_t error_op; int32_t error_builtin; } eq_interp;
eq_status eq_arena_size(const eq_model *model, void *work, size_t work_bytes, size_t *bytes);
eq_status eq_init(eq_interp *it, const eq_model *model, void *arena, size_t arena_bytes);
size_t eq_arena_used(const eq_interp *it);
typedef struct {
  int32_t index; int32_t type; int32_t ndim; int32_t dims[6]; float scale; int32_t zero_point;
  void *data; size_t bytes; const char *name;
} eq_tensor_info;
int32_t eq_input_count(const eq_interp *it);
int32_t eq_output_count(const eq_interp *it);
eq_status eq_input(const eq_interp *it, int32_t i, eq_tensor_info *info);
eq_status eq_output(const eq_interp *it, int32_t i, eq_tensor_info *info);
eq_status eq_invoke(eq_interp *it);
typedef void (*eq_op_hook)(void *user, int32_t op_index, int32_t builtin, int32_t done);
void eq_set_op_hook(eq_interp *it, eq_op_hook hook, void *user);
int32_t eq_op_count(const eq_interp *it);
int32_t eq_op_builtin(const eq_interp *it, int32_t op_index);
const char *eq_op_name(int32_t builtin);
int32_t eq_error_op(const eq_interp *it);
int32_t eq_error_builtin(const eq_interp *it);
"""

# TFLite TensorType -> numpy dtype
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16,
          9: np.int8}

ffi = FFI()
ffi.cdef(_CDEF)
_lib = None


def _sources_newer_than(target: Path) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    patterns = ("include/*.h", "src/**/*.[ch]", "kernels/**/*.[ch]", "Makefile")
    return any(p.stat().st_mtime > built for pat in patterns for p in RUNTIME_DIR.glob(pat))


def build_library() -> Path:
    """Runs `make -C runtime_c host` (serialized across processes) when the library is stale."""
    LIB_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LIB_PATH.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _sources_newer_than(LIB_PATH):
            # Link to a private name and rename: a process that dlopens the library meanwhile gets the old
            # file or the new one, never one half written ("file too short"). The rule reuses the Makefile's
            # objects (second expansion: HOST_OBJ is only known once the Makefile has been read).
            tmp = LIB_PATH.with_name(f".{LIB_PATH.name}.{os.getpid()}.tmp")
            rel = tmp.relative_to(RUNTIME_DIR)
            rule = f"{rel}: $$(HOST_OBJ) ; $(CC) -shared -o $@ $^ -lm"
            r = subprocess.run(["make", "-s", "-C", str(RUNTIME_DIR), "--eval=.SECONDEXPANSION:", f"--eval={rule}",
                                str(rel)], capture_output=True, text=True)
            if r.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise RuntimeFailure(f"building runtime_c failed: {(r.stderr or r.stdout).strip()[-2000:]}")
            os.replace(tmp, LIB_PATH)
    return LIB_PATH


def lib():
    """The loaded runtime_c library (built first when needed)."""
    global _lib
    if _lib is None:
        _lib = ffi.dlopen(str(build_library()))
    return _lib


def _aligned(nbytes: int):
    """Zeroed C memory of nbytes at an ARENA_ALIGN boundary: (owner, pointer)."""
    owner = ffi.new("uint8_t[]", max(nbytes, 1) + ARENA_ALIGN)
    addr = int(ffi.cast("uintptr_t", owner))
    return owner, owner + (-addr % ARENA_ALIGN)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int
    index: int


_MODEL_ERRORS = {"EQ_ERR_MODEL", "EQ_ERR_VERSION", "EQ_ERR_SHAPE", "EQ_ERR_QUANT", "EQ_ERR_LIMIT"}
_UNSUPPORTED = {"EQ_ERR_UNSUPPORTED_OP", "EQ_ERR_UNSUPPORTED_TYPE"}


class Interpreter:
    """runtime_c interpreter over one model, with its own arena (exactly sized unless arena_bytes)."""

    def __init__(self, model: str | Path | bytes | bytearray | memoryview, arena_bytes: int | None = None):
        L = lib()
        if isinstance(model, (str, Path)):
            self.source = str(model)
            try:
                data = Path(model).read_bytes()
            except OSError as e:
                raise ModelError(f"{model}: cannot read model ({e.strerror})") from None
        else:
            self.source = "<model bytes>"
            data = bytes(model)
        # The C side uses constants in place: keep an aligned copy alive as long as the interpreter.
        self._model_owner, self._model_ptr = _aligned(len(data))
        ffi.memmove(self._model_ptr, data, len(data))
        self._model = ffi.new("eq_model *")
        self._it = ffi.new("eq_interp *")
        self._check(L.eq_model_load(self._model, self._model_ptr, len(data)), "loading")
        self.required_arena_bytes = self._measure_arena()
        self.arena_bytes = self.required_arena_bytes if arena_bytes is None else int(arena_bytes)
        self._arena_owner, self._arena = _aligned(self.arena_bytes)
        self._check(L.eq_init(self._it, self._model, self._arena, self.arena_bytes), "initialising")
        self._in = [self._info(L.eq_input, i) for i in range(L.eq_input_count(self._it))]
        self._out = [self._info(L.eq_output, i) for i in range(L.eq_output_count(self._it))]
        self.inputs = [t for t, _, _ in self._in]
        self.outputs = [t for t, _, _ in self._out]
        self.op_names = [self._op_name(L.eq_op_builtin(self._it, i)) for i in range(L.eq_op_count(self._it))]

    # -- setup ---------------------------------------------------------------------------------------
    def _measure_arena(self) -> int:
        """eq_arena_size's dry run, done with eq_init on growing scratch memory so that a failure keeps
        the op at fault in the handle."""
        L = lib()
        size = 1 << 18
        while True:
            owner, ptr = _aligned(size)
            st = L.eq_init(self._it, self._model, ptr, size)
            used = int(L.eq_arena_used(self._it))
            self._it.ctx = ffi.NULL
            del owner
            if st != L.EQ_ERR_ARENA_TOO_SMALL or size >= MAX_ARENA:
                self._check(st, "planning")
                return used
            size = min(size * 4, MAX_ARENA)

    def _info(self, getter, i: int):
        info = ffi.new("eq_tensor_info *")
        self._check(getter(self._it, i, info), "querying tensors")
        dtype = DTYPES.get(info.type)
        if dtype is None:
            raise UnsupportedError(f"{self.source}: model input/output of TFLite type {info.type} is not supported")
        shape = tuple(int(info.dims[d]) for d in range(info.ndim))
        t = TensorInfo(ffi.string(info.name).decode("utf-8", "replace"), shape, np.dtype(dtype),
                       float(info.scale), int(info.zero_point), int(info.index))
        return t, info.data, int(info.bytes)

    @staticmethod
    def _op_name(builtin: int) -> str:
        name = ffi.string(lib().eq_op_name(builtin)).decode()
        return name if name != "UNKNOWN" else f"builtin operator {builtin}"

    def _check(self, status: int, what: str, it=None) -> None:
        if status == 0:
            return
        L = lib()
        it = self._it if it is None else it
        msg = ffi.string(L.eq_strerror(status)).decode()
        op = L.eq_error_op(it) if it.ctx != ffi.NULL or it.error_op >= 0 else -1
        where = f" at op {op} ({self._op_name(L.eq_error_builtin(it))})" if op >= 0 else ""
        text = f"{self.source}: runtime_c {what} failed{where}: {msg}"
        code = ffi.string(ffi.cast("eq_status", status))
        if code in _UNSUPPORTED:
            raise UnsupportedError(text)
        if code in _MODEL_ERRORS and what != "running":
            raise ModelError(text)
        raise RuntimeFailure(text)

    # -- running -------------------------------------------------------------------------------------
    def _set_inputs(self, xs) -> None:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        if len(xs) != len(self._in):
            raise RuntimeFailure(f"{self.source}: the model takes {len(self._in)} input(s), got {len(xs)}")
        for k, ((t, ptr, nbytes), x) in enumerate(zip(self._in, xs)):
            a = np.asarray(x)
            if a.size != int(np.prod(t.shape, dtype=np.int64)):
                raise RuntimeFailure(f"{self.source}: input {k} '{t.name}' expects shape {t.shape}, got {a.shape}")
            if a.dtype != t.dtype:
                ok = (np.issubdtype(a.dtype, np.integer) and np.issubdtype(t.dtype, np.integer)
                      and (a.size == 0 or (a.min() >= np.iinfo(t.dtype).min and a.max() <= np.iinfo(t.dtype).max)))
                ok = ok or (np.issubdtype(t.dtype, np.floating) and np.issubdtype(a.dtype, np.floating))
                if not ok:
                    raise RuntimeFailure(f"{self.source}: input {k} '{t.name}' expects {t.dtype}, got {a.dtype}")
            a = np.ascontiguousarray(a, dtype=t.dtype)
            ffi.memmove(ptr, ffi.from_buffer(a), nbytes)

    def _get_outputs(self) -> list[np.ndarray]:
        return [np.frombuffer(ffi.buffer(ptr, nbytes), dtype=t.dtype).reshape(t.shape).copy()
                for t, ptr, nbytes in self._out]

    def run(self, *xs) -> list[np.ndarray]:
        """Runs the model on one array per input (or one list of them); returns one array per output."""
        self._set_inputs(xs)
        self._check(lib().eq_invoke(self._it), "running")
        return self._get_outputs()

    def profile(self, *xs) -> list[tuple[int, str, float]]:
        """Runs once with the per-op hook: (op index, op name, seconds) for every op in order."""
        self._set_inputs(xs)
        L = lib()
        times: list[tuple[int, str, float]] = []
        start = [0]

        @ffi.callback("void(void *, int32_t, int32_t, int32_t)")
        def hook(user, index, builtin, done):
            if not done:
                start[0] = time.perf_counter_ns()
            else:
                times.append((int(index), self.op_names[index], (time.perf_counter_ns() - start[0]) * 1e-9))

        L.eq_set_op_hook(self._it, hook, ffi.NULL)
        try:
            self._check(L.eq_invoke(self._it), "running")
        finally:
            L.eq_set_op_hook(self._it, ffi.cast("eq_op_hook", 0), ffi.NULL)
        return times

    def __repr__(self) -> str:
        ops = len(getattr(self, "op_names", []))
        return f"Interpreter({self.source!r}, ops={ops}, arena_bytes={getattr(self, 'arena_bytes', None)})"
