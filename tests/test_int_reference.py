"""The numpy integer reference (edgeq.reference.int_exec.run_int) against both bit-exact engines, compute ops:
for every one runtime_c runs, in every dtype it runs it in, Hypothesis-drawn one-op models give the same bytes
in run_int, in LiteRT's reference kernels (BUILTIN_REF) and in runtime_c; where LiteRT has no kernel (INT4
depthwise, which LiteRT refuses with int8 activations and misreads in 16x8) run_int is checked against
runtime_c alone. Each case also runs run_int on two samples stacked on axis 0, which must give each sample's
own result (int_reference_check.three_way). Data movement, MEAN and QUANTIZE: test_int_reference_shape.py;
the MLPerf models: test_int_reference_zoo.py."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from int_reference_check import ACTS, CASES, dims, each_dtype, ints, qp, three_way
from onemodel import build_op_model, spec
from test_ops_hypothesis import bshape, broadcast_shapes, conv_out, qparams, rngs
from test_ops_int16 import pot, scales
from test_ops_lowbit import as_int4, build, layers

from edgeq import runtime
from edgeq.errors import UnsupportedError
from edgeq.model.tflite_io import read_tflite
from edgeq.reference.int_exec import run_int, supported_ops


# ------------------------------------------------------------------------- conv, depthwise, FC, pools

@pytest.mark.parametrize("kind,scheme", [(k, s) for k in ("conv", "dw", "fc")
                                         for s in ("int8", "int4", "16x8", "16x8_bias32", "w4a16")
                                         if (k, s) != ("dw", "16x8_bias32")])  # 16x8 depthwise: int64 bias only
@CASES
@given(data=st.data())
def test_matmul_ops(kind, scheme, data):
    L = data.draw(layers(kind))
    rng = L["rng"]
    if scheme in ("int8", "int4"):
        wmax = 127 if scheme == "int8" else 7
        model, x = build(L, "int8", wmax, "int32", in_zp=int(rng.integers(-128, 128)),
                         out_zp=int(rng.integers(-20, 21)))
    elif scheme == "16x8_bias32":
        model, x = build(L, "int16", 127, "int32", options_extra={"quantized_bias_type": "INT32"})
    else:
        model, x = build(L, "int16", 7 if scheme == "w4a16" else 127, "int64")
    if scheme in ("int4", "w4a16"):
        model = as_int4(model, "filter")
    # LiteRT has no INT4 depthwise with int8 activations and misreads 16x8 INT4 depthwise filters
    three_way(model, [x], litert=not (kind == "dw" and scheme in ("int4", "w4a16")))


def test_fully_connected_exact_ties():
    """Power-of-two scales put many accumulators exactly on .5: int8 FULLY_CONNECTED rounds those away from
    zero (negative ties down), unlike the two-step rounding of the other ops."""
    from test_fc_ties import tie_cases

    cases = list(tie_cases())
    assert sum(int(((a % 2 == 1) & (a < 0) & (a > -255)).sum()) for _, _, a in cases) > 50
    for model, x, _ in cases:
        three_way(model, [x])


@each_dtype()
def test_pool_2d(dtype, data, rng):
    d = data.draw
    op = d(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
    h, w, c = d(st.integers(1, 9)), d(st.integers(1, 9)), d(st.integers(1, 5))
    fh, fw, sh, sw = d(st.integers(1, 4)), d(st.integers(1, 4)), d(st.integers(1, 3)), d(st.integers(1, 3))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh, ow = conv_out(padding, h, fh, sh, 1), conv_out(padding, w, fw, sw, 1)
    assume(oh > 0 and ow > 0)
    s, z = qp(d, dtype)
    model = build_op_model(op, [spec([1, h, w, c], dtype, s, z)], [spec([1, oh, ow, c], dtype, s, z)],
                           {"padding": padding, "stride_h": sh, "stride_w": sw, "filter_height": fh,
                            "filter_width": fw, "fused_activation_function": d(st.sampled_from(ACTS))})
    three_way(model, [ints(rng, dtype, (1, h, w, c))])


@each_dtype()
def test_softmax(dtype, data, rng):
    d = data.draw
    shape = [1] + dims(d, 0, 2, 3) + [d(st.integers(1, 30))]
    beta = d(st.sampled_from([1.0, 0.5, 2.0]))
    if dtype == "int8":
        s, z = d(qparams(1e-3, 1.0))
        out = spec(shape, scale=1 / 256, zero_point=-128)
    else:
        s, z = d(scales(1e-5, 1e-2)), 0
        out = spec(shape, dtype, pot(-15))
    model = build_op_model("SOFTMAX", [spec(shape, dtype, s, z)], [out], {"beta": beta})
    three_way(model, [ints(rng, dtype, shape, d(st.booleans()))])


# ------------------------------------------------------------------------------------- binary ops

@each_dtype(shapes=broadcast_shapes())
def test_add_sub_mul(dtype, data, rng, shapes):
    """General scales, inputs broadcast up to 6-D (int16 too: non-power-of-two scales take the general path)."""
    d = data.draw
    op = d(st.sampled_from(["ADD", "SUB", "MUL"]))
    a, b = shapes
    (s1, z1), (s2, z2) = qp(d, dtype), qp(d, dtype)
    span = 128 if dtype == "int8" else 32768
    if op == "MUL":
        s_out = float(np.float32(s1 * s2 * span * d(st.floats(0.05, 4.0))))
    else:
        s_out = float(np.float32(max(s1, s2) * d(st.floats(0.5, 4.0))))
    z_out = d(st.integers(-128, 127)) if dtype == "int8" else 0
    opts = {"fused_activation_function": d(st.sampled_from(ACTS))}
    model = build_op_model(op, [spec(a, dtype, s1, z1), spec(b, dtype, s2, z2)],
                           [spec(bshape(a, b), dtype, s_out, z_out)], opts)
    full = d(st.booleans())
    three_way(model, [ints(rng, dtype, a, full), ints(rng, dtype, b, full)])


@CASES
@given(data=st.data(), rng=rngs())
def test_add_sub_int16_power_of_two_scales(data, rng):
    """LiteRT's shift-only int16 path (power-of-two scales, pot_scale_int16 at its default true)."""
    d = data.draw
    op = d(st.sampled_from(["ADD", "SUB"]))
    k_out = d(st.integers(-15, -3))
    shifted = k_out - d(st.integers(0, 18))
    k1, k2 = (k_out, shifted) if d(st.booleans()) else (shifted, k_out)
    if op == "ADD":  # elementwise only
        a = b = dims(d)
    else:
        a, b = d(broadcast_shapes(max_rank=4))
    model = build_op_model(op, [spec(a, "int16", pot(k1)), spec(b, "int16", pot(k2))],
                           [spec(bshape(a, b), "int16", pot(k_out))],
                           {"fused_activation_function": d(st.sampled_from(ACTS))})
    three_way(model, [ints(rng, "int16", a), ints(rng, "int16", b)])


