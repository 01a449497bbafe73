"""The AVX2 twins of the 16x8 (int16 activation) CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED kernels and
of the hybrid FULLY_CONNECTED / DEPTHWISE_CONV_2D kernels give the reference kernels' bytes: Hypothesis-drawn
shapes (depths across the 16-lane steps and their tails, groups, strides, dilations, paddings, batches),
int64 and int32 (wrapping) accumulators, per-channel requantization, zero points, float scales and clamps;
plus the extreme operands (every product -32768 * -128) at depths where an int32 sum would overflow, and the
shapes the twins hand to the reference (INT4 filters, depth multipliers, many taps). The kernels are
called directly from a small library built from their sources (gcc)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kernel_shim
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeq.model.tflite_io import pack_int4

SOURCES = ["ref/conv2d_s16.c", "ref/depthwise_conv2d_s16.c", "ref/fully_connected_s16.c", "ref/fully_connected_f32.c",
           "ref/depthwise_conv2d_f32.c", "x86/conv2d_s16.c", "x86/depthwise_conv2d_s16.c",
           "x86/fully_connected_s16.c", "x86/fully_connected_hybrid.c", "x86/depthwise_conv2d_hybrid.c"]
CASES = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

CDEF = """
void eq_conv2d_s16(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int16_t *,
                   const eq_shape4 *, const void *, int, const void *, int, const eq_shape4 *, int16_t *);
size_t eq_conv2d_s16_avx2_scratch_size(const eq_shape4 *);
void eq_conv2d_s16_avx2(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int16_t *,
                        const eq_shape4 *, const void *, int, const void *, int, const eq_shape4 *, int16_t *, void *);
void eq_depthwise_conv2d_s16(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *, const int16_t *,
                             const eq_shape4 *, const void *, int, const int64_t *, const eq_shape4 *, int16_t *);
size_t eq_depthwise_conv2d_s16_avx2_scratch_size(const eq_conv_params *, const eq_shape4 *, const eq_shape4 *,
                                                 const eq_shape4 *);
void eq_depthwise_conv2d_s16_avx2(const eq_conv_params *, const eq_channel_quant *, const eq_shape4 *,
                                  const int16_t *, const eq_shape4 *, const void *, int, const int64_t *,
                                  const eq_shape4 *, int16_t *, void *);
void eq_fully_connected_s16(const eq_fc_params *, const double *, int32_t, int32_t, int32_t, const int16_t *,
                            const void *, int, const void *, int, int16_t *);
void eq_fully_connected_s16_avx2(const eq_fc_params *, const double *, int32_t, int32_t, int32_t, const int16_t *,
                                 const void *, int, const void *, int, int16_t *);
void eq_fully_connected_hybrid(float, float, int32_t, int32_t, int32_t, const int8_t *, const float *,
                               const int32_t *, const void *, int, const float *, const float *, float *);
void eq_fully_connected_hybrid_avx2(float, float, int32_t, int32_t, int32_t, const int8_t *, const float *,
                                    const int32_t *, const void *, int, const float *, const float *, float *);
void eq_depthwise_conv2d_hybrid(const eq_conv_fparams *, const eq_shape4 *, const int8_t *, const float *,
                                const int32_t *, const eq_shape4 *, const void *, int, const float *, const float *,
                                const eq_shape4 *, float *);
size_t eq_depthwise_conv2d_hybrid_avx2_scratch_size(const eq_conv_fparams *, const eq_shape4 *, const eq_shape4 *,
                                                    const eq_shape4 *);
void eq_depthwise_conv2d_hybrid_avx2(const eq_conv_fparams *, const eq_shape4 *, const int8_t *, const float *,
                                     const int32_t *, const eq_shape4 *, const void *, int, const float *,
                                     const float *, const eq_shape4 *, float *, void *);
