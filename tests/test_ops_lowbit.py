"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED beyond int8 x int8 in runtime_c: 16x8 (int16 activations,
int8 weights, int64 or int32 bias) and packed INT4 weights (int8 activations), on random one-op models,
byte for byte against LiteRT's reference kernels (BUILTIN_REF runs all three ops with INT4 filters by
unpacking them, and all three in 16x8). INT4 models are also checked against the int8 model on the
unpacked weights, which is the same arithmetic. Hypothesis runs derandomized (fixed cases)."""
from __future__ import annotations

import math

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
