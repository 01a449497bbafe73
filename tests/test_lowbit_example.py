"""The bundled digits example (ONNX, with the TRANSPOSE its NCHW flatten needs) through the low-bit modes:
16x8 and W4A8 run byte-identical in runtime_c and LiteRT's reference kernels; the dynamic-range model runs in
runtime_c within float rounding of LiteRT's."""
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter as LiteRT, OpResolverType

from edgeq.quantize.lowbit import convert_lowbit
from edgeq.runtime import Interpreter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from digits import digits_split  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    x_tr, _, x_te, y_te = digits_split()
    return x_tr[:200], np.transpose(x_te[:30], (0, 2, 3, 1)), y_te[:30]


def _inputs(model: bytes, x: np.ndarray):
    ref = LiteRT(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    d = ref.get_input_details()[0]
    if d["dtype"] != np.float32:
        s, z = d["quantization"]
        info = np.iinfo(d["dtype"])
        x = np.clip(np.round(x / s) + z, info.min, info.max).astype(d["dtype"])
    return ref, d, x.astype(d["dtype"])


def _run_both(model: bytes, x: np.ndarray):
    ref, d, xs = _inputs(model, x)
    ours, theirs = [], []
    it = Interpreter(model)
    for i in range(xs.shape[0]):
        ref.set_tensor(d["index"], xs[i:i + 1])
        ref.invoke()
        theirs.append(ref.get_tensor(ref.get_output_details()[0]["index"]).copy())
        ours.append(it.run(xs[i:i + 1])[0])
    return np.stack(ours), np.stack(theirs)


@pytest.mark.parametrize("mode", [dict(activations="int16"), dict(weights="int4")], ids=["16x8", "w4a8"])
def test_example_lowbit_runs_bit_exact_in_runtime_c(digits, mode):
    calib, x, y = digits
    model = convert_lowbit(str(ROOT / "edgeq" / "examples" / "digits_cnn.onnx"), calib=calib, **mode).model
    ours, theirs = _run_both(model, x)
    assert np.array_equal(ours, theirs)
    assert np.mean(ours.reshape(len(y), -1).argmax(-1) == y) >= 0.9


def test_example_dynamic_range_runs_in_runtime_c(digits):
    calib, x, y = digits
    model = convert_lowbit(str(ROOT / "edgeq" / "examples" / "digits_cnn.onnx"), dynamic=True).model
    ours, theirs = _run_both(model, x)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    assert np.mean(ours.reshape(len(y), -1).argmax(-1) == y) >= 0.9
