"""Recovery passes, mixed precision, the low-bit pipeline, its report and CLI options, on small graphs."""
import json

import numpy as np
import pytest
from graph_builders import Builder, cases
from test_int_exec import _samples

from edgeq.errors import EdgeqError
from edgeq.model.tflite_io import write_tflite
from edgeq.quantize import mixed as mx
from edgeq.quantize.adaround import optimize_rounding
from edgeq.quantize.calibrate import calibrate_stats
from edgeq.quantize.cle import equalize, find_pairs
from edgeq.quantize.lowbit import convert_lowbit, parse_budget, parse_recover
from edgeq.quantize.ptq import quantize_graph
from edgeq.quantize.report_html import render_html, write_report
from edgeq.reference.float_exec import run_float


def _deep_cnn(act="RELU", seed=0):
    """conv -> depthwise -> conv -> conv -> pool -> fc, with badly balanced channel ranges."""
    b = Builder(f"deep_{act}", seed)
    x = b.input((1, 10, 10, 3))
    w1 = b.rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * np.logspace(-1.5, 0.5, 8, dtype=np.float32)[:, None, None, None]
    c1 = b.op("CONV_2D", [x, b.const(w1), b.weights((8,), 0.1)], (1, 10, 10, 8), padding="SAME", stride_h=1, stride_w=1,
              fused_activation_function=act)
    d = b.op("DEPTHWISE_CONV_2D", [c1, b.weights((1, 3, 3, 8)), b.weights((8,), 0.1)], (1, 10, 10, 8), padding="SAME",
             stride_h=1, stride_w=1, depth_multiplier=1, fused_activation_function=act)
    c2 = b.op("CONV_2D", [d, b.weights((16, 1, 1, 8), 0.3), b.weights((16,), 0.1)], (1, 10, 10, 16), padding="VALID",
              stride_h=1, stride_w=1, fused_activation_function="RELU")
    c3 = b.op("CONV_2D", [c2, b.weights((16, 3, 3, 16), 0.1), b.weights((16,), 0.1)], (1, 5, 5, 16), padding="SAME",
              stride_h=2, stride_w=2, fused_activation_function="RELU")
    p = b.op("AVERAGE_POOL_2D", [c3], (1, 1, 1, 16), padding="VALID", stride_h=5, stride_w=5, filter_height=5,
             filter_width=5)
    r = b.op("RESHAPE", [p, b.const(np.array([1, 16], np.int32))], (1, 16))
    return b.done(b.op("FULLY_CONNECTED", [r, b.weights((6, 16), 0.3), b.weights((6,), 0.1)], (1, 6)))


def test_cle_keeps_the_function_and_evens_ranges():
    g, feeds = _deep_cnn()
    x = _samples(g, feeds, n=4)
    e, notes = equalize(g)
    np.testing.assert_allclose(run_float(e, x)[0], run_float(g, x)[0], rtol=1e-4, atol=1e-5)
    w0 = np.abs(g.tensors[g.ops[0].inputs[1]].data).reshape(8, -1).max(1)
    w1 = np.abs(e.tensors[e.ops[0].inputs[1]].data).reshape(8, -1).max(1)
    assert w1.max() / w1.min() < w0.max() / w0.min() / 3
    # conv -> dw and dw -> conv are equalized; the dense conv -> conv pair is left alone unless asked for
    assert "cle: equalized 2 depthwise-separable pair(s)" in notes and any("left 1 dense" in n for n in notes)
    c3 = g.ops[3].inputs[1]
    np.testing.assert_array_equal(e.tensors[c3].data, g.tensors[c3].data)
    d, notes = equalize(g, dense=True)
    np.testing.assert_allclose(run_float(d, x)[0], run_float(g, x)[0], rtol=1e-4, atol=1e-5)
    assert "cle: equalized 3 layer pair(s)" in notes
    assert not np.array_equal(d.tensors[c3].data, g.tensors[c3].data)


def test_cle_leaves_dead_channels_and_bounds_scales():
    g, feeds = _deep_cnn()
    w = g.tensors[g.ops[0].inputs[1]]
    b = g.tensors[g.ops[0].inputs[2]]
    w.data = w.data.copy()
    w.data[0] = 1e-30  # a dead channel whose output is its bias
    b.data = b.data.copy()
    b.data[0] = 1.0
    x = _samples(g, feeds, n=4)
    e, _ = equalize(g)
    first = g.ops[0].outputs[0]
    a0 = run_float(g, x, capture=[first])[first]
    a1 = run_float(e, x, capture=[first])[first]
    np.testing.assert_allclose(a1[..., 0], a0[..., 0])  # the dead channel is not rescaled
    assert np.abs(a1).max() <= 8.0 * np.abs(a0).max() + 1e-6


