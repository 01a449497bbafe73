"""The `edgeq` CLI end to end: convert the bundled example from both formats and every calibration source
kind, check the written INT8 file in LiteRT, inspect it, and run the installed console script once."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgeq.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "edgeq" / "examples"
ONNX_MODEL = EXAMPLES / "digits_cnn.onnx"
TFLITE_MODEL = EXAMPLES / "digits_cnn.tflite"


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images.astype(np.float32) / 16.0)[:, None], d.target  # NCHW in [0, 1]


@pytest.fixture
def calib(tmp_path, digits) -> Path:
    np.save(tmp_path / "calib.npy", digits[0][:64])
    return tmp_path / "calib.npy"


def litert(path: Path, x_nhwc: np.ndarray):
    """Run a .tflite on NHWC float samples; returns (input detail, output detail, float outputs)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for x in x_nhwc:
        if np.issubdtype(i["dtype"], np.integer):
            s, z = i["quantization"]
            x = np.clip(np.round(x / s) + z, np.iinfo(i["dtype"]).min, np.iinfo(i["dtype"]).max)
        it.set_tensor(i["index"], x[None].astype(i["dtype"]))
        it.invoke()
        y = it.get_tensor(o["index"])
        if np.issubdtype(y.dtype, np.integer):
            s, z = o["quantization"]
            y = (y.astype(np.float32) - z) * s
        out.append(y)
    return i, o, np.concatenate(out)


def test_help_lists_verbs_and_explains():
    r = run("--help")
    assert r.exit_code == 0
    for verb in ("convert", "inspect"):
        assert verb in r.stdout
    r = run("convert", "--help")
    assert r.exit_code == 0
    for opt in ("--calib", "--method", "--percentile", "--io", "--preprocess", "--report", "--weight-clip", "NCHW"):
        assert opt in r.stdout


def test_version():
    from edgeq import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"edgeq {__version__}"


def test_cli_default_method_is_the_converters():
    from edgeq.cli import DEFAULT_METHOD
    from edgeq.converter import DEFAULT_METHOD as API_DEFAULT

    assert DEFAULT_METHOD.value == API_DEFAULT


def test_convert_onnx_int8_with_report(tmp_path, calib, digits):
    out, rep = tmp_path / "d_int8.tflite", tmp_path / "report.json"
    r = run("convert", ONNX_MODEL, "-o", out, "--calib", calib, "--method", "kl", "--report", rep)
    assert r.exit_code == 0, r.output
    assert "NCHW" in r.stdout and "NHWC" in r.stdout  # the layout note
    assert "SQNR" in r.stdout and "top-1 agreement" in r.stdout and "FULLY_CONNECTED" in r.stdout
    report = json.loads(rep.read_text())
    assert report["method"] == "kl" and report["int8_bytes"] == out.stat().st_size
    assert report["layers"] and report["output_sqnr_db"]["probs"] > 25
    # The written file is a full-integer model that LiteRT runs and that agrees with the float model.
    x, y = digits
    test = x[-200:].transpose(0, 2, 3, 1)
    i, o, q = litert(out, test)
    assert i["dtype"] == np.int8 and o["dtype"] == np.int8
    _, _, f = litert(TFLITE_MODEL, test)
    assert np.mean(q.argmax(1) == f.argmax(1)) >= 0.97
    assert np.mean(q.argmax(1) == y[-200:]) >= 0.93


def test_convert_tflite_from_image_dir_with_float_io(tmp_path, digits):
    x, _ = digits
    images = tmp_path / "images"
    images.mkdir()
    for k in range(20):  # 0..1 floats -> 8-bit grayscale PNGs; scale=1/255 maps them back
        Image.fromarray(np.round(x[k, 0] * 255).astype(np.uint8)).save(images / f"{k:02d}.png")
    out = tmp_path / "img_int8.tflite"
    r = run("convert", TFLITE_MODEL, "-o", out, "--calib", images, "--preprocess", "scale=1/255",
            "--io", "float", "--method", "percentile", "--percentile", "99.9")
    assert r.exit_code == 0, r.output
    i, o, q = litert(out, x[-50:].transpose(0, 2, 3, 1))
    assert i["dtype"] == np.float32 and o["dtype"] == np.float32
    _, _, f = litert(TFLITE_MODEL, x[-50:].transpose(0, 2, 3, 1))
    assert np.mean(q.argmax(1) == f.argmax(1)) >= 0.95


