"""16x8 (int16 activation) one-op property tests: random symmetric-int16 models must give byte-identical
outputs in runtime_c and in LiteRT's reference kernels. One test per op family, Hypothesis derandomized
(fixed cases every run). Ops LiteRT has no int16 kernel for must be refused with UnsupportedError."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from onemodel import assert_bit_exact, build_op_model, run_reference, spec
from test_ops_hypothesis import draw_strided_slice

from edgeq import runtime
from edgeq.errors import UnsupportedError

CASES = settings(max_examples=50, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
I16 = "int16"


@st.composite
def rngs(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


@st.composite
def scales(draw, lo=1e-5, hi=1e-1):
    """A float32 scale, log-uniform in [lo, hi]."""
    return float(np.float32(math.exp(draw(st.floats(math.log(lo), math.log(hi))))))


def pot(k: int) -> float:
    return float(2.0 ** k)


def i16(rng, shape, full=True):
    """Full-range int16 values, or (full=False) a narrower spread as calibrated activations have."""
    hi = 32768 if full else int(rng.integers(8, 4096))
    return rng.integers(-hi, hi, size=shape).astype(np.int16)


@st.composite
def broadcast_shapes(draw, max_rank=5, max_dim=4):
    rank = draw(st.integers(1, max_rank))
    out = [draw(st.integers(1, max_dim)) for _ in range(rank)]
    rank2 = draw(st.integers(1, rank))
    a = [n if draw(st.booleans()) else 1 for n in out]
    b = [n if draw(st.booleans()) else 1 for n in out[rank - rank2:]]
    if draw(st.booleans()):
        a, b = b, a
    return a, b


def bshape(a, b):
    return list(np.broadcast_shapes(tuple(a), tuple(b)))


def conv_out(padding, size, k, stride):
    return (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride


# ------------------------------------------------------------------------------------ binary ops

@CASES
@given(data=st.data(), rng=rngs(), shapes=broadcast_shapes())
def test_add_sub_mul_general_scales(data, rng, shapes):
    d = data.draw
    op = d(st.sampled_from(["ADD", "SUB", "MUL"]))
    a, b = shapes
    s1, s2 = d(scales()), d(scales())
    if op == "MUL":
        s_out = float(np.float32(s1 * s2 * 32768 * d(st.floats(0.05, 4.0))))
    else:
        s_out = float(np.float32(max(s1, s2) * d(st.floats(0.5, 4.0))))
    opts = {"fused_activation_function": d(st.sampled_from(ACTS))}
    if op != "MUL":
        # pot_scale_int16 defaults to true; these scales are not powers of two, so either way is general
        opts["pot_scale_int16"] = d(st.booleans())
    model = build_op_model(op, [spec(a, I16, s1), spec(b, I16, s2)], [spec(bshape(a, b), I16, s_out)], opts)
    full = d(st.booleans())
    assert_bit_exact(model, [i16(rng, a, full), i16(rng, b, full)])


@CASES
@given(data=st.data(), rng=rngs())
def test_add_sub_power_of_two_scales(data, rng):
    """LiteRT's shift-only int16 path: every scale a power of two and pot_scale_int16 left at true."""
    d = data.draw
    op = d(st.sampled_from(["ADD", "SUB"]))
    k_out = d(st.integers(-15, -3))
    shifted = k_out - d(st.integers(0, 18))  # the smaller-scaled input is rounded right by the difference
    k1, k2 = (k_out, shifted) if d(st.booleans()) else (shifted, k_out)
    if op == "ADD":  # LiteRT has this path elementwise only
        a = b = [d(st.integers(1, 4)) for _ in range(d(st.integers(1, 4)))]
    else:
        a, b = d(broadcast_shapes(max_rank=4))
    opts = {"fused_activation_function": d(st.sampled_from(ACTS))}
    if d(st.booleans()):
        opts["pot_scale_int16"] = True
    model = build_op_model(op, [spec(a, I16, pot(k1)), spec(b, I16, pot(k2))], [spec(bshape(a, b), I16, pot(k_out))],
                           opts)
    assert_bit_exact(model, [i16(rng, a), i16(rng, b)])


