"""Every SIMD variant of the conv / depthwise / fully connected kernels gives the same bytes as the reference
kernel on the same inputs: random shapes, strides, dilations, paddings, depth multipliers, zero points,
per-channel multipliers and activation ranges (Hypothesis, derandomized), plus the layer shapes of the
MLPerf Tiny models. A variant this CPU lacks is skipped with the reason."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
import kernel_shim  # noqa: E402
from kernel_shim import SIMD, draw_window, isa, kernels, out_size, quant  # noqa: E402,F401  (isa, kernels: fixtures)

FAST = settings(derandomize=True, deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def act_range(rng: np.random.Generator, out_zp: int) -> tuple[int, int]:
    kind = rng.integers(4)
    if kind == 0:
        return -128, 127
    if kind == 1:
        return max(out_zp, -128), 127  # RELU
    lo, hi = sorted(rng.integers(-128, 128, 2))
    return int(lo), int(hi)


def conv_case(seed: int, n, h, w, cin, cout, kh, kw, sh, sw, dh, dw, pad_h, pad_w, depthwise, dm):
    rng = np.random.default_rng(seed)
    cout = cin * dm if depthwise else cout
    oh, ow = out_size(h, kh, sh, dh, pad_h), out_size(w, kw, sw, dw, pad_w)
    in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
    lo, hi = act_range(rng, out_zp)
    params = dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=pad_h, pad_w=pad_w,
                  depth_multiplier=dm if depthwise else 1, input_offset=-in_zp, output_offset=out_zp,
                  act_min=lo, act_max=hi)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    wshape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    wt = rng.integers(-127, 128, wshape, dtype=np.int8)
    bias = rng.integers(-20000, 20000, cout, dtype=np.int32) if rng.random() < 0.85 else None
    mult, shift = quant(rng, cout, kh * kw * (1 if depthwise else cin), per_channel=rng.random() < 0.8)
    return params, x, wt, bias, mult, shift, (n, oh, ow, cout)


def check_conv(kernels, isa, depthwise, case):
    params, x, wt, bias, mult, shift, oshape = case
    ref = kernels.conv("ref", depthwise, params, x, wt, bias, mult, shift, oshape)
    got = kernels.conv(isa, depthwise, params, x, wt, bias, mult, shift, oshape)
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} {params} in {x.shape} filter {wt.shape}")


@st.composite
def conv_shapes(draw, depthwise: bool):
    window = draw_window(draw, 14)
    cin = draw(st.integers(1, 40 if depthwise else 70))
    cout = draw(st.integers(1, 80))
    dm = draw(st.sampled_from([1, 1, 1, 2, 3])) if depthwise else 1
    return dict(window, n=draw(st.integers(1, 2)), cin=cin, cout=cout, depthwise=depthwise, dm=dm)


@FAST
@given(shape=conv_shapes(depthwise=False), seed=st.integers(0, 2**32 - 1))
def test_conv2d_matches_ref(kernels, isa, shape, seed):
    check_conv(kernels, isa, False, conv_case(seed, **shape))


@FAST
@given(shape=conv_shapes(depthwise=True), seed=st.integers(0, 2**32 - 1))
def test_depthwise_conv2d_matches_ref(kernels, isa, shape, seed):
    check_conv(kernels, isa, True, conv_case(seed, **shape))


@FAST
@given(batches=st.integers(1, 3), in_depth=st.integers(1, 700), out_depth=st.integers(1, 140),
       filter_zp=st.sampled_from([0, 0, 0, 3, -7]), seed=st.integers(0, 2**32 - 1))
def test_fully_connected_matches_ref(kernels, isa, batches, in_depth, out_depth, filter_zp, seed):
    rng = np.random.default_rng(seed)
    in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
    lo, hi = act_range(rng, out_zp)
    params = dict(input_offset=-in_zp, filter_offset=-filter_zp, output_offset=out_zp, act_min=lo, act_max=hi)
    x = rng.integers(-128, 128, (batches, in_depth), dtype=np.int8)
    wt = rng.integers(-127, 128, (out_depth, in_depth), dtype=np.int8)
    bias = rng.integers(-20000, 20000, out_depth, dtype=np.int32) if rng.random() < 0.85 else None
    mult, shift = quant(rng, out_depth, in_depth, per_channel=rng.random() < 0.3)
    ref = kernels.fully_connected("ref", params, x, wt, bias, mult, shift)
    got = kernels.fully_connected(isa, params, x, wt, bias, mult, shift)
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} {params} batches {batches} {in_depth}->{out_depth}")


@FAST
@given(shape=conv_shapes(depthwise=True), cin=st.sampled_from([1, 2, 4, 8]), seed=st.integers(0, 2**32 - 1))
def test_narrow_depthwise_matches_ref(kernels, isa, shape, cin, seed):
    """Few-channel depthwise layers (VWW's first is 8 channels) with stride 1 across: the variants put
    several output pixels in one vector there."""
    shape = dict(shape, cin=cin, dm=1, sw=1)
    shape["w"] = max(shape["w"], (shape["kw"] - 1) * shape["dw"] + 1)
    check_conv(kernels, isa, True, conv_case(seed, **shape))


def conv_packed(kernels, isa, depthwise, params, x, wt, bias, mult, shift, oshape):
    """The variant's prepare-time packing then its packed run (None when it does not pack this shape).
    Scratch and packed bytes start as junk, as a reused arena holds, and sit 16 bytes in (the arena's
    alignment promise)."""
    ffi = kernels.ffi
    t = kernels.table(isa)
    pk = t.depthwise_conv2d_s8_pack if depthwise else t.conv2d_s8_pack
    if pk == ffi.NULL:
        return None
    p = ffi.new("eq_conv_params *", params)
    s_in, s_f, s_out = (ffi.new("eq_shape4 *", s) for s in (x.shape, wt.shape, oshape))
    size = pk.packed_size(p, s_in, s_f, s_out)
    if size == 0:
        return None
    packed = np.full(size + 16, 0x5A, np.uint8)
    q = kernels._quant(mult, shift)
    pk.pack(p, q, s_in, s_f, ffi.cast("int8_t *", wt.ctypes.data), kernels._ptr("int32_t *", bias), s_out,
            ffi.cast("void *", packed.ctypes.data + 16))
    mult[:], shift[:] = 0, 0  # everything eval needs must be in the packed bytes
    scratch = np.full(pk.scratch_size(p, s_in, s_f, s_out) + 16, 0x5A, np.uint8)
    out = np.zeros(oshape, np.int8)
    pk.run(p, s_in, ffi.cast("int8_t *", x.ctypes.data), s_f, ffi.cast("void *", packed.ctypes.data + 16), s_out,
           ffi.cast("int8_t *", out.ctypes.data), ffi.cast("void *", scratch.ctypes.data + 16))
    return out


@FAST
@given(shape=conv_shapes(depthwise=False), seed=st.integers(0, 2**32 - 1))
def test_conv2d_packed_at_prepare_matches_ref(kernels, isa, shape, seed):
    params, x, wt, bias, mult, shift, oshape = conv_case(seed, **shape)
    ref = kernels.conv("ref", False, params, x, wt, bias, mult, shift, oshape)
    got = conv_packed(kernels, isa, False, params, x, wt, bias, mult.copy(), shift.copy(), oshape)
    assert got is not None, f"{isa} does not pack {shape}"
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} packed {params} in {x.shape} filter {wt.shape}")


def test_ref_packs_nothing(kernels):
    """The reference variant (every microcontroller build) reads the model's weights in place: no packed
    copy in its arena."""
    t = kernels.table("ref")
    assert t.conv2d_s8_pack == kernels.ffi.NULL and t.depthwise_conv2d_s8_pack == kernels.ffi.NULL
    assert t.fully_connected_s8_pack == kernels.ffi.NULL


MLPERF_DISTINCT = sorted({layer for layers in kernel_shim.MLPERF_LAYERS.values() for layer in layers}, key=str)


@pytest.mark.parametrize("layer", MLPERF_DISTINCT, ids=lambda t: "_".join(map(str, t)))
def test_mlperf_layer_shapes(kernels, isa, layer):
    """The exact layer shapes of the MLPerf Tiny models (as the models quantize them: SAME padding, input zero
    point -128, or 89 for the first AD layer)."""
    case = kernel_shim.layer_case(layer, np.random.default_rng(len(str(layer))))
    ref_run, ref = kernel_shim.layer_call(kernels, "ref", case)
    run, got = kernel_shim.layer_call(kernels, isa, case)
    ref_run()
    run()
    np.testing.assert_array_equal(got, ref, err_msg=f"{isa} {layer}")


def test_dispatch_picks_best_and_honours_edgeq_isa(kernels):
    """eq_kernels() picks the best variant this CPU runs; EDGEQ_ISA forces one it runs and is ignored
    otherwise. Each case runs in a fresh process since the choice is made once."""
    best = next((v for v in ("avx512vnni", "avx2") if kernels.table(v) is not None), "ref")
    code = ("import sys; sys.path.insert(0, %r); import kernel_shim; print(kernel_shim.Kernels().default_isa())"
            % os.path.dirname(__file__))

    def chosen(env_isa: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "EDGEQ_ISA"}
        if env_isa is not None:
            env["EDGEQ_ISA"] = env_isa
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert chosen(None) == best
    assert chosen("ref") == "ref"
    assert chosen("no-such-isa") == best
    for v in SIMD:
        assert chosen(v) == (v if kernels.table(v) is not None else best)
    assert kernels.table("neon") is None  # an Arm variant is never offered on this host


# -- through the interpreter: every variant gives the reference variant's outputs on whole models -------------
RUN_MODEL = """
import sys, numpy as np
from edgeq.runtime import Interpreter
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
it = Interpreter(path)
rng = np.random.default_rng(0)
res = []
for _ in range(n):
    xs = [rng.integers(-128, 128, t.shape).astype(t.dtype) if np.issubdtype(t.dtype, np.integer)
          else rng.standard_normal(t.shape).astype(t.dtype) for t in it.inputs]
    res.append(np.concatenate([o.reshape(-1).view(np.uint8) for o in it.run(*xs)]))
np.save(out, np.stack(res))
"""


def outputs_per_isa(model_path, tmp_path, isas, n: int) -> dict[str, np.ndarray]:
    """Run the model in one fresh process per forced EDGEQ_ISA (the choice is made once per process)."""
    from edgeq import runtime
    runtime.lib()  # build the library here, so the subprocesses only load it
    got = {}
    for v in isas:
        out = tmp_path / f"{v}.npy"
        env = dict(os.environ, EDGEQ_ISA=v)
        subprocess.run([sys.executable, "-c", RUN_MODEL, str(model_path), str(n), str(out)], env=env, check=True,
                       capture_output=True, text=True)
        got[v] = np.load(out)
    return got


def runnable_variants(kernels) -> list[str]:
    return ["ref"] + [v for v in SIMD if kernels.table(v) is not None]


def test_interpreter_variants_agree_on_project_model(kernels, tmp_path):
    from test_runtime_core import tiny_model
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tiny_model())
    got = outputs_per_isa(path, tmp_path, runnable_variants(kernels), n=8)
    for v, o in got.items():
        np.testing.assert_array_equal(o, got["ref"], err_msg=f"EDGEQ_ISA={v} differs from ref")


@pytest.mark.parametrize("name", ["vww_96_int8", "pretrainedResnet_quant", "kws_ref_model", "ad01_int8"])
def test_interpreter_variants_agree_on_mlperf_models(kernels, zoo, tmp_path, name):
    got = outputs_per_isa(zoo / "mlperf_tiny" / f"{name}.tflite", tmp_path, runnable_variants(kernels), n=10)
    for v, o in got.items():
        np.testing.assert_array_equal(o, got["ref"], err_msg=f"{name}: EDGEQ_ISA={v} differs from ref")
