"""Layer fitting of INT4 weights: the Gram-matrix statistics against explicit im2col rows, GPTQ rounding, the
incremental quantized inputs, the per-channel output-error scale search, the empirical bias correction and
the re-calibration replay."""
import numpy as np
import pytest
from graph_builders import cases
from test_int_exec import _samples

from edgeq.quantize.adaround import AdaRound, polish, refit_scales, search_scales
from edgeq.quantize.calibrate import calibrate_stats
from edgeq.quantize.gptq import gptq_round
from edgeq.quantize.int4 import Rounded, apply_int4, int4_qparams, weighted_ops
from edgeq.quantize.layerfit import QuantizedInputs, flat, layer_stats, rows
from edgeq.quantize.ptq import quantize_graph
from edgeq.quantize.recalibrate import Replay, recalibrate
from edgeq.reference.float_exec import run_float
from edgeq.reference.int_exec import run_int


def _weighted(name):
    graph, feeds = cases()[name]
    op = next(o for o in graph.ops if o.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    return graph, feeds, op


@pytest.mark.parametrize("name", ["conv_same_relu", "conv_valid_s2_relu6", "dw_mult2_valid", "fc"])
def test_rows_reproduce_the_layer_and_stats_match_them(name):
    graph, feeds, op = _weighted(name)
    x = _samples(graph, feeds, n=5)[0]
    w = np.asarray(graph.tensors[op.inputs[1]].data, np.float64)
    # the rows times the weights are the op's output before bias and activation
    lin = graph.copy()
    lop = next(o for o in lin.ops if o.outputs == op.outputs)
    lop.options = {**lop.options, "fused_activation_function": "NONE"}
    if len(lop.inputs) > 2 and lop.inputs[2] is not None:
        lin.tensors[lop.inputs[2]].data = np.zeros_like(lin.tensors[lop.inputs[2]].data)
    y = run_float(lin, [x], capture=[op.outputs[0]])[op.outputs[0]]
    r = rows(graph, op, x).astype(np.float64)
    wf = flat(op, w)
    if r.ndim == 3:  # depthwise: channel c (multiplier m) reads input channel c // m
        mult = wf.shape[0] // r.shape[2]
        out = np.einsum("rkc,ck->rc", np.repeat(r, mult, axis=2), wf)
    else:
        out = r @ wf.T
    np.testing.assert_allclose(out.reshape(y.shape), y, rtol=1e-4, atol=1e-4)
    # Gram statistics (chunked) give each channel's mean square output error and mean shift exactly
    rng = np.random.default_rng(0)
    xq = x + rng.standard_normal(x.shape).astype(np.float32) * 0.05
    st = layer_stats(graph, op, x, xq, chunk=2)
    wt = wf + rng.standard_normal(wf.shape) * 0.05
    rq = rows(graph, op, xq).astype(np.float64)
    if r.ndim == 3:
        yf = np.einsum("rkc,ck->rc", np.repeat(r, mult, axis=2), wf)
        yq = np.einsum("rkc,ck->rc", np.repeat(rq, mult, axis=2), wt)
    else:
        yf, yq = r @ wf.T, rq @ wt.T
    tol = 1e-5 * (yf**2).mean()  # the Gram products are float32 (summed in float64)
    np.testing.assert_allclose(st.error(wt, wf), ((yf - yq) ** 2).mean(0), rtol=0, atol=tol)
    np.testing.assert_allclose(st.mean_shift(wt, wf), (yf - yq).mean(0), rtol=0, atol=tol)
    assert st.rows == r.shape[0]
    sub = layer_stats(graph, op, x, xq, max_rows=7, rng=np.random.default_rng(1))
    assert sub.rows == min(7, r.shape[0])


def _problem(shared=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2048, 32)) @ rng.standard_normal((32, 32))  # correlated inputs
    w = rng.standard_normal((8, 32))
    s = np.abs(w).max(1) / 7
    u = w / s[:, None]
    gram = x.T @ x / len(x)
    if not shared:
        gram = np.stack([gram * (1 + 0.1 * c) for c in range(8)])
    return u, s, gram