@each_dtype(shapes=broadcast_shapes())
def test_maximum_minimum(dtype, data, rng, shapes):
    d = data.draw
    a, b = shapes
    s, z = qp(d, dtype)
    op = d(st.sampled_from(["MAXIMUM", "MINIMUM"]))
    model = build_op_model(op, [spec(a, dtype, s, z), spec(b, dtype, s, z)], [spec(bshape(a, b), dtype, s, z)])
    three_way(model, [ints(rng, dtype, a), ints(rng, dtype, b)])


@each_dtype()
def test_prelu(dtype, data, rng):
    """Alpha (int8 for both input types, as LiteRT's 16x8 kernel reads it) broadcast against the input."""
    d = data.draw
    shape = [1] + dims(d, 1, 3)
    ashape = [k if d(st.booleans()) else 1 for k in shape[-d(st.integers(1, len(shape) - 1)):]]
    (s_in, z_in), (s_out, z_out) = qp(d, dtype), qp(d, dtype)
    s_a, z_a = d(qparams(1e-3, 0.05))
    model = build_op_model("PRELU", [spec(shape, dtype, s_in, z_in),
                                     spec(ashape, "int8", s_a, z_a, data=ints(rng, "int8", ashape))],
                           [spec(shape, dtype, s_out, z_out)])
    three_way(model, [ints(rng, dtype, shape, d(st.booleans()))])


# ----------------------------------------------------------------------------------- activations

@each_dtype()
def test_relu_relu6_leaky_relu(dtype, data, rng):
    d = data.draw
    op = d(st.sampled_from(["RELU", "RELU6", "LEAKY_RELU"]))
    shape = dims(d)
    s_in, z_in = qp(d, dtype, hi=0.2 if dtype == "int8" else None)
    s_out = float(np.float32(s_in * d(st.floats(0.1, 3.0))))
    z_out = d(st.integers(-128, 127)) if dtype == "int8" else 0
    opts = {"alpha": d(st.floats(-1.0, 1.5, width=32))} if op == "LEAKY_RELU" else {}
    model = build_op_model(op, [spec(shape, dtype, s_in, z_in)], [spec(shape, dtype, s_out, z_out)], opts)
    three_way(model, [ints(rng, dtype, shape, d(st.booleans()))])


