"""x86 INT4 CONV_2D and DEPTHWISE_CONV_2D kernels (kernels/x86/conv2d_s4*.c, depthwise_conv2d_s4*.c) give the
reference kernels' bytes, conv both through the plain kernel (weights repacked into scratch at every call) and
prepared (a 4-bit panel packed once, as the runtime does), depthwise reading the nibbles in place: Hypothesis-drawn shapes (odd and even
filter depths, groups, depth multipliers, strides, dilations, paddings, per-channel and per-tensor
multipliers, input zero points at their limits and past them, clamps), the MLPerf Tiny layer shapes, filters
that end on a page followed by an unreadable one (no read past the packed bytes), and the runtime's arena for
an INT4 conv model on the SIMD build against the reference build (a 4-bit weight panel, no int8 copy)."""
from __future__ import annotations

import ctypes
import mmap
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
import kernel_shim  # noqa: E402
from kernel_shim import cpu_runs, draw_window, out_size  # noqa: E402  (cpu_runs: for tools/bench_kernels_int4.py too)

from edgeq.model.tflite_io import pack_int4  # noqa: E402

KERNELS = Path(__file__).resolve().parent.parent / "runtime_c" / "kernels"
FAST = settings(derandomize=True, deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CDEF = kernel_shim.TYPES_CDEF + """
typedef void conv_s4_fn(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                        const eq_shape4 *, const uint8_t *, const int32_t *, const eq_shape4 *, int8_t *, void *);
typedef void dw_s4_fn(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int8_t *,
                      const eq_shape4 *, const uint8_t *, const int32_t *, const eq_shape4 *, int8_t *);
typedef size_t scratch_fn(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
dw_s4_fn eq_conv2d_s4, eq_depthwise_conv2d_s4, eq_depthwise_conv2d_s4_avx2, eq_depthwise_conv2d_s4_avx512vnni;
conv_s4_fn eq_conv2d_s4_avx2, eq_conv2d_s4_avx512vnni;
scratch_fn eq_conv2d_s4_avx2_scratch_size, eq_conv2d_s4_avx512vnni_scratch_size;
typedef struct {
  size_t (*packed_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
  void (*pack)(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const eq_shape4 *,
               const int8_t *, const int32_t *, const eq_shape4 *, void *);
  size_t (*scratch_size)(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *, const eq_shape4 *);
  void (*run)(const eq_conv_params *, const eq_shape4 *, const int8_t *, const eq_shape4 *, const void *,
              const eq_shape4 *, int8_t *, void *);
} eq_conv_pack;
extern eq_conv_pack eq_conv2d_s4_avx2_pack, eq_conv2d_s4_avx512vnni_pack;  /* const in C */
"""

CONV_VARIANTS = {"avx2": ("eq_conv2d_s4_avx2", "avx2"), "avx512vnni": ("eq_conv2d_s4_avx512vnni", "avx512vnni")}


class S4:
    """The reference and x86 INT4 conv / depthwise kernels in one library (kernel_shim's build: gcc, -Werror),
    in out_dir or kernel_shim's cache."""

    def __init__(self, out_dir: Path | None = None):
        srcs = [KERNELS / "ref" / "conv2d_s4.c", KERNELS / "ref" / "depthwise_conv2d_s4.c",
                *sorted((KERNELS / "x86").glob("conv2d_s4*.c")), *sorted((KERNELS / "x86").glob("depthwise_conv2d_s4*.c"))]
        self.ffi, self.lib = kernel_shim.load_library(srcs, CDEF, out_dir / "libs4conv.so" if out_dir else None)

    def run(self, isa: str, depthwise: bool, params: dict, x: np.ndarray, packed, wshape, bias, mult, shift,
            out_shape, scratch_at=None, prepared: bool = False) -> np.ndarray:
        """One call of a variant ("ref", "avx2", "avx512vnni"); `packed` a uint8 array or a cffi pointer;
        scratch_at(bytes), when given, returns the pointer to use for scratch (and the prepared panel).
        prepared: a conv variant's weights repacked once as the runtime's prepare does (its _pack entry
        points), else the plain kernel, which repacks into scratch at every call."""
        run, out = self.call(isa, depthwise, params, x, packed, wshape, bias, mult, shift, out_shape, scratch_at,
                             prepared)
        run()
        return out

    def call(self, isa: str, depthwise: bool, params: dict, x: np.ndarray, packed, wshape, bias, mult, shift,
             out_shape, scratch_at=None, prepared: bool = False):
        """A zero-argument callable running the kernel once (arguments built once, a prepared panel packed
        once), and its output array."""
        ffi, lib = self.ffi, self.lib
        p = ffi.new("eq_conv_params *", params)
        s_in, s_f, s_out = (ffi.new("eq_shape4 *", tuple(s)) for s in (x.shape, wshape, out_shape))
        q = ffi.new("eq_channel_quant *")
        keep = [ffi.from_buffer("int32_t[]", mult), ffi.from_buffer("int32_t[]", shift)]
        q.multiplier, q.shift = keep
        w = packed if isinstance(packed, ffi.CData) else ffi.from_buffer("uint8_t[]", packed)
        b = ffi.NULL if bias is None else ffi.from_buffer("int32_t[]", bias)
        out = np.zeros(out_shape, np.int8)
        o, xi = ffi.from_buffer("int8_t[]", out), ffi.from_buffer("int8_t[]", x)
        keep += [p, s_in, s_f, s_out, q, w, b, o, xi, x, packed, bias, mult, shift]
        if isa == "ref":
            fn, args = (lib.eq_depthwise_conv2d_s4 if depthwise else lib.eq_conv2d_s4), (p, q, s_in, xi, s_f, w, b, s_out, o)
        elif depthwise:
            fn, args = getattr(lib, f"eq_depthwise_conv2d_s4_{isa}"), (p, q, s_in, xi, s_f, w, b, s_out, o)
        else:
            name = CONV_VARIANTS[isa][0]

            def buffer(size):  # junk, as a reused arena holds; 16-byte aligned only
                if scratch_at:
                    return scratch_at(size)
                keep.append(np.full(size + 16, 0x5A, np.uint8))
                return ffi.cast("void *", keep[-1].ctypes.data + 16)
            pk = getattr(lib, name + "_pack")
            if prepared and pk.packed_size(p, s_in, s_f, s_out):
                panel = buffer(pk.packed_size(p, s_in, s_f, s_out))
                pk.pack(p, q, s_in, s_f, ffi.cast("int8_t *", w), b, s_out, panel)
                fn, args = pk.run, (p, s_in, xi, s_f, panel, s_out, o, buffer(pk.scratch_size(p, s_in, s_f, s_out)))
            else:
                size = getattr(lib, name + "_scratch_size")(p, s_in, s_f, s_out)
                fn, args = getattr(lib, name), (p, q, s_in, xi, s_f, w, b, s_out, o, buffer(size))

        def run():
            fn(*args)
            return keep
        return run, out


@pytest.fixture(scope="module")
def s4() -> S4:
    if os.uname().machine not in ("x86_64", "i686"):
        pytest.skip("x86 kernels")
    return S4()


@pytest.fixture(params=["avx2", "avx512vnni"])
def isa(request) -> str:
    if not cpu_runs(request.param):
        pytest.skip(f"this CPU lacks {request.param}: its INT4 kernels are not exercised here")
    return request.param


def quant(rng: np.random.Generator, channels: int, fan_in: int, per_channel: bool):
    """Multipliers that put typical INT4 accumulators across the int8 range, now and then an extreme shift."""
    return kernel_shim.quant(rng, channels, fan_in, per_channel, weight=5, spread=2)


@st.composite
def conv_shapes(draw, depthwise: bool):
    window = draw_window(draw, 13)
    if depthwise:
        cin, groups, per_group = draw(st.integers(1, 40)), 1, 0
        dm = draw(st.sampled_from([1, 1, 1, 2, 3]))
        cout = cin * dm
    else:
        groups = draw(st.sampled_from([1, 1, 1, 1, 2, 3]))
        cin = groups * draw(st.integers(1, 70 // groups))
        per_group = draw(st.integers(1, 40 // groups + 1))
        cout, dm = groups * per_group, 1
    return dict(window, n=draw(st.integers(1, 2)), cin=cin, cout=cout, groups=groups, depthwise=depthwise, dm=dm)


def conv_case(seed: int, n, h, w, cin, cout, groups, kh, kw, sh, sw, dh, dw, pad_h, pad_w, depthwise, dm):
    rng = np.random.default_rng(seed)
    oh, ow = out_size(h, kh, sh, dh, pad_h), out_size(w, kw, sw, dw, pad_w)
    in_zp = int(rng.choice([-128, 127, *rng.integers(-128, 128, 4)]))
    if rng.random() < 0.05:
        in_zp = int(rng.choice([-300, 200]))  # beyond int8: the variants hand it to the reference
    out_zp = int(rng.integers(-128, 128))
    kind = rng.integers(4)
    lo, hi = ((-128, 127) if kind < 2 else (max(out_zp, -128), 127) if kind == 2
              else tuple(int(v) for v in sorted(rng.integers(-128, 128, 2))))
    if rng.random() < 0.03:
        lo, hi = -200, 300  # a clamp beyond int8: the reference again
    params = dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=pad_h, pad_w=pad_w,
                  depth_multiplier=dm if depthwise else 1, input_offset=-in_zp, output_offset=out_zp,
                  act_min=lo, act_max=hi)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    wshape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin // groups)
    wt = rng.integers(-8, 8, wshape, dtype=np.int8)
    if rng.random() < 0.1:
        wt[...] = rng.choice([-8, 7])  # every weight at an end of the range
    bias = rng.integers(-3000, 3000, cout, dtype=np.int32) if rng.random() < 0.85 else None
    if bias is not None and rng.random() < 0.05:
        bias[:] = rng.choice([2**31 - 1, -2**31])  # the int32 bias add wraps as in the reference
    fan_in = kh * kw * (1 if depthwise else cin // groups)
    mult, shift = quant(rng, cout, fan_in, per_channel=rng.random() < 0.8)
    return params, x, wt, bias, mult, shift, (n, oh, ow, cout)


def check(s4, isa, depthwise, case):
    """The variant's bytes equal the reference's; conv both through the plain kernel and prepared."""
    params, x, wt, bias, mult, shift, oshape = case
    packed = pack_int4(wt)
    ref = s4.run("ref", depthwise, params, x, packed, wt.shape, bias, mult, shift, oshape)
    for prepared in (False,) if depthwise else (False, True):
        got = s4.run(isa, depthwise, params, x, packed, wt.shape, bias, mult, shift, oshape, prepared=prepared)
        assert got.tobytes() == ref.tobytes(), f"{isa} prepared={prepared} {params} in {x.shape} filter {wt.shape}"
    return ref


@FAST
@given(shape=conv_shapes(depthwise=False), seed=st.integers(0, 2**32 - 1))
def test_conv2d_s4_matches_ref(s4, isa, shape, seed):
    check(s4, isa, False, conv_case(seed, **shape))


@FAST
@given(shape=conv_shapes(depthwise=True), seed=st.integers(0, 2**32 - 1))
def test_depthwise_conv2d_s4_matches_ref(s4, isa, shape, seed):
    check(s4, isa, True, conv_case(seed, **shape))


@FAST
@given(shape=conv_shapes(depthwise=True), cin=st.sampled_from([1, 2, 4, 8]), seed=st.integers(0, 2**32 - 1))
def test_narrow_depthwise_s4_matches_ref(s4, isa, shape, cin, seed):
    """Few-channel depthwise layers with stride 1 across (the AVX-512 twin puts several pixels in a vector)."""
    shape = dict(shape, cin=cin, cout=cin, dm=1, sw=1)
    check(s4, isa, True, conv_case(seed, **shape))


def test_deep_and_wide_cases(s4, isa):
    """Depths past the 16 KB im2col block (one pixel a block), odd depths around 16 / 32 / 64-tap chunk
    edges, many channels, and depthwise at its 64-tap limit and past it (reference fallback)."""
    rng = np.random.default_rng(5)
    for cin, kh, cout in ((1024, 3, 12), (1023, 3, 7), (15, 1, 33), (17, 1, 9), (31, 1, 5), (33, 1, 64), (63, 1, 3),
                          (65, 1, 4), (3, 3, 130)):
        shape = dict(n=1, h=5, w=4, cin=cin, cout=cout, groups=1, kh=kh, kw=kh, sh=1, sw=1, dh=1, dw=1,
                     pad_h=kh // 2, pad_w=kh // 2, depthwise=False, dm=1)
        check(s4, isa, False, conv_case(int(rng.integers(2**31)), **shape))
    for k in (8, 9):  # 64 taps, then 81 (reference)
        shape = dict(n=1, h=10, w=10, cin=13, cout=26, groups=1, kh=k, kw=k, sh=1, sw=1, dh=1, dw=1,
                     pad_h=k // 2, pad_w=k // 2, depthwise=True, dm=2)
        check(s4, isa, True, conv_case(int(rng.integers(2**31)), **shape))


MLPERF = sorted({layer for layers in kernel_shim.MLPERF_LAYERS.values() for layer in layers if layer[0] != "fc"},
                key=str)


@pytest.mark.parametrize("layer", MLPERF, ids=lambda t: "_".join(map(str, t)))
def test_mlperf_layer_shapes_int4(s4, isa, layer):
    """The conv and depthwise layer shapes of the MLPerf Tiny models with INT4 weights."""
    rng = np.random.default_rng(len(str(layer)))
    kind, params, x, w8, _, _, _, oshape = kernel_shim.layer_case(layer, rng)
    params["output_offset"] = 0  # outputs on both sides of zero, not half clamped at -128
    wt = rng.integers(-8, 8, w8.shape, dtype=np.int8)
    bias = rng.integers(-3000, 3000, oshape[-1], dtype=np.int32)
    mult, shift = quant(rng, oshape[-1], int(np.prod(w8.shape[1:])) if kind == "conv" else 9, per_channel=True)
    ref = check(s4, isa, kind == "dw", (params, x, wt, bias, mult, shift, oshape))
    assert ((ref > -128) & (ref < 127)).mean() > 0.3, "outputs mostly clamped: the case checks little"


def guarded(s4, data: np.ndarray, align: int = 1):
    """The bytes copied to the end of a page followed by a PROT_NONE page (kept alive by the returned
    owner), the copy's start aligned down to `align` (the arena aligns scratch to 16 and rounds its size
    to 16): any access more than align - 1 bytes past them faults."""
    page = mmap.PAGESIZE
    span = (len(data) + align - 1) // align * align
    size = (span + page - 1) // page * page
    buf = mmap.mmap(-1, size + page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    assert libc.mprotect(base + size, page, 0) == 0, os.strerror(ctypes.get_errno())
    start = size - span
    buf[start:start + len(data)] = data.tobytes()
    return buf, s4.ffi.cast("uint8_t *", base + start)


def in_child(fn):
    """fn() in a forked child (a fault there fails the test instead of killing the test process)."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=lambda: send.send(fn()))
    child.start()
    send.close()
    try:
        result = recv.recv()
    except EOFError:
        result = None
    child.join()
    assert child.exitcode == 0, f"the kernel died with signal {-child.exitcode}: it read past the packed filter"
    return result


@pytest.mark.parametrize("cout,k,cin", [(1, 1, 1), (3, 3, 3), (5, 1, 7), (7, 3, 5), (2, 1, 33), (9, 3, 3), (16, 1, 8)])
def test_no_read_past_the_filter(s4, isa, cout, k, cin):
    """Whole-vector weight loads near the filter's end stop at its last byte (odd and even nibble counts),
    and the conv kernels touch nothing past the scratch and the prepared panel they asked for."""
    rng = np.random.default_rng(cout * 100 + k * 10 + cin)
    for depthwise, prepared in ((False, False), (False, True), (True, False)):
        shape = dict(n=1, h=4, w=4, cin=cin, cout=cin if depthwise else cout, groups=1, kh=k, kw=k, sh=1, sw=1,
                     dh=1, dw=1, pad_h=k // 2, pad_w=k // 2, depthwise=depthwise, dm=1)
        params, x, wt, bias, mult, shift, oshape = conv_case(int(rng.integers(2**31)), **shape)
        params.update(input_offset=5, act_min=-128, act_max=127)  # the vector path
        packed = pack_int4(wt)
        owner, ptr = guarded(s4, packed)
        owners = []

        def scratch_at(size):
            owners.append(guarded(s4, np.full(size, 0x5A, np.uint8), align=16))
            return s4.ffi.cast("void *", owners[-1][1])
        ref = s4.run("ref", depthwise, params, x, packed, wt.shape, bias, mult, shift, oshape)
        got = in_child(lambda: s4.run(isa, depthwise, params, x, ptr, wt.shape, bias, mult, shift, oshape, scratch_at,
                                      prepared))
        assert got is not None and got.tobytes() == ref.tobytes(), (depthwise, prepared, cout, k, cin)
        del ptr
        owner.close()


# ------------------------------------------------------------------------------- runtime: dispatch, arena

def int4_conv_model(kind: str = "conv", cin: int = 64, cout: int = 64, hw: int = 16):
    """A one-op INT4 CONV_2D (3x3 SAME) or DEPTHWISE_CONV_2D model, per-channel weights in [-7, 7]."""
    from test_ops_lowbit import as_int4, build

    rng = np.random.default_rng(17)
    L = dict(kind=kind, rng=rng, act="RELU", per_channel=True, batch=1, bias=True, h=hw, w=hw, cin=cin, kh=3, kw=3,
             padding="SAME", stride=(1, 1), dil=(1, 1), oh=hw, ow=hw)
    L.update(dict(fcin=cin, cout=cout) if kind == "conv" else dict(mult=1, cout=cin))
    model8, x = build(L, "int8", 7, "int32", in_zp=-3, out_zp=-128)
    return as_int4(model8, "filter"), model8, x


def test_host_arena_holds_no_weight_copy():
    """The SIMD build's arena for an INT4 conv model exceeds the reference build's (a microcontroller's)
    by the kernel's im2col scratch (at most 20 KiB), its weight panel (the filter repacked at prepare, still
    4 bits a weight: here exactly the model's 18 KiB of packed INT4, as 576 taps and 64 channels need no
    padding) with 16 bytes of constants a channel, and the op records the host build caches (as for any
    model): no int8 (or int16) copy of the weights, which alone would be 36 KiB here. Depthwise adds
    nothing INT4-specific (the same difference as its int8 twin model). Both give LiteRT's bytes."""
    from onemodel import run_reference

    from edgeq import runtime
    from edgeq.introspect import RuntimeView

    if os.environ.get("EDGEQ_ISA") == "ref":
        pytest.skip("this process runs the reference kernels on the host build too")
    model4, model8, x = int4_conv_model("conv")
    host, ref = RuntimeView(model4, "host"), RuntimeView(model4, "ref")
    if host.isa == "ref":
        pytest.skip("no x86 SIMD variant on this machine")
    weights, channels = 64 * 3 * 3 * 64, 64
    scratch = host.op_scratch(0)
    assert 0 < scratch <= 20 * 1024 < weights
    panel = weights // 2 + 16 * channels  # the 4-bit panel and the per-channel constants
    extra = host.layout().persistent - ref.layout().persistent  # panel, its 64-byte alignment, op records
    assert panel <= extra < panel + 64 + 1024 < weights, (host.isa, extra)
    assert host.arena_bytes - ref.arena_bytes <= scratch + extra, (host.isa, host.arena_bytes, ref.arena_bytes)
    (want,) = run_reference(model4, x)
    (got,) = runtime.Interpreter(model4).run(x)
    assert np.asarray(got).tobytes() == want.tobytes()

    dw4, dw8, xd = int4_conv_model("dw", cin=96)
    host, ref = RuntimeView(dw4, "host"), RuntimeView(dw4, "ref")
    assert host.op_scratch(0) == 0
    assert host.arena_bytes - ref.arena_bytes == RuntimeView(dw8, "host").arena_bytes - RuntimeView(dw8, "ref").arena_bytes
    (want,) = run_reference(dw4, xd)
    (got,) = runtime.Interpreter(dw4).run(xd)
    assert np.asarray(got).tobytes() == want.tobytes()
