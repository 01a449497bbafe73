"""16x8 PTQ: int16 symmetric activations, int64 bias, fixed 1/32768 outputs; LiteRT runs the models close to float."""
import numpy as np
import pytest
from graph_builders import cases
from onemodel import run_reference
from test_int_exec import _samples

from edgeq.errors import UnsupportedError
from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.quantize.calibrate import calibrate_stats
from edgeq.quantize.int16 import quantize_graph_16x8
from edgeq.quantize.report import sqnr_db
from edgeq.reference.float_exec import run_float


@pytest.mark.parametrize("name", ["logistic", "tanh", "relu", "mul", "maximum", "avgpool_valid", "mean",
                                  "leaky_relu", "softmax", "small_cnn"])
def test_16x8_runs_in_litert_near_float(name):
    g, feeds = cases()[name]
    x = _samples(g, feeds)
    ranges, _ = calibrate_stats(g, x, "minmax", progress=False)
    q = quantize_graph_16x8(g, ranges, io="float")
    model = write_tflite(q)
    back = read_tflite(model)
    acts = [t for t in back.tensors.values() if not t.is_const and t.dtype not in ("float32",)]
    assert acts and all(t.dtype == "int16" and int(t.quant.zero_point[0]) == 0 for t in acts)
    for op in back.ops:
        if op.type in ("SOFTMAX", "LOGISTIC", "TANH"):
            out = back.tensors[op.outputs[0]]
            assert float(out.quant.scale[0]) == pytest.approx(1 / 32768)
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(op.inputs) > 2:
            assert back.tensors[op.inputs[2]].dtype == "int64"
    y = np.concatenate([run_reference(model, *[a[k:k + 1] for a in x])[0] for k in range(4)])
    assert sqnr_db(run_float(g, [a[:4] for a in x])[0], y.reshape(4, *y.shape[1:])) > 40.0


def test_ops_without_int16_kernels_are_refused():
    g, feeds = cases()["hard_swish"]
    ranges, _ = calibrate_stats(g, _samples(g, feeds), "minmax", progress=False)
    with pytest.raises(UnsupportedError, match="no 16x8 kernel"):
        quantize_graph_16x8(g, ranges)
