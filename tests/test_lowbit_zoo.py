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
