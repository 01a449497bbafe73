"""INT4 weights: packed TFLite INT4 per channel in [-7, 7], bias requantized, models run in LiteRT equal to
the integer reference (W4A8; W4A16 for the ops LiteRT has 16x8 INT4 kernels for)."""
import numpy as np
import pytest
from graph_builders import cases
from onemodel import run_reference
from test_int_exec import _int_inputs, _samples

from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.quantize.calibrate import calibrate_stats
from edgeq.quantize.int4 import apply_int4, int4_qparams, quantize_int4
from edgeq.quantize.int16 import quantize_graph_16x8
from edgeq.quantize.ptq import quantize_graph
from edgeq.reference.int_exec import run_int


def _convert(name, scheme, clip="mse", bias_correction=True):
    graph, feeds = cases()[name]
    samples = _samples(graph, feeds)
    ranges, means = calibrate_stats(graph, samples, "minmax", progress=False)
    m = means if bias_correction else None
    q = quantize_graph(graph, ranges, means=m) if scheme == "w4a8" else quantize_graph_16x8(graph, ranges, means=m)
    return graph, samples, apply_int4(graph, q, clip=clip, means=m)


@pytest.mark.parametrize("name,scheme", [("small_cnn", "w4a8"), ("conv_same_relu", "w4a8"), ("dw_mult2_valid", "w4a8"),
                                         ("fc", "w4a8"), ("conv_valid_s2_relu6", "w4a16"), ("fc", "w4a16")])
def test_int4_model_runs_in_litert_like_reference(name, scheme):
    graph, samples, q = _convert(name, scheme)
    model = write_tflite(q)
    back = read_tflite(model)
    w4 = [t for t in back.tensors.values() if t.dtype == "int4"]
    assert w4, "no INT4 tensor in the written model"
    for t in w4:
        assert np.abs(t.data).max() <= 7
        assert t.quant.per_channel or t.data.shape[0] == 1 or t.quant.scale.size == 1
    xs = _int_inputs(q, samples)
    got = run_int(q, xs)
    for k in range(samples[0].shape[0]):
        ref = run_reference(model, *[x[k:k + 1] for x in xs])
        for r, g in zip(ref, got):
            np.testing.assert_array_equal(r.ravel(), g.reshape(samples[0].shape[0], -1)[k])


def test_int4_packs_two_per_byte():
    graph, samples, q = _convert("conv_1x1", "w4a8")
    graph8, _, _ = _convert("conv_1x1", "w4a8")
    w = next(t for t in q.tensors.values() if t.dtype == "int4")
    assert w.nbytes == (w.size + 1) // 2
    q8 = quantize_graph(graph, calibrate_stats(graph, samples, "minmax", progress=False)[0])
    assert len(write_tflite(q)) < len(write_tflite(q8))


def test_mse_clip_beats_minmax_on_outliers():
    rng = np.random.default_rng(0)
    w = rng.laplace(size=(8, 256)).astype(np.float32)
    w[:, 0] = 12.0  # one outlier per channel: 4-bit steps sized for it leave the rest near zero
    err = {}
    for clip in ("minmax", "mse"):
        q = int4_qparams(w, 0, clip)
        wq = quantize_int4(w, q)
        assert np.abs(wq).max() <= 7
        err[clip] = float(((wq * q.scale[:, None] - w) ** 2).sum())
    assert err["mse"] < 0.8 * err["minmax"]


def test_bias_correction_reduces_int4_mean_shift():
    graph, feeds = cases()["conv_1x1"]
    samples = _samples(graph, feeds, n=24)
    samples = [s + 2.0 for s in samples]  # non-zero input mean: rounding errors shift the output mean
    ranges, means = calibrate_stats(graph, samples, "minmax", progress=False)
    from edgeq.reference.float_exec import run_float
    yf = run_float(graph, samples)[0]
    shift = {}
    for m in (None, means):
        q = apply_int4(graph, quantize_graph(graph, ranges, io="float", means=m), clip="minmax", means=m)
        y = run_int(q, samples)[0]
        shift[m is None] = np.abs((y - yf).reshape(-1, yf.shape[-1]).mean(axis=0)).mean()
    assert shift[False] < shift[True]