"""


@pytest.fixture(scope="module")
def shim():
    return kernel_shim.x86_library(SOURCES, CDEF)


def buf(ffi, ctype: str, a: np.ndarray | None):
    return ffi.NULL if a is None else ffi.from_buffer(ctype, a)


def scratch_for(size: int) -> np.ndarray:
    # junk, as a reused arena holds, 16 bytes in (the arena promises 16-byte alignment only)
    return np.full(size + 16, 0x5A, np.uint8)[16:]


OUT_CTYPES = {np.dtype(np.int16): "int16_t[]", np.dtype(np.float32): "float[]"}


def twins(shim, name: str, args: tuple, out_shape, dtype, scratch: tuple | None = None, what=None) -> np.ndarray:
    """eq_<name> and its AVX2 twin eq_<name>_avx2 on the same arguments, each writing a fresh output (the
    argument after args; the twin then takes scratch of eq_<name>_avx2_scratch_size(*scratch) when scratch
    is given): asserts equal bytes, returns the reference's output."""
    ffi, lib = shim
    outs = []
    for simd in (False, True):
        y = np.zeros(out_shape, dtype)
        more = ()
        if simd and scratch is not None:
            more = (buf(ffi, "uint8_t[]", scratch_for(getattr(lib, f"eq_{name}_avx2_scratch_size")(*scratch))),)
        fn = getattr(lib, f"eq_{name}_avx2" if simd else f"eq_{name}")
        fn(*args, buf(ffi, OUT_CTYPES[np.dtype(dtype)], y), *more)
        outs.append(y)
    assert outs[1].tobytes() == outs[0].tobytes(), what
    return outs[0]


def requant(rng, n: int, fan_in: int, extreme: bool = False, acc32: bool = False):
    """Per-channel multipliers and shifts (frexp of the scale) putting typical accumulators of fan_in
    products across the int16 range, with a spread: the rounding, not only the clamps, is exercised.
    extreme: the scale maps fan_in * 2^22 (every product at its largest; for the int32 accumulator, its
    wrapped range 2^31) to 8000-17000, so a lost or wrapped bit shows."""
    typical = (2.0**31 if acc32 else fan_in * 2.0**22) if extreme else np.sqrt(fan_in) * 32768 * 128 / 3
    m, e = np.frexp((12000 if extreme else 16000) / typical * 2.0 ** rng.uniform(-0.5 if extreme else -1, 0.5 if extreme else 1, n))
    mult = np.minimum(np.round(m * 2**31), 2**31 - 1).astype(np.int32)
    return mult, np.clip(e, -31, 7).astype(np.int32)


def typical_bias(rng, n: int, fan_in: int, acc32: bool) -> np.ndarray:
    typ = int(np.sqrt(fan_in) * 32768 * 128 / 3)
    return rng.integers(-2 * typ, 2 * typ + 1, n).astype(np.int32 if acc32 else np.int64)


def inside(y: np.ndarray, lo: int, hi: int) -> float:
    return float(((y > lo) & (y < hi)).mean())


def int16_act(rng) -> tuple[int, int]:
    if rng.random() < 0.5:
        return -32768, 32767
    lo, hi = sorted(int(v) for v in rng.integers(-32768, 32768, 2))
    return lo, hi


def pad_for(size: int, k: int, stride: int, dil: int, same: bool) -> tuple[int, int]:
    eff = (k - 1) * dil + 1
    if same:
        out = -(-size // stride)
        return out, max((out - 1) * stride + eff - size, 0) // 2
    return (size - eff) // stride + 1, 0


@st.composite
def conv_geometry(draw, depthwise: bool, max_c: int = 40):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers((kh - 1) * dh + 1, 10))
    w = draw(st.integers((kw - 1) * dw + 1, 10))
    same = draw(st.booleans())
    (oh, ph), (ow, pw) = pad_for(h, kh, sh, dh, same), pad_for(w, kw, sw, dw, same)
    g = dict(n=draw(st.integers(1, 2)), h=h, w=w, kh=kh, kw=kw, oh=oh, ow=ow,
             params=dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=ph, pad_w=pw))
    if depthwise:
        g.update(c=draw(st.integers(1, max_c)), mult=draw(st.sampled_from([1, 1, 1, 2, 3])))
    else:
        g.update(groups=draw(st.sampled_from([1, 1, 1, 2, 3])), fc=draw(st.integers(1, max_c)),
                 per_group=draw(st.integers(1, 9)))
    g["seed"] = draw(st.integers(0, 2**32 - 1))
    return g


# ---------------------------------------------------------------------------------------- 16x8 CONV_2D

