"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED beyond int8 x int8 in runtime_c: 16x8 (int16 activations,
int8 weights, int64 or int32 bias) and packed INT4 weights (int8 activations), on random one-op models,
byte for byte against LiteRT's reference kernels (BUILTIN_REF runs all three ops with INT4 filters by
unpacking them, and all three in 16x8). INT4 models are also checked against the int8 model on the
unpacked weights, which is the same arithmetic. Hypothesis runs derandomized (fixed cases)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import cffi
import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel_shim import cpu_flags
from onemodel import build_op_model, run_reference, spec

from edgeq import runtime
from edgeq.model.tflite_io import pack_int4

CASES = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


class AlignedBuilder(flatbuffers.Builder):
    """Buffer data aligned to 16 bytes, as TFLite's writers do (runtime_c reads int64 bias in place and
    requires its natural alignment; the plain Python builder aligns byte vectors to 4 only)."""

    def CreateNumpyVector(self, x):
        if x.dtype != np.uint8:
            return super().CreateNumpyVector(x)
        self.StartVector(1, len(x), 16)
        self.head = self.head - len(x)
        self.Bytes[self.head:self.head + len(x)] = x.tobytes()
        return self.EndVector()


def repack(m) -> bytes:
    b = AlignedBuilder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def aligned(model: bytes) -> bytes:
    return repack(fb.ModelT.InitFromPackedBuf(model, 0))


def as_int4(model: bytes, name: str) -> bytes:
    """The model with constant tensor `name` (int8 values in [-8, 7]) stored as packed INT4."""
    m = fb.ModelT.InitFromPackedBuf(model, 0)
    (t,) = [t for t in m.subgraphs[0].tensors if t.name.decode() == name]
    buf = m.buffers[t.buffer]
    buf.data = pack_int4(np.frombuffer(bytes(bytearray(buf.data)), dtype=np.int8))
    t.type = fb.TensorType.INT4
    assert len(buf.data) == (int(np.prod(t.shape)) + 1) // 2  # really packed, two values a byte
    return repack(m)


def run_runtime(model: bytes, *inputs) -> np.ndarray:
    (y,) = runtime.Interpreter(model).run(*inputs)
    return np.asarray(y)