@CASES
@given(data=st.data(), rng=rngs(), shapes=broadcast_shapes())
def test_maximum_minimum(data, rng, shapes):
    d = data.draw
    op = d(st.sampled_from(["MAXIMUM", "MINIMUM"]))
    a, b = shapes
    s = d(scales())
    model = build_op_model(op, [spec(a, I16, s), spec(b, I16, s)], [spec(bshape(a, b), I16, s)])
    assert_bit_exact(model, [i16(rng, a), i16(rng, b)])


@CASES
@given(data=st.data(), rng=rngs())
def test_prelu(data, rng):
    d = data.draw
    shape = [d(st.integers(1, 3)), d(st.integers(1, 5)), d(st.integers(1, 5)), d(st.integers(1, 6))]
    c = shape[-1]
    alpha_shape = d(st.sampled_from([[c], [1, 1, c], shape[1:]]))
    alpha = rng.integers(-128, 128, size=alpha_shape).astype(np.int8)
    s_in, s_a, s_out = d(scales()), d(scales(1e-3, 0.05)), d(scales())
    model = build_op_model("PRELU", [spec(shape, I16, s_in),
                                     spec(alpha_shape, "int8", s_a, d(st.integers(-20, 20)), data=alpha)],
                           [spec(shape, I16, s_out)])
    assert_bit_exact(model, [i16(rng, shape, d(st.booleans()))])


# ------------------------------------------------------------------------------------- pooling

