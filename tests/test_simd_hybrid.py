"""The AVX2 twins of the hybrid (dynamic-range) path and of float DEPTHWISE_CONV_2D give the reference
kernels' bytes: hybrid CONV_2D (both of its paths, packed weights and dot products; any filter depth, groups, strides, dilations, paddings, batches, per-tensor
and per-channel float steps, the largest int32 sums), the run-time row quantizers (lengths across the
32-value steps and their tails, tie-heavy rows, all-zero rows, inf and NaN), and float depthwise (channel
counts across the 32 / 8 blocks and the masked tail). The kernels are called directly from a small library
built from their sources (gcc)."""
from __future__ import annotations

import kernel_shim
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_simd_lowbit import buf, conv_geometry, float_act, hybrid_row_params, scratch_for, twins

SOURCES = ["ref/hybrid_quantize.c", "ref/conv2d_f32.c", "ref/depthwise_conv2d_f32.c", "x86/conv2d_hybrid.c",
           "x86/hybrid_quantize.c", "x86/depthwise_conv2d_f32.c"]
CASES = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

CDEF = """
void eq_conv2d_hybrid(const eq_conv_fparams *, const eq_shape4 *, const int8_t *, const float *, const int32_t *,
                      const eq_shape4 *, const void *, int, const float *, const float *, const eq_shape4 *, float *);
size_t eq_conv2d_hybrid_avx2_scratch_size(const eq_shape4 *);
size_t eq_conv2d_hybrid_avx2_packed_size(const eq_shape4 *, const eq_shape4 *);
void eq_conv2d_hybrid_avx2_pack(const eq_shape4 *, const int8_t *, void *);
void eq_conv2d_hybrid_avx2(const eq_conv_fparams *, const eq_shape4 *, const int8_t *, const float *,
                           const int32_t *, const eq_shape4 *, const void *, int, const float *, const float *,
                           const eq_shape4 *, float *, const void *, void *);
void eq_quantize_row_symmetric(const float *, int32_t, int8_t *, float *);
void eq_quantize_row_asymmetric(const float *, int32_t, int8_t *, float *, int32_t *);
void eq_quantize_row_symmetric_avx2(const float *, int32_t, int8_t *, float *);
void eq_quantize_row_asymmetric_avx2(const float *, int32_t, int8_t *, float *, int32_t *);
void eq_depthwise_conv2d_f32(const eq_conv_fparams *, const eq_shape4 *, const float *, const eq_shape4 *,
                             const float *, const float *, const eq_shape4 *, float *);
void eq_depthwise_conv2d_f32_avx2(const eq_conv_fparams *, const eq_shape4 *, const float *, const eq_shape4 *,
                                  const float *, const float *, const eq_shape4 *, float *);
"""


@pytest.fixture(scope="module")
def shim():
    return kernel_shim.x86_library(SOURCES, CDEF)


# ------------------------------------------------------------------------------------------ hybrid CONV_2D

def conv_hybrid(shim, g, per_channel: bool, extreme: bool = False):
    ffi, lib = shim
    rng = np.random.default_rng(g["seed"])
    cin, cout = g["fc"] * g["groups"], g["per_group"] * g["groups"]
    x = rng.integers(-128, 128, (g["n"], g["h"], g["w"], cin)).astype(np.int8)
    w = rng.integers(-128, 128, (cout, g["kh"], g["kw"], g["fc"])).astype(np.int8)
    in_scale, in_zp, w_scale = hybrid_row_params(rng, g["n"], cout, per_channel)
    if extreme:
        x[:], w[:], in_zp[:] = 127, -128, -128
    bias = rng.normal(0, 1, cout).astype(np.float32) if rng.random() < 0.8 else None
    lo, hi = float_act(rng)
    p = ffi.new("eq_conv_fparams *", dict(g["params"], depth_multiplier=1, act_min=lo, act_max=hi))
    s_in, s_f = ffi.new("eq_shape4 *", x.shape), ffi.new("eq_shape4 *", w.shape)
    s_out = ffi.new("eq_shape4 *", (g["n"], g["oh"], g["ow"], cout))
    packed_size = lib.eq_conv2d_hybrid_avx2_packed_size(s_in, s_f)
    assert (packed_size > 0) == (g["groups"] == 1)
    packed = None
    if packed_size:
        packed = scratch_for(packed_size)
        lib.eq_conv2d_hybrid_avx2_pack(s_f, buf(ffi, "int8_t[]", w), buf(ffi, "uint8_t[]", packed))
    outs = []
    for path in ("ref", "dot", "packed"):
        y = np.zeros((g["n"], g["oh"], g["ow"], cout), np.float32)
        args = (p, s_in, buf(ffi, "int8_t[]", x), buf(ffi, "float[]", in_scale), buf(ffi, "int32_t[]", in_zp), s_f,
                buf(ffi, "int8_t[]", w), 0, buf(ffi, "float[]", w_scale), buf(ffi, "float[]", bias), s_out,
                buf(ffi, "float[]", y))
        if path == "ref":
            lib.eq_conv2d_hybrid(*args)
        else:
            lib.eq_conv2d_hybrid_avx2(*args, buf(ffi, "uint8_t[]", packed) if path == "packed" else ffi.NULL,
                                      buf(ffi, "uint8_t[]", scratch_for(lib.eq_conv2d_hybrid_avx2_scratch_size(s_f))))
        outs.append(y)
    assert outs[1].tobytes() == outs[0].tobytes(), g
    assert outs[2].tobytes() == outs[0].tobytes(), g
    return outs[0]


