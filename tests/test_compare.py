"""edgeq compare: bit-exact counts against LiteRT's reference kernels, the first diverging op located on a
real divergence (LiteRT with XNNPACK rounds a conv differently) and checked independently, per-op captures
equal LiteRT's intermediates, input files and folders, and the CLI's exit codes."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter as LiteRT, OpResolverType
from typer.testing import CliRunner

from edgeq.cli import app
from edgeq.compare import compare, random_inputs
from edgeq.errors import EdgeqError
from edgeq.introspect import RuntimeView
from edgeq.runtime import Interpreter
from tool_models import pool_conv, small_cnn

MLPERF = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]


def _litert_tensors(model: bytes, kind, x) -> dict[int, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = LiteRT(model_content=model, experimental_op_resolver_type=kind, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    out = {}
    for d in it.get_tensor_details():
        try:
            out[d["index"]] = it.get_tensor(d["index"]).copy()
        except ValueError:
            pass
    return out


@pytest.fixture(scope="module")
def cnn() -> bytes:
    return small_cnn(0)


def test_bit_exact_on_random_inputs(cnn):
    r = compare(cnn, random=20, seed=3)
    assert r.bit_exact and r.samples == 20 and r.divergence is None
    (o,) = r.outputs
    assert (o.exact, o.samples, o.max_abs_diff, o.differing_elements) == (20, 20, 0.0, 0)
    assert o.shape == [1, 10] and o.dtype == "int8"


def test_every_op_capture_equals_litert_intermediates(cnn):
    # The planner reuses buffers, so each op output must be copied as its op finishes.
    x = np.random.default_rng(5).integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    view = RuntimeView(cnn)
    outs, ours = view.run_capture([x])
    theirs = _litert_tensors(cnn, OpResolverType.BUILTIN_REF, x)
    produced = [t for op in range(view.n_ops) for t in view.op_io(op)[1]]
    assert sorted(ours) == sorted(produced) and len(produced) == 6
    for t in produced:
        np.testing.assert_array_equal(ours[t], theirs[t].reshape(ours[t].shape), err_msg=f"tensor {t}")
    np.testing.assert_array_equal(outs[0], theirs[view.outputs[0]])


def test_first_divergence_is_located():
    model = pool_conv(0)
    r = compare(model, random=3, seed=0, reference="xnnpack")
    assert not r.bit_exact, "LiteRT's XNNPACK conv no longer differs from the reference on this model"
    d = r.divergence
    assert d is not None and (d.op_index, d.op, d.tensor_name) == (1, "CONV_2D", "y")
    # Independently: on that sample the pool output agrees, the conv output differs by d's counts.
    (x,) = random_inputs(Interpreter(model).inputs, 3, seed=0)[d.sample]
    ref = _litert_tensors(model, OpResolverType.BUILTIN_REF, x)
    xnn = _litert_tensors(model, OpResolverType.AUTO, x)
    view = RuntimeView(model)
    pool_out, conv_out = view.op_io(0)[1][0], view.op_io(1)[1][0]
    np.testing.assert_array_equal(ref[pool_out], xnn[pool_out])
    diff = np.abs(ref[conv_out].astype(int) - xnn[conv_out].astype(int))
    assert (diff > 0).sum() == d.differing_elements and diff.max() == d.max_abs_diff
    assert r.outputs[0].exact < 3 and r.outputs[0].max_abs_diff >= 1
    # the same model is bit-exact against the reference kernels
    assert compare(model, random=3, seed=0).bit_exact


def test_inputs_from_files_and_folders(cnn, tmp_path):
    rng = np.random.default_rng(2)
    xs = rng.integers(-128, 128, (4, 1, 8, 8, 3), dtype=np.int8)
    np.save(tmp_path / "one.npy", xs[0])
    assert compare(cnn, inputs=tmp_path / "one.npy").samples == 1
    np.savez(tmp_path / "stack.npz", x=xs[:, 0])
    r = compare(cnn, inputs=tmp_path / "stack.npz")
    assert r.samples == 4 and r.bit_exact
    folder = tmp_path / "samples"
    folder.mkdir()
    for k in range(3):
        np.save(folder / f"s{k}.npy", xs[k])
    assert compare(cnn, inputs=folder).samples == 3
    # float data is quantized with the input's scale (0.05) and zero point (3)
    np.save(tmp_path / "float.npy", rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32))
    assert compare(cnn, inputs=tmp_path / "float.npy").samples == 2
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 5, 3), np.int8))
    with pytest.raises(EdgeqError, match="does not fit input"):
        compare(cnn, inputs=tmp_path / "bad.npy")
    with pytest.raises(EdgeqError, match="no such file"):
        compare(cnn, inputs=tmp_path / "nothing")


def test_image_folder(cnn, tmp_path):
    from PIL import Image

    for k in range(2):
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
            tmp_path / f"i{k}.png")
    r = compare(cnn, inputs=tmp_path)
    assert r.samples == 2 and r.bit_exact


def test_cli_exit_codes_and_json(cnn, tmp_path):
    runner = CliRunner()
    good = tmp_path / "cnn.tflite"
    good.write_bytes(cnn)
    r = runner.invoke(app, ["compare", str(good), "--random", "4"])
    assert r.exit_code == 0, r.output
    assert "4/4" in r.stdout and "bit-exact" in r.stdout
    diverging = tmp_path / "pool_conv.tflite"
    diverging.write_bytes(pool_conv(0))
    r = runner.invoke(app, ["compare", str(diverging), "-n", "3", "--reference", "xnnpack", "--json"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    assert d["bit_exact"] is False and d["divergence"]["op"] == "CONV_2D" and d["divergence"]["op_index"] == 1
    r = runner.invoke(app, ["compare", str(diverging), "-n", "3", "--reference", "xnnpack"])
    assert r.exit_code == 1 and "first divergence" in r.stdout and "op 1 CONV_2D" in r.stdout
    r = runner.invoke(app, ["compare", str(good), "--inputs", str(tmp_path / "missing.npy")])
    assert r.exit_code == 2 and "edgeq: error:" in r.output


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_bit_exact(zoo, name):
    r = compare(zoo / "mlperf_tiny" / f"{name}.tflite", random=5, seed=11)
    assert r.bit_exact, r.to_dict()


def test_mlperf_builtin_divergence_on_fully_connected(zoo):
    # LiteRT's optimized FULLY_CONNECTED rounds differently from its reference on the AD model.
    r = compare(zoo / "mlperf_tiny" / "ad01_int8.tflite", random=3, reference="builtin")
    assert not r.bit_exact and r.divergence is not None and r.divergence.op == "FULLY_CONNECTED"