@CASES
@given(data=st.data(), rng=rngs())
def test_pool_2d(data, rng):
    d = data.draw
    op = d(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
    n, h, w, c = d(st.integers(1, 2)), d(st.integers(1, 9)), d(st.integers(1, 9)), d(st.integers(1, 5))
    fh, fw, sh, sw = d(st.integers(1, 4)), d(st.integers(1, 4)), d(st.integers(1, 3)), d(st.integers(1, 3))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh, ow = conv_out(padding, h, fh, sh), conv_out(padding, w, fw, sw)
    assume(oh > 0 and ow > 0)
    s = d(scales())
    model = build_op_model(
        op, [spec([n, h, w, c], I16, s)], [spec([n, oh, ow, c], I16, s)],
        {"padding": padding, "stride_h": sh, "stride_w": sw, "filter_height": fh, "filter_width": fw,
         "fused_activation_function": d(st.sampled_from(ACTS))})
    assert_bit_exact(model, [i16(rng, (n, h, w, c))])


# ---------------------------------------------------------------------------------- activations

@CASES
@given(data=st.data(), rng=rngs())
def test_relu_relu6_leaky_relu(data, rng):
    d = data.draw
    op = d(st.sampled_from(["RELU", "RELU6", "LEAKY_RELU"]))
    shape = [d(st.integers(1, 4)) for _ in range(d(st.integers(1, 4)))]
    s_in = d(scales())
    s_out = float(np.float32(s_in * d(st.floats(0.1, 3.0))))
    opts = {"alpha": float(np.float32(d(st.sampled_from([0.01, 0.2, 0.5, 1.5, -0.3]))))} if op == "LEAKY_RELU" else {}
    model = build_op_model(op, [spec(shape, I16, s_in)], [spec(shape, I16, s_out)], opts)
    assert_bit_exact(model, [i16(rng, shape, d(st.booleans()))])


@CASES
@given(data=st.data(), rng=rngs())
def test_logistic_tanh(data, rng):
    """Both of LiteRT's int16 scalings: power-of-two input scales (2^-12, and 2^-11 for TANH) and general
    scales folded into a multiplier; the whole int16 input range is swept."""
    d = data.draw
    op = d(st.sampled_from(["LOGISTIC", "TANH"]))
    kind = d(st.sampled_from(["pot", "general", "general"]))
    if kind == "pot":
        s_in = pot(d(st.sampled_from([-12, -11] if op == "TANH" else [-12])))
    else:
        s_in = d(scales(1e-6, 1.0))
    n = d(st.integers(1, 300))
    x = np.concatenate([np.arange(-32768, 32768, 97, dtype=np.int64), rng.integers(-32768, 32768, n)])
    x = x.astype(np.int16).reshape(1, -1)
    model = build_op_model(op, [spec(x.shape, I16, s_in)], [spec(x.shape, I16, pot(-15))])
    assert_bit_exact(model, [x])


@CASES
@given(data=st.data(), rng=rngs())
def test_softmax(data, rng):
    d = data.draw
    shape = [d(st.integers(1, 3)) for _ in range(d(st.integers(0, 2)))] + [d(st.integers(1, 40))]
    s_in = d(scales(1e-5, 1e-2))
    beta = d(st.sampled_from([1.0, 0.5, 2.0, 0.1]))
    model = build_op_model("SOFTMAX", [spec(shape, I16, s_in)], [spec(shape, I16, pot(-15))], {"beta": beta})
    assert_bit_exact(model, [i16(rng, shape, d(st.booleans()))])


# ------------------------------------------------------------------------------- data movement

@CASES
@given(data=st.data(), rng=rngs())
def test_pad(data, rng):
    d = data.draw
    rank = d(st.integers(1, 4))
    shape = [d(st.integers(1, 4)) for _ in range(rank)]
    pads = np.array([[d(st.integers(0, 2)), d(st.integers(0, 2))] for _ in range(rank)], np.int32)
    out = [n + int(p.sum()) for n, p in zip(shape, pads)]
    s = d(scales())
    op = d(st.sampled_from(["PAD", "PADV2"]))
    inputs = [spec(shape, I16, s), spec([rank, 2], "int32", data=pads)]
    if op == "PADV2":
        inputs.append(spec([1], I16, s, data=np.array([d(st.integers(-32768, 32767))], np.int16)))
    model = build_op_model(op, inputs, [spec(out, I16, s)])
    assert_bit_exact(model, [i16(rng, shape)])


@CASES
@given(data=st.data(), rng=rngs())
def test_concatenation(data, rng):
    d = data.draw
    rank = d(st.integers(1, 4))
    base = [d(st.integers(1, 4)) for _ in range(rank)]
    axis = d(st.integers(-rank, rank - 1))
    shapes = []
    for _ in range(d(st.integers(1, 4))):
        sh = list(base)
        sh[axis] = d(st.integers(1, 4))
        shapes.append(sh)
    out = list(base)
    out[axis] = sum(sh[axis] for sh in shapes)
    s = d(scales())
    model = build_op_model("CONCATENATION", [spec(sh, I16, s) for sh in shapes], [spec(out, I16, s)],
                           {"axis": axis})
    assert_bit_exact(model, [i16(rng, sh) for sh in shapes])


@CASES
@given(data=st.data(), rng=rngs())
def test_transpose_reshape(data, rng):
    d = data.draw
    op = d(st.sampled_from(["TRANSPOSE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"]))
    rank = d(st.integers(1, 6 if op in ("TRANSPOSE", "RESHAPE") else 5))  # runtime_c holds up to 6 dims
    shape = [d(st.integers(1, 4)) for _ in range(rank)]
    s = d(scales())
    if op == "TRANSPOSE":
        perm = d(st.permutations(list(range(rank))))
        model = build_op_model(op, [spec(shape, I16, s), spec([rank], "int32", data=np.array(perm, np.int32))],
                               [spec([shape[p] for p in perm], I16, s)])
    elif op == "RESHAPE":
        out = [int(np.prod(shape))]
        model = build_op_model(op, [spec(shape, I16, s), spec([1], "int32", data=np.array(out, np.int32))],
                               [spec(out, I16, s)])
    elif op == "SQUEEZE":
        model = build_op_model(op, [spec(shape + [1], I16, s)], [spec(shape, I16, s)], {"squeeze_dims": [rank]})
        shape = shape + [1]
    else:
        model = build_op_model(op, [spec(shape, I16, s), spec([1], "int32", data=np.array([0], np.int32))],
                               [spec([1] + shape, I16, s)])
    assert_bit_exact(model, [i16(rng, shape)])


@CASES
@given(data=st.data(), rng=rngs())
def test_strided_slice(data, rng):
    d = data.draw
    rank = d(st.integers(1, 4))
    shape = [d(st.integers(1, 6)) for _ in range(rank)]
    begin, end, strides, opts = draw_strided_slice(d, shape)  # the int8 suite's draw: every mask
    n = len(begin)
    s = d(scales())

    def model_with(out_shape):
        return build_op_model("STRIDED_SLICE", [
            spec(shape, I16, s), spec([n], "int32", data=np.array(begin, np.int32)),
            spec([n], "int32", data=np.array(end, np.int32)), spec([n], "int32", data=np.array(strides, np.int32))],
            [spec(out_shape, I16, s)], opts)

    x = i16(rng, shape)
    try:
        (probe,) = run_reference(model_with([1]), x)  # LiteRT resizes the output: ask it for the shape
    except (RuntimeError, ValueError):
        assume(False)  # a mask combination LiteRT rejects
    assume(probe.size > 0)
    assert_bit_exact(model_with(list(probe.shape)), [x])


# ----------------------------------------------------------------------------------- reductions

@CASES
@given(data=st.data(), rng=rngs())
def test_mean(data, rng):
    d = data.draw
    rank = d(st.integers(1, 5))
    shape = [d(st.integers(1, 6)) for _ in range(rank)]
    axes = d(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank + 1))
    keep = d(st.booleans())
    red = {a % rank for a in axes}
    out = [1 if k in red else n for k, n in enumerate(shape)] if keep else \
        [n for k, n in enumerate(shape) if k not in red]
    s_in = d(scales())
    s_out = float(np.float32(s_in * d(st.floats(0.2, 5.0))))
    model = build_op_model("MEAN", [spec(shape, I16, s_in), spec([len(axes)], "int32", data=np.array(axes, np.int32))],
                           [spec(out, I16, s_out)], {"keep_dims": keep})
    assert_bit_exact(model, [i16(rng, shape)])


