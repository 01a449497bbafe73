"""Low-bit conversions of the MLPerf Tiny ResNet-8 (zoo): the mixed-precision acceptance (flash budget halfway
between the INT4 and INT8 models: met as `edgeq analyze` reports it, SQNR strictly between theirs and closer to
INT8's), and the INT4 / mixed models running in runtime_c equal to the integer reference."""
import numpy as np
import pytest

from edgeq.quantize.lowbit import convert_lowbit
from edgeq.quantize.mixed import model_inputs
from edgeq.reference.int_exec import run_int


@pytest.fixture(scope="module")
def resnet(zoo, zoo_data):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from bench_convert import MODELS, load_items

    m = next(m for m in MODELS if m.name == "pretrainedResnet")
    items = load_items(m, zoo_data)
    # whole images per side: calibration and held-out crops never come from the same picture
    x = np.concatenate(items[:10] + items[10:14])
    return (zoo / m.file).read_bytes(), x


@pytest.mark.slow  # ~1 min; tools/bench_lowbit.py checks the same acceptance on every fold
def test_mixed_halfway_budget(resnet):
    from edgeq.analyze import analyze
    from edgeq.runtime import Interpreter

    src, x = resnet
    kw = dict(calib=x, recover=("bias",), measure_passes=False, holdout=4 / 14)
    r8 = convert_lowbit(src, **kw)
    r4 = convert_lowbit(src, weights="int4", **kw)
    budget = (len(r8.model) + len(r4.model)) // 2
    rm = convert_lowbit(src, mixed=True, flash=budget, **kw)
    assert analyze(rm.model).model_bytes <= budget
    assert r4.sqnr_db < rm.sqnr_db < r8.sqnr_db
    assert rm.sqnr_db - r4.sqnr_db > r8.sqnr_db - rm.sqnr_db  # closer to INT8
    for r in (r4, rm):
        xs = model_inputs(r.graph, [x[:4]])
        ref = run_int(r.graph, xs)[0]
        it = Interpreter(r.model)
        for k in range(4):
            np.testing.assert_array_equal(it.run(xs[0][k:k + 1])[0].ravel(), ref[k].ravel())



@pytest.fixture(scope="module")
def resnet_w4a8(zoo, zoo_data):
    """ResNet-8 W4A8 with recovery on bench_lowbit's 2-fold split (seed 0: calibrate on one half of the
    images, evaluate in LiteRT's reference kernels on the other, pooled): (top-1 agreement, SQNR dB, models
    with their held-out inputs)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from bench_convert import MODELS, float_outputs, fold_assignment, load_items

    from edgeq.quantize.report import run_quantized, sqnr_from_power

    m = next(m for m in MODELS if m.name == "pretrainedResnet")
    src = (zoo / m.file).read_bytes()
    items = load_items(m, zoo_data)
    fold_of = fold_assignment(len(items), 2, 0)
    agree = total = 0
    sig = noise = 0.0
    models = []
    for f in range(2):
        calib = np.concatenate([it for it, k in zip(items, fold_of) if k != f])
        held = np.concatenate([it for it, k in zip(items, fold_of) if k == f])
        r = convert_lowbit(src, calib=calib, io="float", weights="int4", recover=("cle", "bias", "adaround"),
                           holdout=0, measure_passes=False)
        ref = float_outputs(src, held)
        y = run_quantized(r.model, [held])[0].reshape(ref.shape).astype(np.float64)
        agree += int(np.sum(ref.argmax(1) == y.argmax(1)))
        total += len(ref)
        sig += float(np.sum(ref.astype(np.float64) ** 2))
        noise += float(np.sum((ref - y) ** 2))
        models.append((r.model, held))
    return agree / total, sqnr_from_power(sig, noise), models


@pytest.mark.slow  # two conversions with recovery (~15 s each); tools/bench_lowbit.py reports the same figures
def test_resnet_w4a8_recovery_holds(resnet_w4a8):
    """Every CONV_2D / FULLY_CONNECTED weight INT4 (W4A8, not mixed); held-out fidelity above what recovery
    gave before the per-channel scale refit and depthwise-only CLE (0.812, 10.08 dB; 0.839, 10.66 dB since);
    the models run in runtime_c equal to LiteRT byte for byte."""
    from onemodel import run_reference

    from edgeq.model.tflite_io import read_tflite
    from edgeq.runtime import Interpreter

    top1, sqnr, models = resnet_w4a8
    assert top1 >= 0.82 and sqnr >= 10.3, (top1, sqnr)
    for model, held in models:
        g = read_tflite(model)
        weighted = [op for op in g.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
        assert weighted and all(g.tensors[op.inputs[1]].dtype == "int4" for op in weighted)
        it = Interpreter(model)
        for k in range(0, len(held), 37):
            x = held[k:k + 1]
            np.testing.assert_array_equal(it.run(x)[0].ravel(), run_reference(model, x)[0].ravel())


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="acceptance not met yet: 0.84 measured (issue 5: >= 0.85)")
def test_resnet_w4a8_acceptance_top1(resnet_w4a8):
    """Issue 5's W4A8 line: top-1 agreement >= 0.85 on held-out images with recovery on."""
    assert resnet_w4a8[0] >= 0.85, f"top-1 agreement {resnet_w4a8[0]:.3f}"