def conv_s16(shim, g, acc32: bool, extreme: bool = False, int4: bool = False):
    ffi = shim[0]
    rng = np.random.default_rng(g["seed"])
    cin, cout = g["fc"] * g["groups"], g["per_group"] * g["groups"]
    x = rng.integers(-32768, 32768, (g["n"], g["h"], g["w"], cin)).astype(np.int16)
    w = rng.integers(-8 if int4 else -128, 8 if int4 else 128, (cout, g["kh"], g["kw"], g["fc"])).astype(np.int8)
    if extreme:
        x[:], w[:] = -32768, -128
    fan_in = g["kh"] * g["kw"] * g["fc"]
    bias = typical_bias(rng, cout, fan_in, acc32) if rng.random() < 0.8 else None
    mult, shift = requant(rng, cout, fan_in, extreme, acc32)
    lo, hi = (-32768, 32767) if extreme else int16_act(rng)
    p = ffi.new("eq_conv_params *", dict(g["params"], depth_multiplier=1, input_offset=0, output_offset=0,
                                         act_min=lo, act_max=hi))
    q = ffi.new("eq_channel_quant *")
    keep = [buf(ffi, "int32_t[]", mult), buf(ffi, "int32_t[]", shift)]
    q.multiplier, q.shift = keep
    s_in = ffi.new("eq_shape4 *", x.shape)
    s_f = ffi.new("eq_shape4 *", w.shape)
    s_out = ffi.new("eq_shape4 *", (g["n"], g["oh"], g["ow"], cout))
    wdata = pack_int4(w.reshape(-1)) if int4 else w
    args = (p, q, s_in, buf(ffi, "int16_t[]", x), s_f, buf(ffi, "uint8_t[]", wdata), int(int4),
            buf(ffi, "int32_t[]" if acc32 else "int64_t[]", bias), int(acc32), s_out)
    return twins(shim, "conv2d_s16", args, (g["n"], g["oh"], g["ow"], cout), np.int16, (s_f,), (g, acc32)), (lo, hi)


@CASES
@given(conv_geometry(False), st.booleans())
def test_conv_s16_avx2_equals_ref(shim, g, acc32):
    conv_s16(shim, g, acc32)


def test_conv_s16_avx2_deep_and_extreme(shim):
    """Depths past one int32 chunk (496 products) and past 2^31 / 2^22 = 512 with every product at
    its largest (-32768 * -128 = 2^22): the int64 total must be exact (the scale brings it inside the
    int16 range, so a lost bit would show), and the int32 accumulator must wrap as the reference's."""
    base = dict(n=1, h=3, w=3, kh=3, kw=3, oh=1, ow=1, groups=1, per_group=5,
                params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0))
    for fc in (55, 56, 57, 120, 333):  # K = 495 .. 2997
        for acc32 in (False, True):
            y, (lo, hi) = conv_s16(shim, dict(base, fc=fc, seed=fc), acc32, extreme=True)
            if not acc32:
                assert inside(y, lo, hi) == 1.0, y
            conv_s16(shim, dict(base, fc=fc, seed=fc + 1), acc32)


def test_conv_s16_int4_falls_back(shim):
    g = dict(n=1, h=5, w=5, kh=3, kw=3, oh=5, ow=5, groups=1, fc=7, per_group=3, seed=3,
             params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=1, pad_w=1))
    conv_s16(shim, g, False, int4=True)


# ------------------------------------------------------------------------------ 16x8 DEPTHWISE_CONV_2D

def depthwise_s16(shim, g, extreme: bool = False, int4: bool = False):
    ffi = shim[0]
    rng = np.random.default_rng(g["seed"])
    c, cout = g["c"], g["c"] * g["mult"]
    x = rng.integers(-32768, 32768, (g["n"], g["h"], g["w"], c)).astype(np.int16)
    w = rng.integers(-8 if int4 else -128, 8 if int4 else 128, (1, g["kh"], g["kw"], cout)).astype(np.int8)
    if extreme:
        x[:], w[:] = -32768, -128
    fan_in = g["kh"] * g["kw"]
    bias = typical_bias(rng, cout, fan_in, False) if rng.random() < 0.8 else None
    mult, shift = requant(rng, cout, fan_in, extreme)
    lo, hi = (-32768, 32767) if extreme else int16_act(rng)
    p = ffi.new("eq_conv_params *", dict(g["params"], depth_multiplier=g["mult"], input_offset=0, output_offset=0,
                                         act_min=lo, act_max=hi))
    q = ffi.new("eq_channel_quant *")
    keep = [buf(ffi, "int32_t[]", mult), buf(ffi, "int32_t[]", shift)]
    q.multiplier, q.shift = keep
    s_in, s_f = ffi.new("eq_shape4 *", x.shape), ffi.new("eq_shape4 *", w.shape)
    s_out = ffi.new("eq_shape4 *", (g["n"], g["oh"], g["ow"], cout))
    wdata = pack_int4(w.reshape(-1)) if int4 else w
    args = (p, q, s_in, buf(ffi, "int16_t[]", x), s_f, buf(ffi, "uint8_t[]", wdata), int(int4),
            buf(ffi, "int64_t[]", bias), s_out)
    out_shape = (g["n"], g["oh"], g["ow"], cout)
    return twins(shim, "depthwise_conv2d_s16", args, out_shape, np.int16, (p, s_in, s_f, s_out), g), (lo, hi)