# ---------------------------------------------------------------------- quantize / dequantize

@CASES
@given(data=st.data(), rng=rngs())
def test_quantize_dequantize(data, rng):
    d = data.draw
    shape = [d(st.integers(1, 5)) for _ in range(d(st.integers(1, 3)))]
    pair = d(st.sampled_from(["f32>i16", "i16>f32", "i16>i8", "i8>i16", "i16>i16", "i16>i32", "i32>i16",
                              "i32>i8", "u8>i16"]))
    src, dst = pair.split(">")
    s_in, s_out = d(scales()), d(scales())
    zp8 = d(st.integers(-128, 127))

    def tensor(kind, s):
        if kind == "f32":
            return spec(shape, "float32")
        if kind == "i8":
            return spec(shape, "int8", s, zp8)
        if kind == "u8":
            return spec(shape, "uint8", s, zp8 + 128)
        return spec(shape, {"i16": I16, "i32": "int32"}[kind], s)

    op = "DEQUANTIZE" if dst == "f32" else "QUANTIZE"
    model = build_op_model(op, [tensor(src, s_in)], [tensor(dst, s_out)])
    if src == "f32":
        x = (rng.standard_normal(shape) * s_out * d(st.sampled_from([10.0, 3000.0, 60000.0]))).astype(np.float32)
    elif src == "i8":
        x = rng.integers(-128, 128, size=shape).astype(np.int8)
    elif src == "u8":
        x = rng.integers(0, 256, size=shape).astype(np.uint8)
    elif src == "i16":
        x = i16(rng, shape)
    else:
        x = rng.integers(-(1 << 24), 1 << 24, size=shape).astype(np.int32)
    assert_bit_exact(model, [x])


# ---------------------------------------------------------------------------------- refusals

