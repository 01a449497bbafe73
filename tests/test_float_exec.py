"""The numpy float executor against LiteRT's reference kernels: one small model per op, batching, errors,
and (with EDGEQ_ZOO) the MLPerf Tiny float models on real inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import graph_builders
from edgeq.errors import CalibrationError, UnsupportedError
from edgeq.model.ir import Op, Tensor
from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.reference.float_exec import batchable, run_float

CASES = graph_builders.cases()
MAX_REL = 1e-4


def litert(model: bytes | str, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of LiteRT's reference kernels, one sample at a time (feeds stacked on axis 0)."""
    kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    results = []
    for i in range(feeds[0].shape[0]):
        for d, x in zip(ins, feeds):
            it.set_tensor(d["index"], x[i:i + 1].astype(d["dtype"]))
        it.invoke()
        results.append([it.get_tensor(d["index"]) for d in outs])
    return [np.concatenate(r, axis=0) for r in zip(*results)]


def max_rel(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / max |ref|: relative to the output's scale, so near-zero entries do not blow up."""
    return float(np.abs(a.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_litert(name):
    g, feeds = CASES[name]
    model = write_tflite(g)
    ref = litert(model, feeds)
    ours = run_float(read_tflite(model), feeds)
    assert len(ours) == len(ref)
    for a, r in zip(ours, ref):
        assert a.shape == r.shape and a.dtype == r.dtype
        assert max_rel(a, r) <= MAX_REL, f"{name}: {max_rel(a, r):.3g}"


@pytest.mark.parametrize("name", ["small_cnn", "conv_same_s2_even", "strided_slice", "mean", "transpose", "squeeze"])
def test_batched_equals_one_at_a_time(name):
    g, feeds = CASES[name]
    rng = np.random.default_rng(1)
    stacked = [rng.standard_normal((7,) + f.shape[1:]).astype(np.float32) for f in feeds]
    assert batchable(g)
    together = run_float(g, stacked, batch=4)
    single = [run_float(g, [s[i:i + 1] for s in stacked]) for i in range(7)]
    for k, out in enumerate(together):
        assert out.shape[0] == 7
        np.testing.assert_allclose(out, np.concatenate([s[k] for s in single]), rtol=1e-5, atol=1e-6)


def test_unbatchable_graph_runs_sample_by_sample():
    # a reshape that folds axis 0 away cannot see stacked samples: results must still be per sample
    g, _ = CASES["reshape"]
    g = g.copy()
    out = g.outputs[0]
    g.tensors[out].shape = (24,)
    g.ops[0].inputs[1] = g.add_const("flat", np.array([24], np.int32)).name
    assert not batchable(g)
    x = np.arange(3 * 24, dtype=np.float32).reshape(3, 2, 3, 4)
    y = run_float(g, [x])[0]
    assert y.shape == (72,)
    np.testing.assert_array_equal(y, x.ravel())


def test_lower_rank_broadcast_operand_runs_sample_by_sample():
    # [1, 3, 4] + [1, 4]: stacked on axis 0, the second operand's sample axis would meet the first's rows
    b = graph_builders.Builder("bcast")
    x, y = b.input((1, 3, 4)), b.input((1, 4))
    g, _ = b.done(b.op("ADD", [x, y], (1, 3, 4), fused_activation_function="NONE"))
    assert not batchable(g)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    out = run_float(g, [xs, ys])[0]
    np.testing.assert_array_equal(out, xs + ys[:, None, :])


def test_capture_returns_every_activation():
    g, feeds = CASES["small_cnn"]
    acts = run_float(g, feeds, capture=True)
    assert set(acts) == set(g.activations())
    assert acts[g.outputs[0]].shape == (1, 4)
    np.testing.assert_allclose(acts[g.outputs[0]].sum(), 1.0, rtol=1e-6)
    only = run_float(g, {g.inputs[0]: feeds[0]}, capture=[g.ops[0].outputs[0]])
    assert list(only) == [g.ops[0].outputs[0]]


def test_input_errors():
    g, feeds = CASES["small_cnn"]
    with pytest.raises(CalibrationError, match="expects shape"):
        run_float(g, [np.zeros((1, 5, 5, 3), np.float32)])
    with pytest.raises(CalibrationError, match="input"):
        run_float(g, [])
    with pytest.raises(CalibrationError, match="no data"):
        run_float(g, {"nope": feeds[0]})
    # a sample without its batch axis is accepted
    assert run_float(g, [feeds[0][0]])[0].shape == (1, 4)


def test_unsupported_op_names_op_and_tensor():
    g, feeds = CASES["relu"]
    g = g.copy()
    g.ops[0].type = "CUMSUM"
    with pytest.raises(UnsupportedError, match=r"CUMSUM.*relu_1"):
        run_float(g, feeds)


def test_quantized_graph_is_refused():
    g, feeds = CASES["relu"]
    g = g.copy()
    t = g.tensors[g.ops[0].outputs[0]]
    t.dtype = "int8"
    from edgeq.model.ir import QuantParams
    t.quant = QuantParams([0.1], [0])
    with pytest.raises(UnsupportedError, match="quantized"):
        run_float(g, feeds)


def test_float16_weights_behind_dequantize_match_litert():
    """TFLite's float16 models keep fp16 weights behind DEQUANTIZE; read folds them into float32."""
    b = graph_builders.Builder("fp16")
    x = b.input((1, 6, 6, 3))
    w16 = b.const((b.rng.standard_normal((4, 3, 3, 3)) * 0.5).astype(np.float16), "w16")
    b.g.add_tensor(Tensor("w", (4, 3, 3, 3)))
    b.g.add_op(Op("DEQUANTIZE", [w16], ["w"]))
    y = b.op("CONV_2D", [x, "w", b.weights((4,))], (1, 6, 6, 4), padding="SAME", stride_h=1, stride_w=1)
    g, feeds = b.done(y)
    model = write_tflite(g)
    back = read_tflite(model)
    assert [op.type for op in back.ops] == ["CONV_2D"]
    assert back.tensors["w"].dtype == "float32" and back.tensors["w"].is_const
    assert "w16" not in back.tensors
    assert max_rel(run_float(back, feeds)[0], litert(model, feeds)[0]) <= MAX_REL


# --- the MLPerf Tiny float models on real inputs (EDGEQ_ZOO) ---------------------------------------
def _images(zoo_data: Path, size: int, scale: float) -> np.ndarray:
    from PIL import Image
    files = sorted((zoo_data / "images").iterdir())
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR), np.float32) * scale
                     for f in files])


def _anomaly(zoo_data: Path) -> np.ndarray:
    return np.fromfile(next((zoo_data / "anomaly").glob("*.bin")), np.float32).reshape(-1, 640)


ZOO_INPUTS = {
    "vww_96_float": lambda d: _images(d, 96, 1 / 255),
    "pretrainedResnet": lambda d: _images(d, 32, 1.0),
    "ad01_fp32": _anomaly,
}


@pytest.mark.zoo
@pytest.mark.parametrize("model", sorted(ZOO_INPUTS))
def test_mlperf_float_models_match_litert(zoo, zoo_data, model):
    path = zoo / "mlperf_tiny" / f"{model}.tflite"
    x = ZOO_INPUTS[model](zoo_data)
    g = read_tflite(path)
    assert batchable(g)
    ours = run_float(g, [x])[0]
    ref = litert(path, [x])[0]
    assert ours.shape == ref.shape == (x.shape[0],) + g.tensors[g.outputs[0]].shape[1:]
    assert max_rel(ours, ref) <= MAX_REL