@CASES
@given(conv_geometry(True))
def test_depthwise_s16_avx2_equals_ref(shim, g):
    depthwise_s16(shim, g)


def test_depthwise_s16_avx2_many_taps(shim):
    """Tap counts at the int32 bound (511 taps of 2^22) run the vector path with extreme operands; 512
    and more are handed to the reference."""
    for kh, kw in ((7, 73), (1, 511), (16, 32), (23, 23)):  # 511, 511, 512, 529 taps
        g = dict(n=1, h=kh, w=kw, kh=kh, kw=kw, oh=1, ow=1, c=19, mult=1, seed=kh,
                 params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0))
        depthwise_s16(shim, g, extreme=True)
        depthwise_s16(shim, g)


def test_depthwise_s16_int4_falls_back(shim):
    g = dict(n=1, h=5, w=5, kh=3, kw=3, oh=5, ow=5, c=9, mult=1, seed=4,
             params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=1, pad_w=1))
    depthwise_s16(shim, g, int4=True)


# ------------------------------------------------------------------------------ 16x8 FULLY_CONNECTED

def fc_s16(shim, b, k, n, seed, acc32, extreme=False, filter_offset=0, int4=False):
    ffi = shim[0]
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, (b, k)).astype(np.int16)
    w = rng.integers(-8 if int4 else -128, 8 if int4 else 128, (n, k)).astype(np.int8)
    if extreme:
        x[:], w[:] = -32768, -128
    bias = typical_bias(rng, n, k, acc32) if rng.random() < 0.8 else None
    typical = (2.0**31 if acc32 else k * 2.0**22) if extreme else np.sqrt(k) * 32768 * 128 / 3
    scale = (12000 if extreme else 16000) / typical * 2.0 ** rng.uniform(-0.5 if extreme else -1, 0.5 if extreme else 1, n)
    if rng.random() < 0.2:
        scale[:] = 2.0 ** -int(rng.integers(14, 20))  # exact ties, rounded away from zero
    lo, hi = (-32768, 32767) if extreme else int16_act(rng)
    p = ffi.new("eq_fc_params *", dict(input_offset=0, filter_offset=filter_offset, output_offset=0,
                                       act_min=lo, act_max=hi))
    wdata = pack_int4(w.reshape(-1)) if int4 else w
    args = (p, buf(ffi, "double[]", scale), b, k, n, buf(ffi, "int16_t[]", x), buf(ffi, "uint8_t[]", wdata), int(int4),
            buf(ffi, "int32_t[]" if acc32 else "int64_t[]", bias), int(acc32))
    return twins(shim, "fully_connected_s16", args, (b, n), np.int16, what=(b, k, n, seed, acc32)), (lo, hi)


@CASES
@given(st.integers(1, 5), st.integers(1, 700), st.integers(1, 20), st.integers(0, 2**32 - 1), st.booleans())
def test_fully_connected_s16_avx2_equals_ref(shim, b, k, n, seed, acc32):
    fc_s16(shim, b, k, n, seed, acc32)


def test_fully_connected_s16_avx2_deep_and_extreme(shim):
    """Every product 2^22 over depths up to EQ_MAX_TAPS (32768): sums up to 2^37, exact in int64 (mapped
    inside the int16 range), and wrapping exactly as the reference's int32 accumulator."""
    for k in (511, 512, 513, 4095, 4096, 32768):
        for acc32 in (False, True):
            y, (lo, hi) = fc_s16(shim, 1, k, 9, k, acc32, extreme=True)
            if not acc32:
                assert inside(y, lo, hi) == 1.0, y
            fc_s16(shim, 3, k, 5, k + 1, acc32)


def test_fully_connected_s16_fallbacks(shim):
    fc_s16(shim, 2, 37, 6, 1, False, filter_offset=3)
    fc_s16(shim, 2, 38, 6, 2, False, int4=True)


# ---------------------------------------------------------------------------------- hybrid kernels