def test_cle_skips_relu6_pairs():
    g, _ = _deep_cnn("RELU6")
    pairs, notes = find_pairs(g)
    assert all(p.first.options["fused_activation_function"] != "RELU6" for p in pairs)
    assert any("RELU6" in n for n in notes)


def test_adaround_beats_nearest_on_its_objective():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 24)) @ rng.standard_normal((24, 24))  # correlated inputs
    w = rng.standard_normal((8, 24))
    s = np.abs(w).max(1) / 7
    u = w / s[:, None]
    gram = x.T @ x / len(x)
    q = optimize_rounding(u, gram, u @ gram, (u @ gram * u).sum(1), s**2, iters=300)
    assert np.abs(q).max() <= 7 and np.all(np.abs(q - u) <= 1.0 + 1e-9)

    def err(qq):
        d = (u - qq) * s[:, None]
        return ((d @ x.T) ** 2).sum()

    assert err(q) < 0.8 * err(np.clip(np.round(u), -7, 7))


def test_parsers():
    assert parse_recover("adaround, cle") == ("cle", "adaround")
    assert parse_budget("flash=64KB,ram=1.5k") == (65536, 1536)
    assert parse_budget("ram=100") == (None, 100)
    with pytest.raises(EdgeqError, match="unknown recovery"):
        parse_recover("cle,magic")
    with pytest.raises(EdgeqError):
        parse_budget("flash=lots")


@pytest.fixture(scope="module")
def deep():
    g, feeds = _deep_cnn()
    return g, _samples(g, feeds, n=40, seed=3)


def test_recovery_passes_measured_and_int4_recovers(deep):
    g, x = deep
    data = write_tflite(g)
    r = convert_lowbit(data, calib=x[0], weights="int4", recover=("cle", "bias", "adaround"), adaround_iters=200)
    names = [p["pass"] for p in r.passes]
    assert names == ["none", "cle", "cle+bias", "cle+bias+adaround"]
    assert r.passes[-1]["sqnr_db"] > r.passes[0]["sqnr_db"]
    assert r.sqnr_db == r.passes[-1]["sqnr_db"]
    assert any(row["precision"] == "w4a8" for row in r.layers)
    r8 = convert_lowbit(data, calib=x[0], measure_passes=False)
    assert len(r.model) < len(r8.model)
    # with no recovery asked for, INT4 says what it is missing (and with recovery on, it does not)
    plain = convert_lowbit(data, calib=x[0], weights="int4", measure_passes=False)
    assert plain.sqnr_db < r.sqnr_db
    assert any("--recover bias,adaround" in n for n in plain.notes)
    assert not any("--recover bias,adaround" in n for n in r.notes)


def test_int16_pipeline_is_closer_to_float(deep):
    g, x = deep
    data = write_tflite(g)
    r8 = convert_lowbit(data, calib=x[0], measure_passes=False)
    r16 = convert_lowbit(data, calib=x[0], activations="int16", io="float", measure_passes=False)
    assert r16.sqnr_db > r8.sqnr_db + 3  # int8 weights bound both
    assert all(row["precision"] in ("w8a16", "int16") for row in r16.layers)


def test_mixed_meets_budget_between_int4_and_int8(deep):
    g, x = deep
    data = write_tflite(g)
    r8 = convert_lowbit(data, calib=x[0], recover=("bias",), measure_passes=False)
    r4 = convert_lowbit(data, calib=x[0], weights="int4", recover=("bias",), measure_passes=False)
    budget = (len(r8.model) + len(r4.model)) // 2
    rm = convert_lowbit(data, calib=x[0], mixed=True, flash=budget, recover=("bias",), measure_passes=False)
    assert len(rm.model) <= budget
    assert set(rm.plan.precisions.values()) & {"int4"} and set(rm.plan.precisions.values()) <= {"int4", "int8"}
    assert r4.sqnr_db < rm.sqnr_db <= r8.sqnr_db + 1.0
    d = rm.to_dict()
    assert d["plan"]["flash_bytes"] == len(rm.model)
    assert set(d["plan"]["sensitivity"][next(iter(d["plan"]["precisions"]))]) >= {"int4", "int8", "int16", "float"}