def assert_same(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert got.dtype == ref.dtype and got.shape == ref.shape, f"{what}: {got.dtype}{got.shape} vs {ref.dtype}{ref.shape}"
    if got.tobytes() != ref.tobytes():
        d = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        raise AssertionError(f"{what}: {int((d > 0).sum())}/{ref.size} values differ, max |diff| {d.max()}")


def out_size(size: int, k: int, stride: int, dil: int, padding: str) -> int:
    eff = (k - 1) * dil + 1
    return -(-size // stride) if padding == "SAME" else -(-(size - eff + 1) // stride)


@st.composite
def layers(draw, kind: str):
    """A random layer: shapes, strides, dilations, padding, activation, per-channel or per-tensor."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    L = dict(kind=kind, rng=rng, act=draw(st.sampled_from(ACTS)), per_channel=draw(st.booleans()),
             batch=draw(st.integers(1, 2)), bias=draw(st.booleans()) or kind != "fc")
    if kind == "fc":
        L.update(in_depth=draw(st.integers(1, 40)), out_depth=draw(st.integers(1, 12)))
        return L
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers((kh - 1) * dh + 1, 9))
    w = draw(st.integers((kw - 1) * dw + 1, 9))
    cin = draw(st.integers(1, 6))
    if kind == "conv":
        groups = draw(st.sampled_from([1, 1, 2])) if cin % 2 == 0 else 1
        cout = groups * draw(st.integers(1, 4))
        L.update(fcin=cin // groups, cout=cout)
    else:
        mult = draw(st.integers(1, 3))
        L.update(mult=mult, cout=cin * mult)
    L.update(h=h, w=w, cin=cin, kh=kh, kw=kw, padding=padding, stride=(sh, sw), dil=(dh, dw),
             oh=out_size(h, kh, sh, dh, padding), ow=out_size(w, kw, sw, dw, padding))
    return L


def build(L: dict, act_dtype: str, wmax: int, bias_dtype: str, in_zp: int = 0, out_zp: int = 0,
          options_extra: dict | None = None):
    """(model, input) for a layer with int8 weights in [-wmax, wmax]."""
    rng, kind = L["rng"], L["kind"]
    amax = 32767 if act_dtype == "int16" else 127
    in_scale = float(np.float32(rng.uniform(0.002, 0.05)))
    if kind == "fc":
        wshape, taps, cout = [L["out_depth"], L["in_depth"]], L["in_depth"], L["out_depth"]
        xshape, yshape = [L["batch"], L["in_depth"]], [L["batch"], L["out_depth"]]
        axis = 0
    elif kind == "conv":
        cout = L["cout"]
        wshape, taps = [cout, L["kh"], L["kw"], L["fcin"]], L["kh"] * L["kw"] * L["fcin"]
        xshape, yshape = [L["batch"], L["h"], L["w"], L["cin"]], [L["batch"], L["oh"], L["ow"], cout]
        axis = 0
    else:
        cout = L["cout"]
        wshape, taps = [1, L["kh"], L["kw"], cout], L["kh"] * L["kw"]
        xshape, yshape = [L["batch"], L["h"], L["w"], L["cin"]], [L["batch"], L["oh"], L["ow"], cout]
        axis = 3
    nscale = cout if L["per_channel"] else 1
    w_scale = rng.uniform(0.002, 0.02, nscale).astype(np.float32)
    weights = rng.integers(-wmax, wmax + 1, wshape).astype(np.int8)
    # Output scale near the accumulator's spread so outputs use the range without all saturating.
    spread = in_scale * float(w_scale.mean()) * wmax * amax * math.sqrt(taps) / 2
    out_scale = float(np.float32(spread / amax * rng.uniform(0.3, 3.0)))
    bmax = int(min(2**30, amax * wmax * taps))
    bias = rng.integers(-bmax, bmax + 1, cout).astype(bias_dtype)
    x = rng.integers(-amax - (act_dtype == "int8"), amax + 1, xshape).astype(act_dtype)
    inputs = [spec(xshape, act_dtype, scale=in_scale, zero_point=in_zp),
              spec(wshape, "int8", scale=w_scale.tolist() if nscale > 1 else float(w_scale[0]), axis=axis,
                   data=weights, name="filter"),
              spec([cout], bias_dtype, scale=(in_scale * w_scale).tolist() if nscale > 1 else in_scale * float(w_scale[0]),
                   axis=0, data=bias) if L["bias"] else None]
    if inputs[-1] is None:
        inputs = inputs[:2]
    outputs = [spec(yshape, act_dtype, scale=out_scale, zero_point=out_zp)]
    opts = {"fused_activation_function": L["act"]}
    if kind == "fc":
        op = "FULLY_CONNECTED"
    else:
        op = "CONV_2D" if kind == "conv" else "DEPTHWISE_CONV_2D"
        opts.update(padding=L["padding"], stride_h=L["stride"][0], stride_w=L["stride"][1],
                    dilation_h_factor=L["dil"][0], dilation_w_factor=L["dil"][1])
        if kind == "dw":
            opts["depth_multiplier"] = L["mult"]
    opts.update(options_extra or {})
    return aligned(build_op_model(op, inputs, outputs, opts)), x


# ----------------------------------------------------------------------------------------------- 16x8

def check_16x8(L, bias_dtype="int64", extra=None):
    model, x = build(L, "int16", 127, bias_dtype, options_extra=extra)
    (ref,) = run_reference(model, x)
    assert_same(run_runtime(model, x), ref, f"{L['kind']} 16x8")


@CASES
@given(layers("conv"))
def test_conv_16x8(L):
    check_16x8(L)


@CASES
@given(layers("conv"))
def test_conv_16x8_int32_bias(L):
    check_16x8(L, "int32", {"quantized_bias_type": "INT32"})


@CASES
@given(layers("dw"))
def test_depthwise_16x8(L):
    check_16x8(L)


@CASES
@given(layers("fc"))
def test_fully_connected_16x8(L):
    check_16x8(L)


@CASES
@given(layers("fc"))
def test_fully_connected_16x8_int32_bias(L):
    check_16x8(L, "int32", {"quantized_bias_type": "INT32"})


# ----------------------------------------------------------------------------------------------- INT4

def check_int4(L):
    rng = L["rng"]
    model8, x = build(L, "int8", 7, "int32", in_zp=int(rng.integers(-128, 128)), out_zp=int(rng.integers(-20, 21)))
    model4 = as_int4(model8, "filter")
    got = run_runtime(model4, x)
    assert_same(got, run_runtime(model8, x), f"{L['kind']} int4 vs int8 on unpacked weights")
    (ref,) = run_reference(model4, x)
    assert_same(got, ref, f"{L['kind']} int4 vs LiteRT")


@CASES
@given(layers("conv"))
def test_conv_int4(L):
    check_int4(L)


@CASES
@given(layers("dw"))
def test_depthwise_int4(L):
    check_int4(L)


@CASES
@given(layers("fc"))
def test_fully_connected_int4(L):
    check_int4(L)


# ---------------------------------------------------------------------------- W4A16 (INT4 weights, 16x8)

def check_w4a16(L, vs_litert: bool):
    model8, x = build(L, "int16", 7, "int64")
    model4 = as_int4(model8, "filter")
    got = run_runtime(model4, x)
    assert_same(got, run_runtime(model8, x), f"{L['kind']} W4A16 vs 16x8 on unpacked weights")
    if vs_litert:
        (ref,) = run_reference(model4, x)
        assert_same(got, ref, f"{L['kind']} W4A16 vs LiteRT")


@CASES
@given(layers("conv"))
def test_conv_w4a16_16x8(L):
    check_w4a16(L, vs_litert=True)


@CASES
@given(layers("fc"))
def test_fully_connected_w4a16_16x8(L):
    check_w4a16(L, vs_litert=True)


@CASES
@given(layers("dw"))
def test_depthwise_w4a16_16x8(L):
    """An edgeq extension: LiteRT 2.3's 16x8 depthwise reads INT4 filters as int8 bytes, so the oracle is
    the 16x8 kernel on the unpacked weights."""
    check_w4a16(L, vs_litert=False)


# ------------------------------------------------------------------------------------ x86 SIMD vs ref

SHIM_CDEF = """
typedef struct { int32_t input_offset, filter_offset, output_offset, act_min, act_max; } eq_fc_params;
typedef struct { const int32_t *multiplier; const int32_t *shift; } eq_channel_quant;
void eq_fully_connected_s4(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                           const int8_t *, const uint8_t *, const int32_t *, int8_t *);
void eq_fully_connected_s4_avx2(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                                const int8_t *, const uint8_t *, const int32_t *, int8_t *);
void eq_fully_connected_s4_avx512vnni(const eq_fc_params *, const eq_channel_quant *, int32_t, int32_t, int32_t,
                                      const int8_t *, const uint8_t *, const int32_t *, int8_t *);
"""


@pytest.fixture(scope="module")
def s4_shim(tmp_path_factory):
    """The reference, AVX2 and AVX-512 VNNI INT4 FC kernels in one small library (gcc, temp dir)."""
    if not (hasattr(os, "uname") and os.uname().machine in ("x86_64", "i686")):
        pytest.skip("x86 kernels")
    kernels = Path(__file__).resolve().parent.parent / "runtime_c" / "kernels"
    lib = tmp_path_factory.mktemp("s4shim") / "libs4.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-shared", "-fPIC", f"-I{kernels}", "-o", str(lib),
                    str(kernels / "ref" / "fully_connected_s4.c"), str(kernels / "x86" / "fully_connected_s4.c"),
                    str(kernels / "x86" / "fully_connected_s4_vnni.c")],
                   check=True)
    ffi = cffi.FFI()
    ffi.cdef(SHIM_CDEF)
    return ffi, ffi.dlopen(str(lib))


def test_fully_connected_int4_simd_equals_ref(s4_shim):
    """AVX2 (and, on CPUs with it, AVX-512 VNNI) FC on packed nibbles gives the reference kernel's bytes:
    even and odd depths (odd ones fall back), tails, rows past 8, several batches, per-channel
    multipliers, input offsets at their limits, a filter offset."""
    ffi, lib = s4_shim
    fns = [lib.eq_fully_connected_s4, lib.eq_fully_connected_s4_avx2]
    flags = cpu_flags()
    if {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= flags:
        fns.append(lib.eq_fully_connected_s4_avx512vnni)
    rng = np.random.default_rng(7)
    cases = [(b, k, n) for b in (1, 3) for k in (2, 14, 16, 30, 33, 64, 130, 258, 640) for n in (1, 7, 8, 13, 40)]
    inside = []
    for b, k, n in cases:
        x = rng.integers(-128, 128, (b, k), dtype=np.int8)
        w = rng.integers(-8, 8, (n, k), dtype=np.int8)
        packed = pack_int4(w)
        bias = rng.integers(-5000, 5000, n, dtype=np.int32)
        mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-12, 0, n, dtype=np.int32)
        for in_off, f_off in ((128, 0), (-127, 0), (int(rng.integers(-127, 129)), 3)):
            p = ffi.new("eq_fc_params *", dict(input_offset=in_off, filter_offset=f_off, output_offset=-3,
                                               act_min=-128, act_max=127))
            q = ffi.new("eq_channel_quant *")
            keep = [ffi.from_buffer("int32_t[]", mult), ffi.from_buffer("int32_t[]", shift)]
            q.multiplier, q.shift = keep
            outs = []
            for fn in fns:
                y = np.zeros((b, n), np.int8)
                fn(p, q, b, k, n, ffi.from_buffer("int8_t[]", x), ffi.from_buffer("uint8_t[]", packed),
                   ffi.from_buffer("int32_t[]", bias), ffi.from_buffer("int8_t[]", y))
                outs.append(y)
            for o in outs[1:]:
                assert o.tobytes() == outs[0].tobytes(), (b, k, n, in_off, f_off)
            inside.append(((outs[0] > -128) & (outs[0] < 127)).mean())
    assert np.mean(inside) > 0.5  # most outputs inside the range, not clamped


def test_int4_and_16x8_ref_kernels_in_fresh_process(tmp_path):
    """The kernel table is chosen once per process: run INT4 models (which on SIMD hosts take the
    x86 INT4 kernels) and a 16x8 model with EDGEQ_ISA=ref and compare with this process."""
    rng = np.random.default_rng(3)
    base = dict(rng=rng, act="NONE", per_channel=True, batch=1, bias=True)
    layers_ = [dict(base, kind="fc", in_depth=64, out_depth=24),
               dict(base, kind="conv", h=8, w=8, cin=8, fcin=8, cout=16, kh=3, kw=3, padding="SAME",
                    stride=(1, 1), dil=(1, 1), oh=8, ow=8),
               dict(base, kind="dw", h=8, w=8, cin=8, mult=1, cout=8, kh=3, kw=3, padding="SAME",
                    stride=(1, 1), dil=(1, 1), oh=8, ow=8)]
    models, here = [], []
    for L in layers_:
        model, x = build(L, "int8", 7, "int32", in_zp=-5, out_zp=2)
        models.append((as_int4(model, "filter"), x))
    models.append(build(dict(layers_[1], rng=rng), "int16", 127, "int64"))
    for i, (m, x) in enumerate(models):
        (tmp_path / f"m{i}.tflite").write_bytes(m)
        np.save(tmp_path / f"x{i}.npy", x)
        here.append(run_runtime(m, x))
    script = ("import sys, numpy as np; from edgeq import runtime\n"
              f"for i in range({len(models)}):\n"
              f"    m = open(r'{tmp_path}/m%d.tflite' % i, 'rb').read()\n"
              f"    (y,) = runtime.Interpreter(m).run(np.load(r'{tmp_path}/x%d.npy' % i))\n"
              f"    np.save(r'{tmp_path}/y%d.npy' % i, y)\n")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, EDGEQ_ISA="ref", PYTHONPATH=str(root))
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    for i, want in enumerate(here):
        assert np.load(tmp_path / f"y{i}.npy").tobytes() == want.tobytes(), f"model {i}"


def test_reference_kernels_pass_the_same_cases():
    """On a SIMD host the cases above run the host paths (AVX2/VNNI INT4 FC, conv and depthwise,
    reading the nibbles in place); run every INT4 and 16x8 case again in a process forced onto the reference kernels, which
    are what microcontrollers run."""
    if os.environ.get("EDGEQ_ISA") == "ref":
        pytest.skip("this process already runs the reference kernels")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
                        str(Path(__file__)), "-k", "int4 or 16x8"],
                       env=dict(os.environ, EDGEQ_ISA="ref"), cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-500:]


def test_sanitizers_flips_of_lowbit_models(tmp_path, asan_driver):
    """INT4, 16x8 (int64 bias) and hybrid one-op models under AddressSanitizer + UBSan
    (runtime_c/tests/eq_check.c): every truncation and 300 bit-flipped copies each, on the reference
    kernels and on this machine's SIMD ones. A flipped bias or scale must not overflow the 64-bit
    requantization or the double rounding."""
    from test_hybrid import build as build_float

    driver = asan_driver
    rng = np.random.default_rng(11)
    base = dict(rng=rng, act="RELU", per_channel=True, batch=2, bias=True)
    layers_ = [dict(base, kind="conv", h=6, w=5, cin=4, fcin=2, cout=4, kh=3, kw=2, padding="SAME", stride=(2, 1),
                    dil=(1, 2), oh=3, ow=5),
               dict(base, kind="dw", h=6, w=5, cin=3, mult=2, cout=6, kh=3, kw=3, padding="VALID", stride=(1, 1),
                    dil=(1, 1), oh=4, ow=3),
               dict(base, kind="fc", in_depth=34, out_depth=9)]
    models = []
    for L in layers_:
        models.append(as_int4(build(L, "int8", 7, "int32", in_zp=3, out_zp=-2)[0], "filter"))
        models.append(build(L, "int16", 127, "int64")[0])
        models.append(build_float(L, hybrid=True, asymmetric=True)[0])
    for i, m in enumerate(models):
        p = tmp_path / f"m{i}.tflite"
        p.write_bytes(m)
        for isa in ("ref", None):
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **({"EDGEQ_ISA": isa} if isa else {}))
            r = subprocess.run([str(driver), str(p), "300", "5"], capture_output=True,
                               text=True, env=env, timeout=300)
            assert r.returncode == 0 and "runtime error" not in r.stderr, (i, isa, r.stderr[-2000:])
            assert "ok:" in r.stdout, (i, isa, r.stdout[-500:])


def test_lowbit_paths_compile_out(tmp_path):
    """Images for int8-only models build conv / depthwise / FC with -DEQ_WITH_INT16=0 -DEQ_WITH_INT4=0
    -DEQ_WITH_FLOAT=0: the ops then reference none of the 16x8, INT4, float or hybrid kernels (so none is
    linked), while the default build references them all."""
    import shutil

    if shutil.which("gcc") is None or shutil.which("nm") is None:
        pytest.skip("needs gcc and nm")
    rt = Path(__file__).resolve().parent.parent / "runtime_c"
    ops = [str(rt / "src" / "ops" / f"{n}.c") for n in ("conv_2d", "depthwise_conv_2d", "fully_connected")]

    def referenced(flags):
        out = tmp_path / ("off" if flags else "on")
        out.mkdir()
        subprocess.run(["gcc", "-std=c99", "-O2", *flags, f"-I{rt / 'include'}", f"-I{rt / 'src'}",
                        f"-I{rt / 'kernels'}", "-c", *ops], check=True, cwd=out)
        nm = subprocess.run(["nm", "-u", *sorted(map(str, out.glob("*.o")))], capture_output=True, text=True,
                            check=True).stdout
        return {s for s in nm.split() if any(k in s for k in ("_s16", "_s4", "_f32", "hybrid", "quantize_row"))}

    assert len(referenced([])) >= 14
    assert referenced(["-DEQ_WITH_INT16=0", "-DEQ_WITH_INT4=0", "-DEQ_WITH_FLOAT=0"]) == set()
