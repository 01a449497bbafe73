"""Every SIMD variant of the elementwise kernels (ADD, SUB, MUL, MAXIMUM, MINIMUM, RELU, the pools and the
rest of the elementwise table) gives the reference kernel's bytes on the same inputs: random shapes and
broadcasts, zero points, multipliers as the ops' prepare computes them and arbitrary ones, activation
ranges (Hypothesis, derandomized). A variant this CPU lacks is skipped with the reason."""
from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
import kernel_shim  # noqa: E402
from kernel_shim import SIMD, isa, kernels  # noqa: E402,F401  (SIMD variants; pytest fixtures)

FAST = settings(derandomize=True, deadline=None, max_examples=120,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real = m * 2^(shift - 31) with m in [2^30, 2^31), as the ops' prepare computes it."""
    if real == 0:
        return 0, 0
    m, e = math.frexp(real)
    q = round(m * 2**31)
    if q == 2**31:
        q, e = q // 2, e + 1
    return int(q), int(e)


def wild_multiplier(rng: np.random.Generator, max_shift: int = 31) -> tuple[int, int]:
    """Any multiplier in [2^30, 2^31) and a shift in [-31, max_shift]: the lane arithmetic must match the
    scalar one (wrapping left shifts, rounding on every sign) even where no prepare would go."""
    return int(rng.integers(2**30, 2**31)), int(rng.integers(-31, max_shift + 1))


def act_range(rng: np.random.Generator, out_zp: int) -> tuple[int, int]:
    kind = rng.integers(3)
    if kind == 0:
        return -128, 127
    if kind == 1:
        return max(out_zp, -128), 127
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
    return lo, hi


@st.composite
def broadcast_shapes(draw):
    """Two shapes of up to 5 dims that broadcast, with rows long and short, and the output shape."""
    ndim = draw(st.integers(1, 5))
    out = [draw(st.integers(1, 6)) for _ in range(ndim - 1)] + [draw(st.sampled_from([1, 3, 8, 15, 16, 17, 40, 70]))]
    a = [d if draw(st.integers(0, 3)) else 1 for d in out]
    b = [d if draw(st.integers(0, 3)) else 1 for d in out]
    a = a[draw(st.integers(0, ndim - 1)):] if draw(st.booleans()) else a  # fewer dims: right-aligned
    return a, b, out


class Binary:
    """The broadcast description and operands of one binary-op case."""

    def __init__(self, kernels, a_shape, b_shape, rng):
        self.ffi, self.lib = kernels.ffi, kernels.lib
        self.bcast = self.ffi.new("eq_bcast *")
        out_dims, out_ndim = self.ffi.new("int32_t[6]"), self.ffi.new("int32_t *")
        da = np.array(a_shape, np.int32)
        db = np.array(b_shape, np.int32)
        rc = self.lib.eq_bcast_init(self.bcast, self.ffi.cast("int32_t *", da.ctypes.data), len(a_shape),
                                    self.ffi.cast("int32_t *", db.ctypes.data), len(b_shape), out_dims, out_ndim)
        assert rc == 0
        self.out_shape = tuple(out_dims[i] for i in range(out_ndim[0]))
        self.a = rng.integers(-128, 128, a_shape, dtype=np.int8)
        self.b = rng.integers(-128, 128, b_shape, dtype=np.int8)

    def ptrs(self):
        p = lambda x: self.ffi.cast("int8_t *", x.ctypes.data)  # noqa: E731
        return p(self.a), p(self.b)

    def out(self):
        return np.full(self.out_shape, 0x55, np.int8)


def addsub_params(rng, wild: bool):
    zps = [int(v) for v in rng.integers(-128, 128, 3)]
    sa, sb, so = (float(v) for v in 2.0 ** rng.uniform(-10, -4, 3))
    twice = 2 * max(sa, sb)
    m1, s1 = quantize_multiplier(sa / twice)
    m2, s2 = quantize_multiplier(sb / twice)
    mo, shift_o = quantize_multiplier(twice / (2**20 * so))
    if wild:
        (m1, s1), (m2, s2), (mo, shift_o) = (wild_multiplier(rng, 0), wild_multiplier(rng, 0),
                                             wild_multiplier(rng, 8))
    lo, hi = act_range(rng, zps[2])
    return dict(left_shift=20, in1_offset=-zps[0], in1_multiplier=m1, in1_shift=s1, in2_offset=-zps[1],
                in2_multiplier=m2, in2_shift=s2, out_offset=zps[2], out_multiplier=mo, out_shift=shift_o,
                act_min=lo, act_max=hi)


@FAST
@given(shapes=broadcast_shapes(), wild=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_add_matches_ref(kernels, isa, shapes, wild, seed):
    rng = np.random.default_rng(seed)
    case = Binary(kernels, shapes[0], shapes[1], rng)
    ffi = kernels.ffi
    params = addsub_params(rng, wild)
    p = ffi.new("eq_add_params *", params)
    tables = ffi.new("int32_t[512]")
    kernels.lib.eq_add_s8_tables(p, tables, tables + 256)
    b = case.bcast
    ref = case.out()
    kernels.table("ref").ew.add_s8(p, b.dims, b.stride1, b.stride2, *case.ptrs(), ffi.cast("int8_t *", ref.ctypes.data))
    for with_tables in (False, True):  # the op builds the tables only when the variant wants them
        p.in1_table, p.in2_table = (tables, tables + 256) if with_tables else (ffi.NULL, ffi.NULL)
        got = case.out()
        kernels.table(isa).ew.add_s8(p, b.dims, b.stride1, b.stride2, *case.ptrs(),
                                     ffi.cast("int8_t *", got.ctypes.data))
        np.testing.assert_array_equal(got, ref, err_msg=f"{isa} ADD {shapes} {params} tables={with_tables}")


def run_binary(kernels, isa, name, case, p=None):
    ffi = kernels.ffi
    outs = []
    for v in ("ref", isa):
        o = case.out()
        fn = getattr(kernels.table(v).ew, name)
        args = (case.bcast, *case.ptrs(), ffi.cast("int8_t *", o.ctypes.data))
        fn(*((p,) + args if p is not None else args))
        outs.append(o)
    return outs


@FAST
@given(shapes=broadcast_shapes(), wild=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sub_matches_ref(kernels, isa, shapes, wild, seed):
    rng = np.random.default_rng(seed)
    case = Binary(kernels, shapes[0], shapes[1], rng)
    params = addsub_params(rng, wild)
    ref, got = run_binary(kernels, isa, "sub_s8", case, kernels.ffi.new("eq_sub_params *", params))
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} SUB {shapes} {params}")


@FAST
@given(shapes=broadcast_shapes(), wild=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_mul_matches_ref(kernels, isa, shapes, wild, seed):
    rng = np.random.default_rng(seed)
    case = Binary(kernels, shapes[0], shapes[1], rng)
    zps = [int(v) for v in rng.integers(-128, 128, 3)]
    mo, so = wild_multiplier(rng) if wild else quantize_multiplier(float(2.0 ** rng.uniform(-16, -6)))
    lo, hi = act_range(rng, zps[2])
    params = dict(in1_offset=-zps[0], in2_offset=-zps[1], out_offset=zps[2], out_multiplier=mo, out_shift=so,
                  act_min=lo, act_max=hi)
    ref, got = run_binary(kernels, isa, "mul_s8", case, kernels.ffi.new("eq_mul_params *", params))
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} MUL {shapes} {params}")


@FAST
@given(shapes=broadcast_shapes(), seed=st.integers(0, 2**32 - 1))
def test_maximum_minimum_match_ref(kernels, isa, shapes, seed):
    case = Binary(kernels, shapes[0], shapes[1], np.random.default_rng(seed))
    for name in ("maximum_s8", "minimum_s8"):
        ref, got = run_binary(kernels, isa, name, case)
        np.testing.assert_array_equal(got, ref, err_msg=f"{isa} {name} {shapes}")
    np.testing.assert_array_equal(ref, np.minimum(case.a, case.b))  # the reference is numpy's, too


@FAST
@given(n=st.integers(0, 300), relu6=st.booleans(), wild=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_relu_matches_ref(kernels, isa, n, relu6, wild, seed):
    rng = np.random.default_rng(seed)
    in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
    s_in, s_out = (float(v) for v in 2.0 ** rng.uniform(-8, -2, 2))
    m, s = wild_multiplier(rng) if wild else quantize_multiplier(s_in / s_out)
    hi = min(out_zp + round(6 / s_out), 127) if relu6 else 127
    params = dict(in_zp=in_zp, out_zp=out_zp, multiplier=m, shift=s, act_min=max(out_zp, -128), act_max=hi)
    x = rng.integers(-128, 128, n, dtype=np.int8)
    outs = []
    for v in ("ref", isa):
        o = np.full(n, 0x55, np.int8)
        kernels.table(v).ew.relu_s8(kernels.ffi.new("eq_relu_params *", params), n,
                                    kernels.ffi.cast("int8_t *", x.ctypes.data),
                                    kernels.ffi.cast("int8_t *", o.ctypes.data))
        outs.append(o)
    np.testing.assert_array_equal(outs[1], outs[0], err_msg=f"{isa} RELU n={n} {params}")


@st.composite
def pool_shapes(draw):
    fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    same = draw(st.booleans())
    oh, ow = (-(-h // sh), -(-w // sw)) if same else ((h - fh) // sh + 1, (w - fw) // sw + 1)
    if oh < 1 or ow < 1:
        oh, ow, fh, fw = h, w, 1, 1
    ph = max((oh - 1) * sh + fh - h, 0) // 2 if same else 0
    pw = max((ow - 1) * sw + fw - w, 0) // 2 if same else 0
    c = draw(st.sampled_from([1, 3, 8, 16, 20, 33, 64, 70, 130]))
    return dict(n=draw(st.integers(1, 2)), h=h, w=w, c=c, fh=fh, fw=fw, sh=sh, sw=sw, ph=ph, pw=pw, oh=oh, ow=ow)


@FAST
@given(shape=pool_shapes(), seed=st.integers(0, 2**32 - 1))
def test_pools_match_ref(kernels, isa, shape, seed):
    rng = np.random.default_rng(seed)
    ffi = kernels.ffi
    lo, hi = act_range(rng, int(rng.integers(-128, 128)))
    p = ffi.new("eq_pool_params *", dict(stride_h=shape["sh"], stride_w=shape["sw"], filter_h=shape["fh"],
                                          filter_w=shape["fw"], pad_h=shape["ph"], pad_w=shape["pw"],
                                          act_min=lo, act_max=hi))
    x = rng.integers(-128, 128, (shape["n"], shape["h"], shape["w"], shape["c"]), dtype=np.int8)
    oshape = (shape["n"], shape["oh"], shape["ow"], shape["c"])
    s_in, s_out = ffi.new("eq_shape4 *", x.shape), ffi.new("eq_shape4 *", oshape)
    for name in ("average_pool_s8", "max_pool_s8"):
        outs = []
        for v in ("ref", isa):
            o = np.full(oshape, 0x55, np.int8)
            getattr(kernels.table(v).ew, name)(p, s_in, ffi.cast("int8_t *", x.ctypes.data), s_out,
                                               ffi.cast("int8_t *", o.ctypes.data))
            outs.append(o)
        np.testing.assert_array_equal(outs[1], outs[0], err_msg=f"{isa} {name} {shape} act [{lo}, {hi}]")


def test_global_average_pool_rounds_half_away_from_zero(kernels, isa):
    """A 25x4 global pool (count 100, even, so sums can sit exactly halfway) with ties of both signs."""
    ffi = kernels.ffi
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, (1, 25, 4, 64)).astype(np.int8)
    x[0, :, :, :6] = 0
    x[0, 0, 0, :6] = [50, -50, 127, -127, 49, -49]
    x[0, 0, 1, 2:4] = [23, -23]  # channel 2: 150 -> 2, channel 3: -150 -> -2
    p = ffi.new("eq_pool_params *", dict(stride_h=1, stride_w=1, filter_h=25, filter_w=4, pad_h=0, pad_w=0,
                                          act_min=-128, act_max=127))
    outs = []
    for v in ("ref", isa):
        o = np.zeros((1, 1, 1, 64), np.int8)
        kernels.table(v).ew.average_pool_s8(p, ffi.new("eq_shape4 *", x.shape), ffi.cast("int8_t *", x.ctypes.data),
                                            ffi.new("eq_shape4 *", o.shape), ffi.cast("int8_t *", o.ctypes.data))
        outs.append(o)
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[0].ravel()[:6], [1, -1, 2, -2, 0, 0])
    s = x.astype(np.int64).sum(axis=(1, 2)).ravel()
    np.testing.assert_array_equal(outs[0].ravel(), np.where(s > 0, (s + 50) // 100, -((-s + 50) // 100)))


def test_every_elementwise_entry_is_set(kernels):
    """Each variant's table names a kernel for every elementwise op; ref builds ADD's tables, the SIMD
    variants compute the rescale (measured faster) and so spare the 2 kB."""
    for v in ("ref",) + SIMD:
        t = kernels.table(v)
        if t is None:
            continue
        for name in ("add_s8", "sub_s8", "mul_s8", "maximum_s8", "minimum_s8", "lut_s8", "relu_s8", "leaky_relu_s8",
                     "hard_swish_s8", "average_pool_s8", "max_pool_s8"):
            assert getattr(t.ew, name) != kernels.ffi.NULL, (v, name)
        assert t.ew.add_s8_wants_tables == (v == "ref")
