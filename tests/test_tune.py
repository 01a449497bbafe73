"""The whole-network tune pass (optional PyTorch) on small graphs: its torch simulation follows the integer
model, it lowers the calibration objective, and what it writes stays bit-exact in runtime_c vs LiteRT."""
import sys

import numpy as np
import pytest
from test_lowbit import _deep_cnn
from test_int_exec import _samples

from edgeq.errors import EdgeqError
from edgeq.model.tflite_io import write_tflite
from edgeq.quantize.lowbit import convert_lowbit, parse_recover


@pytest.fixture(scope="module")
def w4(request):
    pytest.importorskip("torch", reason="the tune pass needs PyTorch (the 'qat' extra)")
    g, feeds = _deep_cnn()
    x = _samples(g, feeds, n=40, seed=5)[0]
    # plain nearest rounding of min/max INT4 weights: an error the network-level fit can measurably reduce
    r = convert_lowbit(write_tflite(g), calib=x, weights="int4", holdout=0, measure_passes=False,
                       weight_clip="minmax")
    return g, r.graph, x


def test_simulation_follows_the_integer_model(w4):
    import torch

    from edgeq.quantize.mixed import model_inputs
    from edgeq.quantize.tune import _Sim
    from edgeq.reference.int_exec import run_int

    g, q, x = w4
    sim = _Sim(q, g, True, 0.05)
    xi = model_inputs(q, [x])[0]
    t_in = q.tensors[q.inputs[0]]
    xr = (xi.astype(np.float64) - t_in.quant.zero_point[0]) * t_in.quant.scale[0]
    with torch.no_grad():
        y = sim.forward([torch.tensor(xr, dtype=torch.float32)], hard=True).numpy()
    t = q.tensors[sim.target]
    z = (run_int(q, [xi], capture=True)[sim.target].astype(np.float64) - t.quant.zero_point[0]) * t.quant.scale[0]
    err = np.abs(y.reshape(z.shape) - z) / t.quant.scale[0]
    assert np.median(err) <= 1.0 and err.max() <= 6, (np.median(err), err.max())  # requantization rounding only


def test_tune_lowers_the_objective_and_stays_bit_exact(w4):
    from onemodel import run_reference

    from edgeq.quantize.mixed import model_inputs
    from edgeq.quantize.tune import tune
    from edgeq.runtime import Interpreter

    g, q, x = w4
    before = {n: t.data.copy() for n, t in q.tensors.items() if t.data is not None}
    q2, info = tune(g, g, q, [x], steps=200)
    assert info["kept"] and info["flipped"] > 0, info
    assert info["objective_after"] < 0.9 * info["objective_before"], info
    assert info["holdback_after"] < info["holdback_before"], info
    assert all(np.array_equal(t.data, before[n]) for n, t in q.tensors.items() if n in before)  # input untouched
    assert all(q2.tensors[op.inputs[1]].dtype == "int4" for op in q2.ops if op.type in ("CONV_2D", "FULLY_CONNECTED"))
    cand = q2
    model = write_tflite(cand)
    it = Interpreter(model)
    xs = model_inputs(cand, [x])[0]
    for k in range(0, len(x), 7):
        np.testing.assert_array_equal(it.run(xs[k:k + 1])[0].ravel(), run_reference(model, xs[k:k + 1])[0].ravel())


def test_pipeline_appends_a_tune_row(w4):
    g, _, x = w4
    r = convert_lowbit(write_tflite(g), calib=x, weights="int4", recover=("bias", "tune"), tune_opts={"steps": 60})
    assert [p["pass"] for p in r.passes] == ["none", "bias", "bias+tune"]
    assert any(n.startswith("tune: ") for n in r.notes)


def test_unsupported_op_is_refused(w4):
    from edgeq.quantize.tune import tune

    g, q, x = w4
    bad = q.copy()
    next(op for op in bad.ops if op.type == "AVERAGE_POOL_2D").type = "L2_POOL_2D"
    with pytest.raises(EdgeqError, match="cannot simulate op L2_POOL_2D"):
        tune(g, g, bad, [x], steps=1)


def test_without_torch_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(EdgeqError) as e:
        parse_recover("cle,tune")
    assert str(e.value) == "--recover tune needs PyTorch: pip install 'edgeq[qat]'"
    assert parse_recover("cle,adaround") == ("cle", "adaround")