def hybrid_row_params(rng, b, channels, per_channel):
    in_scale = rng.uniform(1e-4, 0.1, b).astype(np.float32)
    in_zp = rng.integers(-128, 128, b).astype(np.int32)
    w_scale = rng.uniform(1e-3, 0.05, channels).astype(np.float32) if per_channel else None
    return in_scale, in_zp, w_scale


def float_act(rng) -> tuple[float, float]:
    return [(-3.4e38, 3.4e38), (0.0, 3.4e38), (0.0, 6.0), (-1.0, 1.0)][int(rng.integers(4))]


@CASES
@given(st.integers(1, 4), st.integers(1, 700), st.integers(1, 20), st.integers(0, 2**32 - 1), st.booleans(),
       st.booleans())
def test_fully_connected_hybrid_avx2_equals_ref(shim, b, k, n, seed, per_channel, int4):
    ffi = shim[0]
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (b, k)).astype(np.int8)
    w = rng.integers(-8 if int4 else -128, 8 if int4 else 128, (n, k)).astype(np.int8)
    in_scale, in_zp, w_scale = hybrid_row_params(rng, b, n, per_channel)
    bias = rng.normal(0, 1, n).astype(np.float32) if rng.random() < 0.8 else None
    lo, hi = float_act(rng)
    wdata = pack_int4(w.reshape(-1)) if int4 else w
    args = (lo, hi, b, k, n, buf(ffi, "int8_t[]", x), buf(ffi, "float[]", in_scale), buf(ffi, "int32_t[]", in_zp),
            buf(ffi, "uint8_t[]", wdata), int(int4), buf(ffi, "float[]", w_scale), buf(ffi, "float[]", bias))
    twins(shim, "fully_connected_hybrid", args, (b, n), np.float32, what=(b, k, n, seed))


def test_fully_connected_hybrid_avx2_extreme(shim):
    """(x - zp) at +-255 against -128 weights over EQ_MAX_TAPS: the largest sums the int32 reference forms."""
    ffi = shim[0]
    for k, xv, zp in ((32768, -128, 127), (32768, 127, -128), (1000, 127, -128)):
        x = np.full((1, k), xv, np.int8)
        w = np.full((4, k), -128, np.int8)
        args = (-3.4e38, 3.4e38, 1, k, 4, buf(ffi, "int8_t[]", x), buf(ffi, "float[]", np.float32([0.01])),
                buf(ffi, "int32_t[]", np.int32([zp])), buf(ffi, "int8_t[]", w), 0, ffi.NULL, ffi.NULL)
        y = twins(shim, "fully_connected_hybrid", args, (1, 4), np.float32, what=(k, xv, zp))
        assert y[0, 0] == np.float32(np.float32(k * -128 * (xv - zp)) * np.float32(0.01))


def depthwise_hybrid(shim, g, int4=False, extreme=False):
    ffi = shim[0]
    rng = np.random.default_rng(g["seed"])
    c, cout = g["c"], g["c"] * g["mult"]
    x = rng.integers(-128, 128, (g["n"], g["h"], g["w"], c)).astype(np.int8)
    w = rng.integers(-8 if int4 else -128, 8 if int4 else 128, (1, g["kh"], g["kw"], cout)).astype(np.int8)
    in_scale, in_zp, w_scale = hybrid_row_params(rng, g["n"], cout, True)
    if extreme:
        x[:], w[:], in_zp[:] = 127, -128, -128
    bias = rng.normal(0, 1, cout).astype(np.float32) if rng.random() < 0.8 else None
    lo, hi = float_act(rng)
    p = ffi.new("eq_conv_fparams *", dict(g["params"], depth_multiplier=g["mult"], act_min=lo, act_max=hi))
    s_in, s_f = ffi.new("eq_shape4 *", x.shape), ffi.new("eq_shape4 *", w.shape)
    s_out = ffi.new("eq_shape4 *", (g["n"], g["oh"], g["ow"], cout))
    wdata = pack_int4(w.reshape(-1)) if int4 else w
    args = (p, s_in, buf(ffi, "int8_t[]", x), buf(ffi, "float[]", in_scale), buf(ffi, "int32_t[]", in_zp), s_f,
            buf(ffi, "uint8_t[]", wdata), int(int4), buf(ffi, "float[]", w_scale), buf(ffi, "float[]", bias), s_out)
    out_shape = (g["n"], g["oh"], g["ow"], cout)
    twins(shim, "depthwise_conv2d_hybrid", args, out_shape, np.float32, (p, s_in, s_f, s_out), g)


