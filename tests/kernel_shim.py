"""A cffi view of the conv / depthwise / fully connected kernels of runtime_c, every variant side by side,
for the SIMD-vs-reference tests and tools/bench_kernels.py. Builds one shared library from the kernel
sources (reference, x86 variants, dispatch) with gcc, cached by the sources' content."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import cffi
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "runtime_c" / "kernels"
BUILD = ROOT / "runtime_c" / "build" / "kernel_shim"
REF_SOURCES = ("conv2d_s8.c", "depthwise_conv2d_s8.c", "fully_connected_s8.c")
VARIANTS = ("ref", "avx2", "avx512vnni")

CDEF = """
typedef struct { int32_t n, h, w, c; } eq_shape4;
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier;
  int32_t input_offset, output_offset, act_min, act_max;
} eq_conv_params;
typedef struct { const int32_t *multiplier; const int32_t *shift; } eq_channel_quant;
typedef struct { int32_t input_offset, filter_offset, output_offset, act_min, act_max; } eq_fc_params;
typedef void conv_fn(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                     const eq_shape4 *, const int8_t *, const int32_t *, const eq_shape4 *, int8_t *, void *);
typedef size_t scratch_fn(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
typedef void fc_fn(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                   const int8_t *, const int8_t *, const int32_t *, int8_t *);
typedef struct {
  const char *isa;
  conv_fn *conv2d_s8;
  conv_fn *depthwise_conv2d_s8;
  fc_fn *fully_connected_s8;
  scratch_fn *conv2d_s8_scratch_size;
  scratch_fn *depthwise_conv2d_s8_scratch_size;
} eq_kernel_table;
const eq_kernel_table *eq_kernels(void);
const eq_kernel_table *eq_kernels_select(const char *isa);
"""


def sources(ref_dir: Path | None = None) -> list[Path]:
    ref_dir = ref_dir or KERNELS / "ref"
    return ([ref_dir / f for f in REF_SOURCES] + sorted((KERNELS / "x86").glob("*.c")) + [KERNELS / "dispatch.c"])


def missing_sources(ref_dir: Path | None = None) -> list[str]:
    return [str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in sources(ref_dir) if not p.exists()]


class Kernels:
    """The compiled kernels. `table(isa)` is the cdata table of a variant, None when this CPU lacks it."""

    def __init__(self, ref_dir: Path | None = None, cflags: tuple[str, ...] = ("-O2",)):
        srcs = sources(ref_dir)
        headers = sorted(KERNELS.glob("*.h")) + sorted(KERNELS.glob("*/*.h"))
        h = hashlib.sha256(" ".join(cflags).encode())
        for p in srcs + headers:
            h.update(p.read_bytes())
        BUILD.mkdir(parents=True, exist_ok=True)
        lib = BUILD / f"libeqkernels_{h.hexdigest()[:16]}.so"
        if not lib.exists():
            tmp = lib.with_suffix(".tmp")
            cmd = ["gcc", "-std=c99", "-shared", "-fPIC", *cflags, "-Wall", "-Wextra", "-Werror",
                   "-I", str(KERNELS), "-I", str(KERNELS / "ref"), "-o", str(tmp), *map(str, srcs)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"building the kernel shim failed:\n{' '.join(cmd)}\n{r.stderr}")
            tmp.rename(lib)
        self.ffi = cffi.FFI()
        self.ffi.cdef(CDEF)
        self.lib = self.ffi.dlopen(str(lib))

    def table(self, isa: str):
        t = self.lib.eq_kernels_select(isa.encode())
        return None if t == self.ffi.NULL else t

    def default_isa(self) -> str:
        return self.ffi.string(self.lib.eq_kernels().isa).decode()

    # -- calls with numpy arrays -------------------------------------------------------------------
    def _ptr(self, ctype: str, a: np.ndarray | None):
        return self.ffi.NULL if a is None else self.ffi.cast(ctype, a.ctypes.data)

    def _quant(self, mult: np.ndarray, shift: np.ndarray):
        q = self.ffi.new("eq_channel_quant *")
        q.multiplier = self._ptr("int32_t *", mult)
        q.shift = self._ptr("int32_t *", shift)
        return q

    def conv(self, isa: str, depthwise: bool, params: dict, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
             mult: np.ndarray, shift: np.ndarray, out_shape: tuple[int, int, int, int]) -> np.ndarray:
        """x [n, h, w, c] int8, w [c_out, kh, kw, c_in] (depthwise: [1, kh, kw, c_out]); returns the output."""
        t = self.table(isa)
        p = self.ffi.new("eq_conv_params *", params)
        s_in = self.ffi.new("eq_shape4 *", x.shape)
        s_f = self.ffi.new("eq_shape4 *", w.shape)
        s_out = self.ffi.new("eq_shape4 *", out_shape)
        size_fn = t.depthwise_conv2d_s8_scratch_size if depthwise else t.conv2d_s8_scratch_size
        scratch = np.full(size_fn(p, s_in, s_f, s_out) + 16, 0x5A, np.uint8)  # junk, as a reused arena holds
        out = np.zeros(out_shape, np.int8)
        fn = t.depthwise_conv2d_s8 if depthwise else t.conv2d_s8
        # offset by 16 bytes: the arena only promises 16-byte alignment
        fn(p, self._quant(mult, shift), s_in, self._ptr("int8_t *", x), s_f, self._ptr("int8_t *", w),
           self._ptr("int32_t *", bias), s_out, self._ptr("int8_t *", out),
           self.ffi.cast("void *", scratch.ctypes.data + 16))
        return out

    def fully_connected(self, isa: str, params: dict, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                        mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """x [batches, in_depth] int8, w [out_depth, in_depth] int8; returns [batches, out_depth]."""
        t = self.table(isa)
        p = self.ffi.new("eq_fc_params *", params)
        out = np.zeros((x.shape[0], w.shape[0]), np.int8)
        t.fully_connected_s8(p, self._quant(mult, shift), x.shape[0], x.shape[1], w.shape[0],
                             self._ptr("int8_t *", x), self._ptr("int8_t *", w), self._ptr("int32_t *", bias),
                             self._ptr("int8_t *", out))
        return out