def test_convert_uint8_io_default_output_and_weight_clip(tmp_path, calib):
    src = tmp_path / "model.onnx"
    src.write_bytes(ONNX_MODEL.read_bytes())
    r = run("convert", src, "--calib", calib, "--io", "uint8", "--weight-clip", "--method", "minmax")
    assert r.exit_code == 0, r.output
    out = tmp_path / "model_int8.tflite"
    i, o, _ = litert(out, np.zeros((1, 8, 8, 1), np.float32))
    assert i["dtype"] == np.uint8 and o["dtype"] == np.uint8


def test_convert_from_npz(tmp_path, digits):
    np.savez(tmp_path / "c.npz", image=digits[0][:32])
    r = run("convert", ONNX_MODEL, "-o", tmp_path / "o.tflite", "--calib", tmp_path / "c.npz", "-m", "ema")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.tflite").stat().st_size > 1000


def test_inspect_text_and_json(tmp_path, calib):
    out = tmp_path / "q.tflite"
    assert run("convert", ONNX_MODEL, "-o", out, "--calib", calib).exit_code == 0
    r = run("inspect", out)
    assert r.exit_code == 0, r.output
    for word in ("CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX", "int8", "0.00390625"):
        assert word in r.stdout
    r = run("inspect", out, "--json")
    desc = json.loads(r.stdout)
    assert desc["inputs"][0]["dtype"] == "int8" and desc["inputs"][0]["shape"] == [1, 8, 8, 1]
    r = run("inspect", ONNX_MODEL, "--json")  # an ONNX source is described after import (NHWC)
    assert json.loads(r.stdout)["inputs"][0]["shape"] == [1, 8, 8, 1]


def test_run_on_runtime_c_matches_litert(tmp_path, calib, digits):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model = tmp_path / "q.tflite"
    assert run("convert", ONNX_MODEL, "-o", model, "--calib", calib).exit_code == 0
    x = digits[0][-8:].transpose(0, 2, 3, 1)  # NHWC floats: quantized by the verb
    np.save(tmp_path / "x.npy", x)
    r = run("run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (8, 10) and y.dtype == np.int8
    it = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s, z = i["quantization"]
    for k in range(8):
        it.set_tensor(i["index"], np.clip(np.round(x[k:k + 1] / s) + z, -128, 127).astype(np.int8))
        it.invoke()
        np.testing.assert_array_equal(y[k], it.get_tensor(o["index"])[0])
    # NCHW data for the NHWC model: refused with the shapes, nothing written
    r = run("run", model, "--input", calib, "--output", tmp_path / "bad.npy")
    assert r.exit_code == 2 and "[64, 1, 8, 8]" in r.stderr and "[1, 8, 8, 1]" in r.stderr
    assert not (tmp_path / "bad.npy").exists()


def _console_script() -> Path:
    script = Path(sys.executable).with_name("edgeq")
    assert script.exists(), f"the edgeq console script is not installed beside {sys.executable} (run make setup)"
    return script


def test_installed_console_script(tmp_path, calib):
    """The real entry point: a conversion, then a bad input giving one line and exit code 2."""
    exe = str(_console_script())
    env = {k: v for k, v in os.environ.items() if k != "EDGEQ_DEBUG"}
    out = tmp_path / "s.tflite"
    ok = subprocess.run([exe, "convert", str(ONNX_MODEL), "-o", str(out), "--calib", str(calib)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert out.exists() and "SQNR" in ok.stdout
    bad = subprocess.run([exe, "inspect", str(calib)], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("edgeq: error: ")
    assert "Traceback" not in bad.stderr + bad.stdout