@CASES
@given(data=st.data())
def test_int8_table_activations_full_range(data):
    """LOGISTIC, TANH (tables built in float32 with the C library's expf / tanhf) and HARD_SWISH (16-bit
    fixed point) on every one of the 256 input codes."""
    d = data.draw
    op = d(st.sampled_from(["LOGISTIC", "TANH", "TANH", "HARD_SWISH"]))
    s_in, z_in = d(qparams(1e-3, 0.3))
    if op == "LOGISTIC":
        s_out, z_out = 1 / 256, -128
    elif op == "TANH":
        s_out, z_out = (1 / 128, 0) if d(st.booleans()) else d(qparams(1e-3, 0.05))
    else:
        s_out, z_out = float(np.float32(s_in * d(st.floats(0.2, 4.0)))), d(st.integers(-128, 127))
    model = build_op_model(op, [spec([2, 128], scale=s_in, zero_point=z_in)],
                           [spec([2, 128], scale=s_out, zero_point=z_out)])
    three_way(model, [np.arange(-128, 128, dtype=np.int8).reshape(2, 128)])


@pytest.mark.parametrize("op,s_in,z_in,s_out,z_out", [
    ("LOGISTIC", 0.006900842301547527, 87, 1 / 256, -128),
    ("TANH", 0.004865820053964853, -79, 1 / 128, 0),
    ("TANH", 0.019941234961152077, -32, 0.009526865556836128, 78)])
def test_int8_tables_follow_the_c_library(op, s_in, z_in, s_out, z_out):
    """Parameters where one table entry depends on the last bit of expf / tanhf: numpy's float32 exp / tanh
    (and, for the first TANH, correctly rounded values too) put it one off runtime_c's and LiteRT's."""
    model = build_op_model(op, [spec([2, 128], scale=s_in, zero_point=z_in)],
                           [spec([2, 128], scale=s_out, zero_point=z_out)])
    three_way(model, [np.arange(-128, 128, dtype=np.int8).reshape(2, 128)])


@CASES
@given(data=st.data(), rng=rngs())
def test_int16_logistic_tanh(data, rng):
    """Power-of-two input scales (LiteRT's 3 << k multiplier) and general ones, the int16 range swept."""
    d = data.draw
    op = d(st.sampled_from(["LOGISTIC", "TANH"]))
    if d(st.booleans()):
        s_in = pot(d(st.sampled_from([-12, -11] if op == "TANH" else [-12])))
    else:
        s_in = d(scales(1e-6, 1.0))
    x = np.concatenate([np.arange(-32768, 32768, 97), rng.integers(-32768, 32768, 50)]).astype(np.int16)[None]
    model = build_op_model(op, [spec(x.shape, "int16", s_in)], [spec(x.shape, "int16", pot(-15))])
    three_way(model, [x])


def test_refused_where_runtime_c_refuses():
    """HARD_SWISH has no int16 kernel (in LiteRT nor runtime_c); CONCATENATION of differing scales would
    copy raw values unscaled: run_int refuses both rather than invent a result."""
    s = 1e-3
    cases = [
        (build_op_model("HARD_SWISH", [spec([1, 4], "int16", s)], [spec([1, 4], "int16", s)]), 1),
        (build_op_model("CONCATENATION", [spec([1, 2], "int16", s), spec([1, 2], "int16", 2 * s)],
                        [spec([1, 4], "int16", s)], {"axis": 1}), 2),
    ]
    for model, n in cases:
        with pytest.raises(UnsupportedError):
            runtime.Interpreter(model)
        with pytest.raises(UnsupportedError):
            run_int(read_tflite(model), [np.zeros((1, 4 // n), np.int16)] * n)


# ------------------------------------------------------------------------------------ invariants

def test_every_runtime_c_op_is_covered():
    """The reference runs exactly the ops runtime_c's registry lists."""
    registry = (runtime.RUNTIME_DIR / "src" / "ops" / "registry.c").read_text()
    names = set(re.findall(r'\{\d+, "([A-Z0-9_]+)", &eq_op_', registry))
    assert names and set(supported_ops()) == names


def test_sigmoid_table_is_runtime_c_s():
    from edgeq.reference.int_ops_activation import _SIGMOID_U16

    src = (runtime.RUNTIME_DIR / "kernels" / "ref" / "sigmoid_table_s16.c").read_text()
    body = src.split("{", 1)[1].split("}", 1)[0]
    np.testing.assert_array_equal(_SIGMOID_U16, [int(v) for v in re.findall(r"\d+", body)])
