"""The numpy integer reference equals LiteRT's reference kernels byte for byte: int8 and 16x8 models
converted by edgeq (one-op graphs and a small CNN), and the MLPerf Tiny int8 models (zoo)."""
import numpy as np
import pytest
from graph_builders import cases
from onemodel import run_reference

from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.quantize.calibrate import calibrate_stats
from edgeq.quantize.int16 import quantize_graph_16x8
from edgeq.quantize.ptq import quantize_graph
from edgeq.reference.int_exec import mul_by_qm, quantize_multiplier, run_int

CASES = ["conv_same_relu", "conv_valid_s2_relu6", "conv_same_s2_even", "conv_dilated", "conv_1x1", "dw_same",
         "dw_s2_even", "dw_mult2_valid", "dw_dilated", "maxpool_same", "avgpool_same", "avgpool_valid", "fc",
         "fc_flatten", "fc_keep_dims", "add_bcast_const", "softmax", "small_cnn"]


def _samples(graph, feeds, n=12, seed=1):
    rng = np.random.default_rng(seed)
    return [np.concatenate([f] + [(f * rng.uniform(0.5, 1.5) + rng.standard_normal(f.shape) * f.std() * 0.3)
                                  .astype(np.float32) for _ in range(n - 1)]) for f in feeds]


def _int_inputs(q, samples):
    out = []
    for name, x in zip(q.inputs, samples):
        t = q.tensors[name]
        lo, hi = np.iinfo(t.dtype).min, np.iinfo(t.dtype).max
        out.append(np.clip(np.round(x / t.quant.scale[0]) + t.quant.zero_point[0], lo, hi).astype(t.dtype))
    return out


@pytest.mark.parametrize("scheme", ["int8", "16x8"])
@pytest.mark.parametrize("name", CASES)
def test_equals_litert(name, scheme):
    graph, feeds = cases()[name]
    samples = _samples(graph, feeds)
    ranges, means = calibrate_stats(graph, samples, "minmax", progress=False)
    if scheme == "int8":
        q = quantize_graph(graph, ranges, means=means)
    else:
        q = quantize_graph_16x8(graph, ranges, means=means)
    model = write_tflite(q)
    xs = _int_inputs(q, samples)
    got = run_int(q, xs)
    for k in range(samples[0].shape[0]):
        ref = run_reference(model, *[x[k:k + 1] for x in xs])
        for r, g in zip(ref, got):
            one = g.reshape(samples[0].shape[0], -1)[k]
            np.testing.assert_array_equal(r.ravel(), one, err_msg=f"{name} sample {k}")
            assert r.dtype == g.dtype


def test_float_boundary_16x8():
    graph, feeds = cases()["small_cnn"]
    samples = _samples(graph, feeds)
    ranges, _ = calibrate_stats(graph, samples, "minmax", progress=False)
    q = quantize_graph_16x8(graph, ranges, io="float")
    model = write_tflite(q)
    assert q.tensors[q.inputs[0]].dtype == "float32"
    assert {t.dtype for n, t in q.tensors.items() if not t.is_const} >= {"int16", "float32"}
    got = run_int(q, samples)[0]
    for k in range(4):
        np.testing.assert_array_equal(run_reference(model, samples[0][k:k + 1])[0], got[k:k + 1])


def test_fixed_point_helpers():
    m, s = quantize_multiplier(0.5)
    assert (m, s) == (2**30, 0)
    m, s = quantize_multiplier(3.0)
    assert s == 2 and m == 3 * 2**29
    x = np.array([-7, -6, -5, 5, 6, 7, 1000, -1000])
    # times 1/4 in two roundings (high multiply, then rounding shift), as gemmlowp: 5 -> 2.5 -> 3 -> 2
    np.testing.assert_array_equal(mul_by_qm(x, 2**30, -1), [-2, -2, -1, 2, 2, 2, 250, -250])


@pytest.mark.parametrize("file", ["ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite",
                                  "vww_96_int8.tflite"])
def test_mlperf_int8(zoo, file):
    data = (zoo / "mlperf_tiny" / file).read_bytes()
    g = read_tflite(data)
    rng = np.random.default_rng(0)
    xs = []
    for n in g.inputs:
        t = g.tensors[n]
        xs.append(rng.integers(-128, 128, size=(3,) + t.shape[1:]).astype(t.dtype))
    got = run_int(g, xs)
    for k in range(3):
        ref = run_reference(data, *[x[k:k + 1] for x in xs])
        for r, y in zip(ref, got):
            np.testing.assert_array_equal(r, y[k:k + 1].reshape(r.shape))