@CASES
@given(conv_geometry(True), st.booleans())
def test_depthwise_hybrid_avx2_equals_ref(shim, g, int4):
    depthwise_hybrid(shim, g, int4=int4)


def test_depthwise_hybrid_avx2_many_taps(shim):
    for kh, kw in ((7, 73), (16, 32)):  # 511 (vector path), 512 (reference)
        g = dict(n=2, h=kh, w=kw, kh=kh, kw=kw, oh=1, ow=1, c=21, mult=1, seed=kh,
                 params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0))
        depthwise_hybrid(shim, g, extreme=True)
        depthwise_hybrid(shim, g)


def test_random_cases_use_the_output_range(shim):
    """The random operands above requantize mostly inside the clamps, so the bytes compared are the
    rounding's, not only saturated values."""
    fractions = []
    for seed in range(12):
        g = dict(n=1, h=6, w=6, kh=3, kw=3, oh=6, ow=6, groups=1, fc=5 + seed, per_group=6, c=9 + seed, mult=1,
                 seed=seed, params=dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=1, pad_w=1))
        for y, (lo, hi) in (conv_s16(shim, g, False), depthwise_s16(shim, g),
                            fc_s16(shim, 2, 20 + 30 * seed, 11, seed, False)):
            fractions.append(inside(y, lo, hi))
    assert np.mean(fractions) > 0.6, fractions


# ------------------------------------------------------------------------------------- whole models

def test_zoo_models_simd_bytes(zoo, tmp_path):
    """VWW and IC quantized 16x8 by edgeq run on this host's SIMD kernels byte-exact with LiteRT's reference
    kernels; the hybrid KWS model and VWW converted hybrid give the same bytes on the SIMD kernels as on
    runtime_c's reference kernels (a child process with EDGEQ_ISA=ref: the table is chosen once per
    process). The scales come from random calibration inputs: the arithmetic checked is the same."""
    import sys

    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from onemodel import run_reference

    from edgeq.introspect import kernel_isa
    from edgeq.quantize.lowbit import convert_lowbit
    from edgeq.runtime import Interpreter

    if kernel_isa() == "ref":
        pytest.skip("this process runs the reference kernels (EDGEQ_ISA=ref or no SIMD on this CPU)")
    rng = np.random.default_rng(5)
    vww = (zoo / "mlperf_tiny/vww_96_float.tflite").read_bytes()
    for name in ("vww_96_float.tflite", "pretrainedResnet.tflite"):
        src = (zoo / "mlperf_tiny" / name).read_bytes()
        shape = LiteRT(model_content=src).get_input_details()[0]["shape"]
        calib = rng.uniform(0, 1, (8, *shape[1:])).astype(np.float32)
        model = convert_lowbit(src, calib=calib, activations="int16", io="int16", measure_passes=False).model
        it = Interpreter(model)
        for _ in range(2):
            x = rng.integers(-32768, 32768, shape).astype(np.int16)
            (want,) = run_reference(model, x)
            assert np.asarray(it.run(x)[0]).tobytes() == want.tobytes(), name
    hybrids = [(zoo / "mlperf_tiny/kws_ref_model_float32.tflite").read_bytes(),
               convert_lowbit(vww, dynamic=True, measure_passes=False).model]
    here = []
    for i, model in enumerate(hybrids):
        (tmp_path / f"m{i}.tflite").write_bytes(model)
        it = Interpreter(model)
        x = rng.uniform(-1, 1, it.inputs[0].shape).astype(np.float32)
        np.save(tmp_path / f"x{i}.npy", x)
        here.append(np.asarray(it.run(x)[0]))
    script = ("import numpy as np; from edgeq.runtime import Interpreter\n"
              f"for i in range({len(hybrids)}):\n"
              f"    it = Interpreter(open(r'{tmp_path}/m%d.tflite' % i, 'rb').read())\n"
              f"    np.save(r'{tmp_path}/y%d.npy' % i, np.asarray(it.run(np.load(r'{tmp_path}/x%d.npy' % i))[0]))\n")
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", script], env=dict(os.environ, EDGEQ_ISA="ref", PYTHONPATH=str(root)),
                   check=True)
    for i, y in enumerate(here):
        assert np.load(tmp_path / f"y{i}.npy").tobytes() == y.tobytes(), f"hybrid model {i}"