def test_mixed_adaround_fits_int4_layers_in_the_mixed_model(deep):
    """With adaround on, the mixed plan's INT4 layers are fitted on the inputs the mixed model itself gives
    them (the graph being built is handed to the rounding), as on the all-INT4 path."""
    g, x = deep
    data = write_tflite(g)
    r8 = convert_lowbit(data, calib=x[0], recover=("bias",), measure_passes=False)
    r4 = convert_lowbit(data, calib=x[0], weights="int4", recover=("bias",), measure_passes=False)
    budget = (3 * len(r4.model) + len(r8.model)) // 4
    plain = convert_lowbit(data, calib=x[0], mixed=True, flash=budget, recover=("bias",), measure_passes=False)
    fitted = convert_lowbit(data, calib=x[0], mixed=True, flash=budget, recover=("bias", "adaround"),
                            measure_passes=False)
    assert "int4" in fitted.plan.precisions.values() and len(fitted.model) <= budget
    assert fitted.sqnr_db > plain.sqnr_db + 1.0

    ranges, _ = calibrate_stats(g, x, "minmax", progress=False)
    base = quantize_graph(g, ranges, io="float")
    seen = []

    def rounding_for(work):
        seen.append(work)
        return None  # round to nearest

    q = mx.build_mixed(g, base, {mx.layer_names(base)[0]: "int4"}, ranges, rounding_for=rounding_for)
    assert seen == [q] and seen[0] is not base


def test_mixed_ram_budget_on_runtime_arena(deep):
    g, x = deep
    r = convert_lowbit(write_tflite(g), calib=x[0], mixed=True, flash=10**6, ram=10**6, measure_passes=False)
    assert "runtime_c's reference arena" in " ".join(r.plan.notes)
    with pytest.raises(EdgeqError, match="ram budget cannot be met"):
        convert_lowbit(write_tflite(g), calib=x[0], mixed=True, ram=100, measure_passes=False)


def test_mixed_with_islands_allowed(deep):
    g, x = deep
    r = convert_lowbit(write_tflite(g), calib=x[0], mixed=True, target_sqnr=99.0, measure_passes=False,
                       mixed_choices=("int4", "int8", "int16", "float"))
    # an unreachable target with no budget: promotions wherever the sensitivity says they help
    assert set(r.plan.precisions.values()) <= {"int8", "int16", "float"}
    assert r.sqnr_db >= r.plan.base_sqnr_db - 3.0


def test_mixed_islands_run_in_the_reference():
    g, feeds = _deep_cnn()
    x = _samples(g, feeds, n=8)
    ranges, means = calibrate_stats(g, x, "minmax", progress=False)
    base = quantize_graph(g, ranges, io="float")
    names = mx.layer_names(base)
    plan = {names[0]: "float", names[1]: "int16", names[2]: "int4"}
    q = mx.build_mixed(g, base, plan, ranges)
    types = [op.type for op in q.ops]
    assert types.count("QUANTIZE") >= 3 and "DEQUANTIZE" in types
    ref = run_float(g, x)
    assert mx.output_sqnr(q, x, ref) > 15
    from onemodel import run_reference
    from edgeq.reference.int_exec import run_int

    model = write_tflite(q)
    got = run_int(q, x)[0]
    for k in range(3):  # LiteRT runs the islands (int8<->int16 QUANTIZE, float ops) like the reference
        np.testing.assert_allclose(run_reference(model, x[0][k:k + 1])[0], got[k:k + 1], atol=1e-5)


def test_report_html_and_json(tmp_path, deep):
    g, x = deep
    r = convert_lowbit(write_tflite(g), calib=x[0], weights="int4", recover=("bias",))
    d = r.to_dict()
    html = render_html(d)
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count("<rect") == len([row for row in d["layers"] if row["sqnr_db"] is not None])
    write_report(d, tmp_path / "r.json")
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["passes"][0]["pass"] == "none" and back["model_bytes"] == len(r.model)
    write_report(d, tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text().count("<tr>") > len(d["layers"])


def test_dynamic_pipeline_needs_no_calibration(deep):
    g, x = deep
    r = convert_lowbit(write_tflite(g), dynamic=True)
    assert r.holdout_samples == 0 and len(r.model) > 0
    with pytest.raises(EdgeqError, match="dynamic"):
        convert_lowbit(write_tflite(g), dynamic=True, weights="int4")


def test_cli_lowbit(tmp_path, deep):
    from typer.testing import CliRunner

    from edgeq.cli import app

    g, x = deep
    src = tmp_path / "m.tflite"
    src.write_bytes(write_tflite(g))
    np.save(tmp_path / "x.npy", x[0])
    runner = CliRunner()
    r = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "w4.tflite"), "--calib", str(tmp_path / "x.npy"),
                            "--weights", "int4", "--recover", "bias", "--report", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "output SQNR" in r.output and (tmp_path / "r.html").exists() and (tmp_path / "w4.tflite").exists()
    r = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "d.tflite"), "--dynamic"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "x.tflite"), "--calib", str(tmp_path / "x.npy"),
                            "--budget", "flash=1KB"])
    assert r.exit_code == 2 and "add --mixed" in r.output
    r = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "x.tflite")])
    assert r.exit_code == 2 and "--calib is required" in r.output
    assert not (tmp_path / "x.tflite").exists()