@CASES
@given(conv_geometry(False), st.booleans())
def test_conv_hybrid_avx2_equals_ref(shim, g, per_channel):
    conv_hybrid(shim, g, per_channel)


def test_conv_hybrid_avx2_layers(shim):
    """The hybrid KWS / VWW conv layers' shapes (shallow first layers and 1x1 layers), two batch rows."""
    for kh, kw, fc, cout, h, w, s in ((10, 4, 1, 64, 49, 10, 2), (3, 3, 3, 8, 96, 96, 2), (1, 1, 8, 16, 48, 48, 1),
                                      (1, 1, 64, 64, 25, 5, 1), (1, 1, 256, 256, 3, 3, 1)):
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + kh - h, 0) // 2, max((ow - 1) * s + kw - w, 0) // 2
        g = dict(n=2, h=h, w=w, kh=kh, kw=kw, oh=oh, ow=ow, fc=fc, groups=1, per_group=cout, seed=kh * 100 + fc,
                 params=dict(stride_h=s, stride_w=s, dilation_h=1, dilation_w=1, pad_h=ph, pad_w=pw))
        for per_channel in (False, True):
            conv_hybrid(shim, g, per_channel)


def test_conv_hybrid_avx2_extreme(shim):
    """(x - zp) = 255 against -128 weights over EQ_MAX_TAPS taps: the largest sums the int32 reference forms."""
    for fc in (32768, 1000, 17):
        g = dict(n=1, h=1, w=1, kh=1, kw=1, oh=1, ow=1, fc=fc, groups=1, per_group=5, seed=fc,
                 params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0))
        y = conv_hybrid(shim, g, per_channel=False, extreme=True)
        assert y.min() < -1e3 or y.max() <= 6.0  # the sums reach the float steps (unless clamped)


# ------------------------------------------------------------------------------------ run-time quantization

def row(rng, n: int, kind: str) -> np.ndarray:
    if kind == "zeros":
        return np.zeros(n, np.float32)
    if kind == "ties":  # values at exact halves of a step, and a few float ulps off them
        s = np.float32(rng.uniform(0.001, 0.05))
        v = ((rng.integers(-130, 130, n) + 0.5) * np.float64(s)).astype(np.float32)
        return np.nextafter(v, np.where(rng.random(n) < 0.5, np.inf, -np.inf).astype(np.float32)) if rng.random() < 0.5 else v
    x = (rng.normal(0, 1, n) * rng.uniform(0.01, 50) + (rng.uniform(-3, 3) if kind == "offset" else 0)).astype(np.float32)
    if kind == "nonfinite":
        x[rng.integers(n, size=max(1, n // 50))] = rng.choice([np.inf, -np.inf, np.nan])
    return x


@CASES
@given(st.integers(1, 300), st.sampled_from(["normal", "offset", "ties", "zeros", "nonfinite"]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_quantize_rows_avx2_equals_ref(shim, n, kind, asymmetric, seed):
    ffi, lib = shim
    x = row(np.random.default_rng(seed), n, kind)
    got = []
    for fn in ((lib.eq_quantize_row_asymmetric, lib.eq_quantize_row_asymmetric_avx2) if asymmetric else
               (lib.eq_quantize_row_symmetric, lib.eq_quantize_row_symmetric_avx2)):
        q = np.full(n, 0x5A, np.int8)
        scale, zp = ffi.new("float *"), ffi.new("int32_t *")
        args = (buf(ffi, "float[]", x), n, buf(ffi, "int8_t[]", q), scale) + ((zp,) if asymmetric else ())
        fn(*args)
        got.append((q.tobytes(), np.float32(scale[0]).tobytes(), int(zp[0]) if asymmetric else 0))
    assert got[1] == got[0]


# --------------------------------------------------------------------------------- float DEPTHWISE_CONV_2D

@CASES
@given(conv_geometry(True, max_c=80))
def test_depthwise_f32_avx2_equals_ref(shim, g):
    ffi = shim[0]
    rng = np.random.default_rng(g["seed"])
    c, cout = g["c"], g["c"] * g["mult"]
    x = rng.normal(0, 1, (g["n"], g["h"], g["w"], c)).astype(np.float32)
    w = rng.normal(0, 1, (1, g["kh"], g["kw"], cout)).astype(np.float32)
    bias = rng.normal(0, 1, cout).astype(np.float32) if rng.random() < 0.8 else None
    lo, hi = float_act(rng)
    p = ffi.new("eq_conv_fparams *", dict(g["params"], depth_multiplier=g["mult"], act_min=lo, act_max=hi))
    s_in, s_f = ffi.new("eq_shape4 *", x.shape), ffi.new("eq_shape4 *", w.shape)
    s_out = ffi.new("eq_shape4 *", (g["n"], g["oh"], g["ow"], cout))
    args = (p, s_in, buf(ffi, "float[]", x), s_f, buf(ffi, "float[]", w), buf(ffi, "float[]", bias), s_out)
    twins(shim, "depthwise_conv2d_f32", args, (g["n"], g["oh"], g["ow"], cout), np.float32, what=g)