@pytest.mark.parametrize("shared", [True, False])
def test_gptq_beats_nearest(shared):
    u, s, gram = _problem(shared)

    def err(q):
        d = u - q
        return (d * (d @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", d, gram))).sum()

    target = u @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", u, gram)
    for lsq in (True, False):
        q = gptq_round(u, target, gram, lsq=lsq)
        assert q.dtype == np.float64 and np.abs(q).max() <= 7 and np.array_equal(q, np.round(q))
        assert err(q) < 0.7 * err(np.clip(np.round(u), -7, 7))


@pytest.mark.parametrize("shared", [True, False])
def test_polish_descends_within_bounds(shared):
    u, s, gram = _problem(shared, seed=2)
    target = u @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", u, gram)

    def obj(q):
        qg = q @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", q, gram)
        return (q * qg).sum(1) - 2 * (q * target).sum(1)

    near = np.clip(np.round(u), -7, 7)
    fl = np.clip(np.floor(u), -7, 6)
    q = polish(near, gram, target, lo=fl, hi=fl + 1, sweeps=6)
    assert np.all(obj(q) <= obj(near) + 1e-9) and obj(q).sum() < obj(near).sum()
    assert np.all((q == fl) | (q == fl + 1) | (q == near))  # moves only inside [floor, ceil]
    free = polish(near, gram, target, sweeps=6)
    assert np.abs(free).max() <= 7 and np.all(obj(free) <= obj(near) + 1e-9)  # a local minimum of its own


def test_centered_stats_are_the_error_left_after_the_bias():
    graph, feeds, op = _weighted("conv_same_relu")
    x = _samples(graph, feeds, n=5)[0] + 1.5  # a mean the bias has to take
    rng = np.random.default_rng(3)
    xq = x + rng.standard_normal(x.shape).astype(np.float32) * 0.05
    st = layer_stats(graph, op, x, xq)
    w = flat(op, np.asarray(graph.tensors[op.inputs[1]].data, np.float64))
    wt = w + rng.standard_normal(w.shape) * 0.05
    d = rows(graph, op, x).astype(np.float64) @ w.T - rows(graph, op, xq).astype(np.float64) @ wt.T
    np.testing.assert_allclose(st.centered().error(wt, w), d.var(0), rtol=1e-3, atol=1e-6 * (d**2).mean())
    assert np.all(st.centered().error(wt, w) < st.error(wt, w))


def test_scale_search_lowers_the_output_error():
    graph, feeds, op = _weighted("conv_same_relu")
    x = _samples(graph, feeds, n=6)[0]
    st = layer_stats(graph, op, x, None)
    w = flat(op, np.asarray(graph.tensors[op.inputs[1]].data, np.float64))
    s0 = int4_qparams(graph.tensors[op.inputs[1]].data, 0, "minmax").scale.astype(np.float64)
    s1 = search_scales(w, st, s0)

    def err(s):
        return st.error(np.clip(np.round(w / s[:, None]), -7, 7) * s[:, None], w)

    assert np.all(err(s1) <= err(s0) + 1e-12) and err(s1).sum() < err(s0).sum()


def test_refit_scales_is_the_least_squares_scale_on_the_quantized_inputs():
    graph, feeds, op = _weighted("conv_same_relu")
    x = _samples(graph, feeds, n=6)[0]
    rng = np.random.default_rng(4)
    xq = x + rng.standard_normal(x.shape).astype(np.float32) * 0.05  # upstream error the scale must not chase
    st = layer_stats(graph, op, x, xq)
    w = flat(op, np.asarray(graph.tensors[op.inputs[1]].data, np.float64))
    s0 = int4_qparams(graph.tensors[op.inputs[1]].data, 0, "minmax").scale.astype(np.float64)
    q = np.clip(np.floor(w / s0[:, None]), -7, 7)  # rounded down: the best scale is now smaller than s0
    s1 = refit_scales(q, w, st.gqq, s0)
    r = rows(graph, op, xq).astype(np.float64)
    a, b = r @ w.T, r @ q.T  # [rows, C]: the float layer and the integers on the same inputs
    want = np.clip((a * b).sum(0) / (b * b).sum(0), s0 / 1.25, s0 * 1.25)
    np.testing.assert_allclose(s1, want, rtol=1e-6)
    assert s1.dtype == np.float64 and np.array_equal(s1, s1.astype(np.float32))
    assert np.all(((a - b * s1) ** 2).sum(0) <= ((a - b * s0) ** 2).sum(0) + 1e-9)
    assert np.all(refit_scales(q, w, st.gqq, s0, bound=1.01) >= s0 / 1.01 * (1 - 1e-6))


def _quantized(name, n=10):
    graph, feeds = cases()[name]
    x = _samples(graph, feeds, n=n)
    ranges, means = calibrate_stats(graph, x, "minmax", progress=False)
    return graph, x, ranges, means


def test_quantized_inputs_follow_the_graph_as_it_changes():
    graph, x, ranges, _ = _quantized("small_cnn")
    q = quantize_graph(graph, ranges, io="float")
    qin = QuantizedInputs(q, x)
    ops = weighted_ops(q)
    assert len(ops) >= 2
    for k, op in enumerate(ops):
        got = qin.of(op.inputs[1])
        full = run_int(q, x, capture=True)[op.inputs[0]]  # the whole graph as it is now
        t = q.tensors[op.inputs[0]]
        want = (full.astype(np.float32) - t.quant.zero_point[0]) * np.float32(t.quant.scale[0])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        apply_int4(graph, q, layers={op.outputs[0]})  # later layers must see this one in INT4


@pytest.mark.parametrize("method", ["adaround", "gptq", "nearest"])
def test_fitted_layers_and_empirical_bias(method):
    graph, x, ranges, means = _quantized("small_cnn", n=16)
    q = quantize_graph(graph, ranges, io="float")
    fit = AdaRound(graph, x, qgraph=q, method=method, bias=True, scales=True, iters=100)
    apply_int4(graph, q, rounding=fit)
    for op in weighted_ops(q):
        t = q.tensors[op.inputs[1]]
        assert t.dtype == "int4" and np.abs(t.data).max() <= 7
    assert all(0 <= g <= 1 + 1e-9 for g in fit.gain.values())
    if method != "nearest":
        assert min(fit.gain.values()) < 0.95
    # the bias correction measured on the quantized model's own inputs: each layer's mean output (before the
    # activation clips it) matches the float layer's on the calibration samples
    out = weighted_ops(q)[0].outputs[0]
    fop = next(o for o in graph.ops if o.outputs[0] == out)
    lin = graph.copy()
    next(o for o in lin.ops if o.outputs[0] == out).options["fused_activation_function"] = "NONE"
    yf = run_float(lin, x, capture=[out])[out]
    st = layer_stats(graph, fop, run_float(graph, x, capture=[fop.inputs[0]])[fop.inputs[0]], None)
    assert st.rows > 0
    w = q.tensors[fop.inputs[1]]
    b = q.tensors[fop.inputs[2]]
    wt = w.data.astype(np.float64) * w.quant.scale.astype(np.float64).reshape(w.quant.broadcast_shape(w.data.ndim))
    xq = QuantizedInputs(q, x).of(fop.inputs[1])
    yq = rows(graph, fop, xq).astype(np.float64) @ flat(fop, wt).T + b.data * b.quant.scale.astype(np.float64)
    np.testing.assert_allclose(yq.mean(0), yf.reshape(-1, yf.shape[-1]).mean(0), atol=2e-3 * np.abs(yf).max())


def test_replay_keeps_int4_weights_and_biases():
    graph, x, ranges, means = _quantized("small_cnn", n=16)
    q = quantize_graph(graph, ranges, io="float")
    apply_int4(graph, q, rounding=AdaRound(graph, x, qgraph=q, bias=True, iters=50))
    r2, _ = recalibrate(graph, q, x, "minmax")
    assert set(r2) == set(ranges)
    q2 = quantize_graph(graph, ranges, io="float")
    apply_int4(graph, q2, rounding=Replay(graph, q))  # same ranges: the very same model back
    for op, op2 in zip(weighted_ops(q), weighted_ops(q2)):
        for a, b in zip(op.inputs[1:3], op2.inputs[1:3]):
            np.testing.assert_array_equal(q.tensors[a].data, q2.tensors[b].data)
            np.testing.assert_array_equal(q.tensors[a].quant.scale, q2.tensors[b].quant.scale)
    out = Replay(graph, q)(next(o for o in graph.ops if o.type == "CONV_2D"),
                           graph.tensors[graph.ops[0].inputs[1]].data, None)
    assert isinstance(out, Rounded)
