"""The "auto" calibration method: minmax or mse per model, judged by logit SQNR on held-back calibration
samples, with the final ranges over all samples; and the split calibration pass it stands on."""
import numpy as np
import pytest

import edgeq.converter as cv
from edgeq.converter import METHODS, convert
from edgeq.model.tflite_io import write_tflite
from edgeq.quantize.calibrate import calibrate, calibrate_stats, collect_stats
from edgeq.quantize.ptq import head_tensors, quantize_graph
from edgeq.quantize.report import run_quantized, sqnr_db
from edgeq.reference.float_exec import run_float
from graph_builders import Builder, cases


def fc_classifier():
    """input -> FC(RELU) -> FC -> SOFTMAX: batchable, so auto scores all held-back samples in one invoke."""
    b = Builder("fc_classifier", seed=5)
    x = b.input((1, 256))
    h = b.op("FULLY_CONNECTED", [x, b.weights((12, 256), scale=0.1), b.weights((12,))], (1, 12), fused_activation_function="RELU")
    f = b.op("FULLY_CONNECTED", [h, b.weights((6, 12)), b.weights((6,))], (1, 6))
    return b.done(b.op("SOFTMAX", [f], (1, 6), beta=1.0))[0]


def samples(graph, n, seed=0, tail_outlier=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *graph.tensors[graph.inputs[0]].shape[1:])).astype(np.float32)
    if tail_outlier:
        x[-1].flat[0] = 25.0  # only in the held-back part
    return x


def test_auto_is_a_method_and_the_default():
    assert "auto" in METHODS and cv.DEFAULT_METHOD == "auto"


def test_split_pass_equals_separate_passes():
    graph, _ = cases()["small_cnn"]
    xs = samples(graph, 30)
    heads = head_tensors(graph)
    first, second, caught = collect_stats(graph, [xs], "mse", split=23, capture=heads, batch=8, progress=False)
    # batches of 8 cut across the split at 23: the first part is exactly a pass over samples [0, 23)
    ranges, means = calibrate_stats(graph, [xs[:23]], "mse", exact=heads, progress=False)
    assert first.ranges(heads) == ranges
    for k in means:
        np.testing.assert_allclose(first.means()[k], means[k], rtol=1e-6)
    whole = calibrate(graph, [xs], "mse", progress=False)
    for k, (lo, hi) in first.merged(second).ranges().items():
        assert (lo, hi) == pytest.approx(whole[k], abs=1e-6)
    (head,) = heads
    np.testing.assert_allclose(caught[head], run_float(graph, [xs[23:]], capture=[head])[head], rtol=1e-4,
                               atol=1e-5)


# cases where the two methods' held-back logit SQNR differ by 0.4 dB or more: mse ahead, minmax ahead by less
# than the margin (mse stays), minmax ahead by more (minmax)
@pytest.mark.parametrize("name,dist,seed", [("small_cnn", "normal", 3), ("fc_classifier", "t2", 0),
                                            ("fc_classifier", "t2", 1), ("fc_classifier", "t2", 2),
                                            ("fc_classifier", "t2", 4), ("fc_classifier", "laplace", 0)])
def test_auto_picks_minmax_only_when_its_held_back_logits_are_clearly_better(name, dist, seed):
    # small_cnn's batch-1 RESHAPE makes auto invoke per sample; fc_classifier runs the 8 samples in one invoke
    graph = cases()[name][0] if name in cases() else fc_classifier()
    rng = np.random.default_rng(seed)
    shape = (40, *graph.tensors[graph.inputs[0]].shape[1:])
    xs = {"normal": rng.standard_normal, "laplace": rng.laplace,
          "t2": lambda size: rng.standard_t(2, size=size)}[dist](size=shape).astype(np.float32)
    heads = head_tensors(graph)
    split = 32
    # independently: each method's ranges on the first 32 samples, LiteRT's reference kernels on the last 8
    score = {}
    for m in ("minmax", "mse"):
        ranges, means = calibrate_stats(graph, [xs[:split]], m, exact=heads, progress=False)
        model = write_tflite(quantize_graph(graph, ranges, means=means))
        _, got = run_quantized(model, [xs[split:]], capture=sorted(heads))
        want = run_float(graph, [xs[split:]], capture=sorted(heads))
        score[m] = min(sqnr_db(want[k], got[k]) for k in heads)
    gain = score["minmax"] - score["mse"]
    assert abs(gain) > 0.3 and abs(gain - cv.AUTO_MARGIN_DB) > 0.3  # clear of both decision lines
    chosen = cv._auto_stats(graph, [xs], heads, engine="auto", progress=False, model=None, weight_clip="minmax",
                            bias_correction=True)[2]
    assert chosen == ("minmax" if gain > cv.AUTO_MARGIN_DB else "mse")


@pytest.mark.parametrize("forced", ["minmax", "mse"])
def test_auto_final_ranges_cover_all_calibration_samples(monkeypatch, forced):
    graph, _ = cases()["small_cnn"]
    xs = samples(graph, 40, tail_outlier=True)
    heads = head_tensors(graph)
    monkeypatch.setattr(cv, "AUTO_CHOICES", (forced,))
    ranges, means, chosen = cv._auto_stats(graph, [xs], heads, engine="auto", progress=False, model=None,
                                           weight_clip="minmax", bias_correction=True)
    assert chosen == forced
    want, want_means = calibrate_stats(graph, [xs], forced, exact=heads, progress=False)
    assert ranges[graph.inputs[0]][1] == pytest.approx(want[graph.inputs[0]][1])
    if forced == "minmax":
        assert ranges[graph.inputs[0]][1] == 25.0  # the outlier sits in the held-back fifth
    for k in want:
        assert ranges[k] == pytest.approx(want[k], abs=1e-6)
    for k in want_means:
        np.testing.assert_allclose(means[k], want_means[k], rtol=1e-5, atol=1e-7)


def test_auto_without_softmax_is_mse():
    graph, _ = cases()["conv_same_relu"]
    assert not head_tensors(graph)
    src = write_tflite(graph)
    xs = samples(graph, 20)
    assert convert(src, calib=xs, method="auto", progress=False) == convert(src, calib=xs, method="mse",
                                                                           progress=False)


def test_convert_file_names_autos_choice(tmp_path):
    graph, _ = cases()["small_cnn"]
    src = tmp_path / "m.tflite"
    src.write_bytes(write_tflite(graph))
    res = cv.convert_file(src, tmp_path / "q.tflite", calib=samples(graph, 25), progress=False)
    assert res.method == "auto" and res.chosen_method in ("minmax", "mse")
    assert f"auto chose {res.chosen_method}" in res.notes
    assert res.summary()["chosen_method"] == res.chosen_method


def test_split_pass_cuts_rows_per_sample_of_flattening_fc():
    # fc_flatten's FC turns each [1, 2, 2, 4] sample into 4 rows: the split must cut at 4 rows per sample
    graph, _ = cases()["fc_flatten"]
    xs = samples(graph, 20, seed=1)
    first, second, _ = collect_stats(graph, [xs], "minmax", split=13, batch=8, progress=False)
    for part, rows in ((first, xs[:13]), (second, xs[13:])):
        want = calibrate(graph, [rows], "minmax", progress=False, engine="reference")
        got = part.ranges()
        for k in want:
            assert got[k] == pytest.approx(want[k])
