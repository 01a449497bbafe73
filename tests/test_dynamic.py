"""Dynamic-range (hybrid) models: int8 per-channel weights, float activations, run by LiteRT close to float."""
import numpy as np
import pytest
from graph_builders import cases
from onemodel import run_reference
from test_int_exec import _samples

from edgeq.errors import UnsupportedError
from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.quantize.dynamic import quantize_dynamic
from edgeq.quantize.report import sqnr_db
from edgeq.reference.float_exec import run_float


@pytest.mark.parametrize("name", ["small_cnn", "conv_same_relu", "dw_same", "fc"])
def test_hybrid_runs_in_litert_near_float(name):
    graph, feeds = cases()[name]
    x = _samples(graph, feeds, n=6)
    q = quantize_dynamic(graph)
    model = write_tflite(q)
    back = read_tflite(model)
    weights = [back.tensors[op.inputs[1]] for op in back.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert weights and all(w.dtype == "int8" and w.quant.scale.size > 1 for w in weights)
    assert all(back.tensors[n].dtype == "float32" for n in back.inputs + back.outputs)
    for op in back.ops:
        if op.type == "FULLY_CONNECTED":
            assert op.options["asymmetric_quantize_inputs"] is True
    yf = run_float(graph, x)[0]
    y = np.concatenate([run_reference(model, x[0][k:k + 1])[0] for k in range(x[0].shape[0])])
    assert sqnr_db(yf, y.reshape(yf.shape)) > 30.0


def test_small_weights_stay_float_and_nothing_to_do_is_an_error():
    graph, _ = cases()["fc"]
    with pytest.raises(UnsupportedError, match="nothing to do"):
        quantize_dynamic(graph, min_elements=10**6)
    graph, _ = cases()["relu"]
    with pytest.raises(UnsupportedError):
        quantize_dynamic(graph)