def test_unsupported_int16_forms_are_refused():
    """HARD_SWISH has no int16 kernel in LiteRT; an int16 PRELU alpha is misread by LiteRT (its kernel
    reads int8); int16 CONCATENATION with differing scales would copy raw values unscaled."""
    s = 1e-3
    cases = [
        build_op_model("HARD_SWISH", [spec([1, 4], I16, s)], [spec([1, 4], I16, s)]),
        build_op_model("PRELU", [spec([1, 4], I16, s), spec([4], I16, s, data=np.arange(4))], [spec([1, 4], I16, s)]),
        build_op_model("CONCATENATION", [spec([1, 2], I16, s), spec([1, 2], I16, 2 * s)], [spec([1, 4], I16, s)],
                       {"axis": 1}),
    ]
    with pytest.raises(RuntimeError):  # the first really is missing in LiteRT too
        run_reference(cases[0], np.zeros((1, 4), np.int16))
    for model in cases:
        with pytest.raises(UnsupportedError):
            runtime.Interpreter(model)


# ------------------------------------------------------------ whole 16x8 models from TFLite's quantizer

def tflite_16x8(model: bytes, shape, rng, interface: str) -> bytes:
    """TFLite's own 16x8 post-training quantization (int16 activations, int8 weights, int64 bias) through
    ai-edge-litert's calibration wrapper, with an int16 or float32 model interface."""
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as cw

    w = cw.CalibrationWrapper(model, [], [])
    w.Prepare([list(shape)])
    for _ in range(4):
        w.FeedTensor([rng.standard_normal(shape).astype(np.float32)])
    io = np.dtype(np.int16 if interface == "int16" else np.float32).num
    return bytes(w.QuantizeModel(io, io, False, np.dtype(np.int16).num, np.dtype(np.int64).num, False, False))


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["ad01_fp32.tflite", "vww_96_float.tflite", "pretrainedResnet.tflite"])
def test_mlperf_models_quantized_16x8_by_tflite(zoo, name):
    """The MLPerf float models quantized 16x8 by TFLite itself (AD: FULLY_CONNECTED; VWW: conv, depthwise,
    AVERAGE_POOL_2D, RESHAPE, SOFTMAX; ResNet: conv, ADD, pools, SOFTMAX), with the int16 interface and
    with QUANTIZE/DEQUANTIZE at a float32 one, give LiteRT's bytes."""
    from ai_edge_litert.interpreter import Interpreter

    src = (zoo / "mlperf_tiny" / name).read_bytes()
    it = Interpreter(model_content=src)
    shape = [1, *it.get_input_details()[0]["shape"][1:]]
    rng = np.random.default_rng(5)
    for interface in ("int16", "float32"):
        model = tflite_16x8(src, shape, rng, interface)
        rt = runtime.Interpreter(model)
        x = rng.standard_normal(shape).astype(np.float32) * 2
        if interface == "int16":
            x = np.clip(np.round(x / rt.inputs[0].scale), -32768, 32767).astype(np.int16)
        assert_bit_exact(model, [x])


# -------------------------------------------------------------------- int8-only builds (-DEQ_WITH_INT16=0)

def test_int16_paths_compile_out(tmp_path):
    """An image for int8-only models is built with -DEQ_WITH_INT16=0: the ops then reference no int16
    kernel at all (so none is linked), while the default build does reference them."""
    import shutil
    import subprocess

    if shutil.which("gcc") is None or shutil.which("nm") is None:
        pytest.skip("needs gcc and nm")
    rt = runtime.RUNTIME_DIR
    ops = [p for p in sorted((rt / "src" / "ops").glob("*.c"))
           if p.stem not in ("conv_2d", "depthwise_conv_2d", "fully_connected", "registry")]

    def undefined_s16(flags):
        out = tmp_path / ("off" if flags else "on")
        out.mkdir()
        subprocess.run(["gcc", "-std=c99", "-O2", *flags, f"-I{rt / 'include'}", f"-I{rt / 'src'}", f"-I{rt / 'kernels'}",
                        "-c", *map(str, ops)], check=True, cwd=out)
        nm = subprocess.run(["nm", "-u", *sorted(map(str, out.glob("*.o")))], capture_output=True, text=True,
                            check=True).stdout
        return {s for s in nm.split() if "_s16" in s or s == "eq_requantize_int"}

    assert len(undefined_s16([])) >= 15  # the default build calls the int16 kernels
    assert undefined_s16(["-DEQ_WITH_INT16=0"]) == set()
