"""A cffi view of the kernels of runtime_c (conv / depthwise / fully connected, their prepare-time weight
packing, and the elementwise table), every variant side by side, for the SIMD-vs-reference tests and
tools/bench_kernels.py. Builds one shared library from the kernel sources (every reference kernel, x86
variants, dispatch) with gcc, cached by the sources' content; the tests of other kernel families build
their own small libraries the same way (x86_library), and share the case helpers at the end."""
from __future__ import annotations

import hashlib
import math
import os
import subprocess
from pathlib import Path

import cffi
import numpy as np
import pytest
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "runtime_c" / "kernels"
BUILD = ROOT / "runtime_c" / "build" / "kernel_shim"
REF_SOURCES = ("conv2d_s8.c", "depthwise_conv2d_s8.c", "fully_connected_s8.c")
VARIANTS = ("ref", "avx2", "avx512vnni")
SIMD = VARIANTS[1:]

# The conv / depthwise / fully connected layers of the MLPerf Tiny int8 models in execution order, all with
# SAME padding: ("conv", h, w, c_in, c_out, kh, kw, stride), ("dw", h, w, c, stride) (3x3, multiplier 1),
# ("fc", in_depth, out_depth). Input zero point -128 except where a fourth field of fc says otherwise.
_VWW_TAIL = [("dw", 6, 6, 128, 1), ("conv", 6, 6, 128, 128, 1, 1, 1)] * 5
MLPERF_LAYERS = {
    "vww": [("conv", 96, 96, 3, 8, 3, 3, 2), ("dw", 48, 48, 8, 1), ("conv", 48, 48, 8, 16, 1, 1, 1),
            ("dw", 48, 48, 16, 2), ("conv", 24, 24, 16, 32, 1, 1, 1), ("dw", 24, 24, 32, 1),
            ("conv", 24, 24, 32, 32, 1, 1, 1), ("dw", 24, 24, 32, 2), ("conv", 12, 12, 32, 64, 1, 1, 1),
            ("dw", 12, 12, 64, 1), ("conv", 12, 12, 64, 64, 1, 1, 1), ("dw", 12, 12, 64, 2),
            ("conv", 6, 6, 64, 128, 1, 1, 1)] + _VWW_TAIL +
           [("dw", 6, 6, 128, 2), ("conv", 3, 3, 128, 256, 1, 1, 1), ("dw", 3, 3, 256, 1),
            ("conv", 3, 3, 256, 256, 1, 1, 1), ("fc", 256, 2)],
    "resnet8": [("conv", 32, 32, 3, 16, 3, 3, 1), ("conv", 32, 32, 16, 16, 3, 3, 1), ("conv", 32, 32, 16, 16, 3, 3, 1),
                ("conv", 32, 32, 16, 32, 3, 3, 2), ("conv", 16, 16, 32, 32, 3, 3, 1), ("conv", 32, 32, 16, 32, 1, 1, 2),
                ("conv", 16, 16, 32, 64, 3, 3, 2), ("conv", 8, 8, 64, 64, 3, 3, 1), ("conv", 16, 16, 32, 64, 1, 1, 2),
                ("fc", 64, 10)],
    "kws": [("conv", 49, 10, 1, 64, 10, 4, 2)] + [("dw", 25, 5, 64, 1), ("conv", 25, 5, 64, 64, 1, 1, 1)] * 4 +
           [("fc", 64, 12)],
    "ad": [("fc", 640, 128, 89)] + [("fc", 128, 128)] * 3 + [("fc", 128, 8), ("fc", 8, 128)] +
          [("fc", 128, 128)] * 3 + [("fc", 128, 640)],
}


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """Output size and top/left padding of TFLite's SAME padding."""
    out = -(-size // stride)
    return out, max((out - 1) * stride + k - size, 0) // 2


def layer_case(layer: tuple, rng: np.random.Generator):
    """Random int8 operands for one MLPERF_LAYERS entry: (kind, params, x, w, bias, mult, shift, out_shape)."""
    kind = layer[0]
    if kind == "fc":
        k, n = layer[1], layer[2]
        in_zp = layer[3] if len(layer) > 3 else -128
        params = dict(input_offset=-in_zp, filter_offset=0, output_offset=-5, act_min=-128, act_max=127)
        x = rng.integers(-128, 128, (1, k), dtype=np.int8)
        w = rng.integers(-127, 128, (n, k), dtype=np.int8)
        fan_in, n_out, out_shape = k, n, None
    else:
        if kind == "conv":
            h, wd, cin, cout, kh, kw, s = layer[1:]
        else:
            h, wd, cin, s = layer[1:]
            cout, kh, kw = cin, 3, 3
        (oh, ph), (ow, pw) = same_padding(h, kh, s), same_padding(wd, kw, s)
        params = dict(stride_h=s, stride_w=s, dilation_h=1, dilation_w=1, pad_h=ph, pad_w=pw, depth_multiplier=1,
                      input_offset=128, output_offset=-128, act_min=-128, act_max=127)
        x = rng.integers(-128, 128, (1, h, wd, cin), dtype=np.int8)
        w = rng.integers(-127, 128, (1, kh, kw, cout) if kind == "dw" else (cout, kh, kw, cin), dtype=np.int8)
        fan_in, n_out, out_shape = kh * kw * (1 if kind == "dw" else cin), cout, (1, oh, ow, cout)
    bias = rng.integers(-20000, 20000, n_out, dtype=np.int32)
    scale = 60.0 / (np.sqrt(fan_in) * 128 * 70) * 2.0 ** rng.uniform(-1, 1, n_out)
    m, e = np.frexp(scale)
    mult = np.minimum(np.round(m * 2**31), 2**31 - 1).astype(np.int32)
    return kind, params, x, w, bias, mult, e.astype(np.int32), out_shape


def layer_call(kernels: "Kernels", isa: str, case):
    """(callable, output) for a layer_case on a variant."""
    kind, params, x, w, bias, mult, shift, out_shape = case
    if kind == "fc":
        return kernels.fully_connected_call(isa, params, x, w, bias, mult, shift)
    return kernels.conv_call(isa, kind == "dw", params, x, w, bias, mult, shift, out_shape)

# The parameter structs of kernels/eq_kernels.h and eq_kernels_lowbit.h, for every library's cdef.
TYPES_CDEF = """
typedef struct { int32_t n, h, w, c; } eq_shape4;
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier;
  int32_t input_offset, output_offset, act_min, act_max;
} eq_conv_params;
typedef struct { const int32_t *multiplier; const int32_t *shift; } eq_channel_quant;
typedef struct { int32_t input_offset, filter_offset, output_offset, act_min, act_max; } eq_fc_params;
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier;
  float act_min, act_max;
} eq_conv_fparams;
"""

CDEF = TYPES_CDEF + """
typedef void conv_fn(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                     const eq_shape4 *, const int8_t *, const int32_t *, const eq_shape4 *, int8_t *, void *);
typedef size_t scratch_fn(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
typedef void fc_fn(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                   const int8_t *, const int8_t *, const int32_t *, int8_t *);
typedef struct eq_conv_pack {
  size_t (*packed_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
  void (*pack)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const eq_shape4 *,
               const int8_t *, const int32_t *, const eq_shape4 *, void *);
  scratch_fn *scratch_size;
  void (*run)(const eq_conv_params *, const eq_shape4 *, const int8_t *, const eq_shape4 *, const void *,
              const eq_shape4 *, int8_t *, void *);
} eq_conv_pack;
typedef struct eq_fc_pack {
  size_t (*packed_size)(const eq_fc_params *, int32_t, int32_t);
  void (*pack)(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, const int8_t *, const int32_t *,
               void *);
  void (*run)(const eq_fc_params *, int32_t, int32_t, int32_t, const int8_t *, const void *, int8_t *);
} eq_fc_pack;

typedef struct { int32_t dims[6]; int32_t stride1[6]; int32_t stride2[6]; } eq_bcast;
typedef struct {
  int32_t left_shift, in1_offset, in1_multiplier, in1_shift, in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift, act_min, act_max;
  const int32_t *in1_table, *in2_table;
} eq_add_params;
typedef struct {
  int32_t left_shift, in1_offset, in1_multiplier, in1_shift, in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift, act_min, act_max;
} eq_sub_params;
typedef struct { int32_t in1_offset, in2_offset, out_offset, out_multiplier, out_shift, act_min, act_max; } eq_mul_params;
typedef struct { int32_t in_zp, out_zp, multiplier, shift, act_min, act_max; } eq_relu_params;
typedef struct { int32_t in_zp, out_zp, multiplier_alpha, shift_alpha, multiplier_identity, shift_identity; }
    eq_leaky_relu_params;
typedef struct { int32_t in_zp, out_zp; int16_t out_multiplier; int32_t out_exponent; int16_t reluish_multiplier;
                 int32_t reluish_exponent; } eq_hard_swish_params;
typedef struct { int32_t stride_h, stride_w, filter_h, filter_w, pad_h, pad_w, act_min, act_max; } eq_pool_params;
typedef void pool_fn(const eq_pool_params *, const eq_shape4 *, const int8_t *, const eq_shape4 *, int8_t *);
struct eq_ew_kernels {
  void (*add_s8)(const eq_add_params *, const int32_t *, const int32_t *, const int32_t *, const int8_t *,
                 const int8_t *, int8_t *);
  int add_s8_wants_tables;
  void (*sub_s8)(const eq_sub_params *, const eq_bcast *, const int8_t *, const int8_t *, int8_t *);
  void (*mul_s8)(const eq_mul_params *, const eq_bcast *, const int8_t *, const int8_t *, int8_t *);
  void (*maximum_s8)(const eq_bcast *, const int8_t *, const int8_t *, int8_t *);
  void (*minimum_s8)(const eq_bcast *, const int8_t *, const int8_t *, int8_t *);
  void (*lut_s8)(const int8_t *, int32_t, const int8_t *, int8_t *);
  void (*relu_s8)(const eq_relu_params *, int32_t, const int8_t *, int8_t *);
  void (*leaky_relu_s8)(const eq_leaky_relu_params *, int32_t, const int8_t *, int8_t *);
  void (*hard_swish_s8)(const eq_hard_swish_params *, int32_t, const int8_t *, int8_t *);
  pool_fn *average_pool_s8;
  pool_fn *max_pool_s8;
};
int eq_bcast_init(eq_bcast *, const int32_t *, int32_t, const int32_t *, int32_t, int32_t *, int32_t *);
void eq_add_s8_tables(const eq_add_params *, int32_t *, int32_t *);

typedef struct {
  const char *isa;
  conv_fn *conv2d_s8;
  conv_fn *depthwise_conv2d_s8;
  fc_fn *fully_connected_s8;
  scratch_fn *conv2d_s8_scratch_size;
  scratch_fn *depthwise_conv2d_s8_scratch_size;
  const eq_conv_pack *conv2d_s8_pack;
  const eq_conv_pack *depthwise_conv2d_s8_pack;
  const eq_fc_pack *fully_connected_s8_pack;
  const struct eq_ew_kernels *ew;
} eq_kernel_table;
const eq_kernel_table *eq_kernels(void);
const eq_kernel_table *eq_kernels_select(const char *isa);
"""


def sources(ref_dir: Path | None = None) -> list[Path]:
    ref_dir = ref_dir or KERNELS / "ref"
    others = sorted(p for p in ref_dir.glob("*.c") if p.name not in REF_SOURCES and p.name != "dispatch_ref.c")
    return ([ref_dir / f for f in REF_SOURCES] + others + sorted((KERNELS / "x86").glob("*.c")) +
            [KERNELS / "dispatch.c"])


def missing_sources(ref_dir: Path | None = None) -> list[str]:
    return [str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in sources(ref_dir) if not p.exists()]


def compile_library(srcs: list[Path], cflags: tuple[str, ...] = ("-O2",), out: Path | None = None) -> Path:
    """One shared library from kernel sources (gcc, warnings as errors): at `out`, or cached under
    runtime_c/build/kernel_shim by the content of the sources, every kernel header and the flags."""
    if out is None:
        h = hashlib.sha256(" ".join(cflags).encode())
        for p in [*srcs, *sorted(KERNELS.glob("*.h")), *sorted(KERNELS.glob("*/*.h"))]:
            h.update(str(p.name).encode())
            h.update(p.read_bytes())
        BUILD.mkdir(parents=True, exist_ok=True)
        out = BUILD / f"libeqkernels_{h.hexdigest()[:16]}.so"
        if out.exists():
            return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # parallel test workers may build the same one
    cmd = ["gcc", "-std=c99", "-shared", "-fPIC", *cflags, "-Wall", "-Wextra", "-Werror",
           "-I", str(KERNELS), "-I", str(KERNELS / "ref"), "-o", str(tmp), *map(str, srcs), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building the kernel shim failed:\n{' '.join(cmd)}\n{r.stderr}")
    tmp.replace(out)
    return out


def load_library(srcs: list[Path], cdef: str, out: Path | None = None):
    """(ffi, lib) of compile_library(srcs) declared by cdef."""
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    return ffi, ffi.dlopen(str(compile_library(srcs, out=out)))


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}


def cpu_runs(isa: str) -> bool:
    """Whether this CPU has what the variant's kernels use ("avx2", "avx512vnni")."""
    need = {"avx2": {"avx2"}, "avx512vnni": {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}}[isa]
    return need <= cpu_flags()


def x86_library(srcs: list[str], cdef: str, isa: str = "avx2"):
    """(ffi, lib) of kernel sources named under runtime_c/kernels, declared by TYPES_CDEF + cdef; a pytest skip
    (with the reason) off x86 or where this CPU lacks the variant."""
    if os.uname().machine not in ("x86_64", "i686"):
        pytest.skip("x86 kernels")
    if not cpu_runs(isa):
        pytest.skip(f"this CPU lacks {isa}: its kernels are not exercised here")
    return load_library([KERNELS / s for s in srcs], TYPES_CDEF + cdef)


class Kernels:
    """The compiled kernels. `table(isa)` is the cdata table of a variant, None when this CPU lacks it."""

    def __init__(self, ref_dir: Path | None = None, cflags: tuple[str, ...] = ("-O2",)):
        lib = compile_library(sources(ref_dir), cflags)
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

    def conv_call(self, isa: str, depthwise: bool, params: dict, x: np.ndarray, w: np.ndarray,
                  bias: np.ndarray | None, mult: np.ndarray, shift: np.ndarray,
                  out_shape: tuple[int, int, int, int]):
        """A zero-argument callable running the kernel once, and the output array it writes.
        x [n, h, w, c] int8, w [c_out, kh, kw, c_in] (depthwise: [1, kh, kw, c_out])."""
        t = self.table(isa)
        p = self.ffi.new("eq_conv_params *", params)
        s_in = self.ffi.new("eq_shape4 *", x.shape)
        s_f = self.ffi.new("eq_shape4 *", w.shape)
        s_out = self.ffi.new("eq_shape4 *", out_shape)
        size_fn = t.depthwise_conv2d_s8_scratch_size if depthwise else t.conv2d_s8_scratch_size
        scratch = np.full(size_fn(p, s_in, s_f, s_out) + 16, 0x5A, np.uint8)  # junk, as a reused arena holds
        out = np.zeros(out_shape, np.int8)
        fn = t.depthwise_conv2d_s8 if depthwise else t.conv2d_s8
        keep = (p, s_in, s_f, s_out, scratch, x, w, bias, mult, shift, q := self._quant(mult, shift))
        # 16 bytes in: the arena only promises 16-byte alignment
        args = (p, q, s_in, self._ptr("int8_t *", x), s_f, self._ptr("int8_t *", w), self._ptr("int32_t *", bias),
                s_out, self._ptr("int8_t *", out), self.ffi.cast("void *", scratch.ctypes.data + 16))

        def run():
            fn(*args)
            return keep
        return run, out

    def conv(self, isa: str, depthwise: bool, params: dict, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
             mult: np.ndarray, shift: np.ndarray, out_shape: tuple[int, int, int, int]) -> np.ndarray:
        run, out = self.conv_call(isa, depthwise, params, x, w, bias, mult, shift, out_shape)
        run()
        return out

    def fully_connected_call(self, isa: str, params: dict, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                             mult: np.ndarray, shift: np.ndarray):
        """A zero-argument callable and its output [batches, out_depth]; x [batches, in_depth],
        w [out_depth, in_depth] int8."""
        t = self.table(isa)
        p = self.ffi.new("eq_fc_params *", params)
        out = np.zeros((x.shape[0], w.shape[0]), np.int8)
        keep = (p, x, w, bias, mult, shift, q := self._quant(mult, shift))
        fn = t.fully_connected_s8
        args = (p, q, x.shape[0], x.shape[1], w.shape[0], self._ptr("int8_t *", x), self._ptr("int8_t *", w),
                self._ptr("int32_t *", bias), self._ptr("int8_t *", out))

        def run():
            fn(*args)
            return keep
        return run, out

    def fully_connected(self, isa: str, params: dict, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                        mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
        run, out = self.fully_connected_call(isa, params, x, w, bias, mult, shift)
        run()
        return out


# ---- pytest fixtures shared by the SIMD-vs-reference tests (import them into the test module) ----

@pytest.fixture(scope="module")
def kernels() -> Kernels:
    missing = missing_sources()
    if missing:
        pytest.skip(f"kernel sources not in the tree yet: {', '.join(missing)}")
    return Kernels()


@pytest.fixture(params=SIMD)
def isa(request, kernels) -> str:
    if kernels.table(request.param) is None:
        pytest.skip(f"this CPU lacks {request.param}: {request.param} kernels not exercised here")
    return request.param


# ---- case helpers shared by the int8 / INT4 SIMD-vs-reference tests (test_simd.py, test_simd_int4.py) ----

def out_size(size: int, k: int, stride: int, dilation: int, pad: int) -> int:
    return (size + 2 * pad - ((k - 1) * dilation + 1)) // stride + 1


def quant(rng: np.random.Generator, channels: int, fan_in: int, per_channel: bool, weight: float = 70,
          spread: float = 3):
    """Multipliers and shifts that put typical accumulators (fan_in products of int8 inputs and weights of
    typical size `weight`) in the int8 range, scales spread over 2^+-spread, now and then an extreme shift:
    the rounding and the clamps are both exercised."""
    n = channels if per_channel else 1
    scale = 60.0 / (math.sqrt(fan_in) * 128 * weight) * 2.0 ** rng.uniform(-spread, spread, n)
    m, e = np.frexp(scale)
    mult = np.minimum(np.round(m * 2**31), 2**31 - 1).astype(np.int64)
    shift = e.astype(np.int64)
    if rng.random() < 0.1:
        shift[rng.integers(n)] = rng.choice([-31, -20, 1, 5])
    if not per_channel:
        mult, shift = np.repeat(mult, channels), np.repeat(shift, channels)
    return mult.astype(np.int32), shift.astype(np.int32)


def draw_window(draw, max_size: int) -> dict:
    """Inside a composite strategy: a filter window (1-5 taps each way), strides, dilations, an input at
    least one window big (up to max_size) and paddings up to the window's span."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers((kh - 1) * dh + 1, max_size))
    w = draw(st.integers((kw - 1) * dw + 1, max_size))
    pad_h, pad_w = draw(st.integers(0, (kh - 1) * dh)), draw(st.integers(0, (kw - 1) * dw))
    return dict(kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, h=h, w=w, pad_h=pad_h, pad_w=pad_w)
