"""Bad input through the CLI: one line `edgeq: error: ...` on stderr, exit code 2, no traceback, no output file.

Covers: a file that is not a model, a truncated model, an unsupported op (named with its node), NaN/inf
weights, empty and mismatched calibration sets, unwritable outputs, and unexpected internal errors.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from edgeq.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "edgeq" / "examples"
ONNX_MODEL = EXAMPLES / "digits_cnn.onnx"
TFLITE_MODEL = EXAMPLES / "digits_cnn.tflite"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeq: error: "), lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def assert_no_output(folder: Path, keep: set[str]):
    """Nothing new in ``folder`` (no output, no temporary file) besides the files in ``keep``."""
    assert {p.name for p in folder.iterdir()} == keep


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder with digit images as calibration arrays: NCHW for the .onnx model, NHWC for the .tflite."""
    from sklearn.datasets import load_digits

    x = (load_digits().images[:24].astype(np.float32) / 16.0)[:, None]
    np.save(tmp_path / "nchw.npy", x)
    np.save(tmp_path / "nhwc.npy", x.transpose(0, 2, 3, 1))
    return tmp_path


def convert(work: Path, src, calib="nchw.npy", *extra):
    return run("convert", src, "-o", work / "out.tflite", "--calib", work / calib, *extra)


BASE = {"nchw.npy", "nhwc.npy"}


# --- the model file ------------------------------------------------------------------------------------------
def test_not_a_model(work):
    bad = work / "notes.tflite"
    bad.write_text("these are my notes, not a model\n")
    assert_one_line_error(convert(work, bad), "notes.tflite")
    assert_no_output(work, BASE | {"notes.tflite"})
    assert_one_line_error(run("inspect", bad), "notes.tflite")


def test_missing_model(work):
    assert_one_line_error(convert(work, work / "nope.onnx"), "nope.onnx")
    assert_no_output(work, BASE)


@pytest.mark.parametrize("model", [TFLITE_MODEL, ONNX_MODEL], ids=["tflite", "onnx"])
def test_truncated_model(work, model):
    cut = work / f"cut{model.suffix}"
    cut.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    calib = "nchw.npy" if model.suffix == ".onnx" else "nhwc.npy"
    assert_one_line_error(convert(work, cut, calib), cut.name)
    assert_no_output(work, BASE | {cut.name})


def unsupported_model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    w = numpy_helper.from_array(np.eye(10, dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"),
             helper.make_node("Hardmax", ["h"], ["y"], name="pick_max", axis=1)]
    g = helper.make_graph(nodes, "odd", [x], [y], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_unsupported_op_names_op_and_node(work):
    src = work / "odd.onnx"
    unsupported_model(src)
    np.save(work / "vec.npy", np.ones((4, 10), np.float32))
    assert_one_line_error(convert(work, src, "vec.npy"), "Hardmax", "pick_max")
    assert_no_output(work, BASE | {"odd.onnx", "vec.npy"})


def test_nan_weights_onnx(work):
    m = onnx.load(ONNX_MODEL)
    init = m.graph.initializer[0]
    w = numpy_helper.to_array(init).copy()
    w.flat[0] = np.nan
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(m, work / "nan.onnx")
    assert_one_line_error(convert(work, work / "nan.onnx"), "NaN")
    assert_no_output(work, BASE | {"nan.onnx"})


def test_inf_weights_tflite(work):
    from edgeq.model.tflite_io import read_tflite, save_tflite

    g = read_tflite(TFLITE_MODEL)
    name = next(n for n, t in g.tensors.items() if t.is_const and t.data.dtype == np.float32 and t.data.size > 8)
    g.tensors[name].data = g.tensors[name].data.copy()
    g.tensors[name].data.flat[3] = np.inf
    save_tflite(g, work / "inf.tflite")
    assert_one_line_error(convert(work, work / "inf.tflite", "nhwc.npy"), "inf", name)
    assert_no_output(work, BASE | {"inf.tflite"})


# --- calibration data ------------------------------------------------------------------------------------------
def test_empty_calibration_dir(work):
    (work / "empty").mkdir()
    assert_one_line_error(convert(work, ONNX_MODEL, "empty"), "empty")
    assert_no_output(work, BASE | {"empty"})


def test_calibration_dir_without_images(work):
    (work / "docs").mkdir()
    (work / "docs" / "readme.txt").write_text("no images")
    assert_one_line_error(convert(work, ONNX_MODEL, "docs"), "no images")


def test_empty_calibration_array(work):
    np.save(work / "none.npy", np.zeros((0, 1, 8, 8), np.float32))
    assert_one_line_error(convert(work, ONNX_MODEL, "none.npy"), "no samples")
    assert_no_output(work, BASE | {"none.npy"})


def test_mismatched_calibration_names_input_and_shapes(work):
    # NHWC data given to the NCHW source model
    msg = assert_one_line_error(convert(work, ONNX_MODEL, "nhwc.npy"))
    assert "'image'" in msg and "[24, 8, 8, 1]" in msg and "[1, 1, 8, 8]" in msg
    assert_no_output(work, BASE)


def test_missing_calibration(work):
    assert_one_line_error(convert(work, ONNX_MODEL, "absent.npz"), "absent.npz", "does not exist")


def test_bad_preprocess_spec(work):
    assert_one_line_error(convert(work, ONNX_MODEL, "nchw.npy", "--preprocess", "size=big"), "size")


# --- outputs ---------------------------------------------------------------------------------------------------
def test_output_folder_missing(work):
    r = run("convert", ONNX_MODEL, "-o", work / "no" / "such" / "out.tflite", "--calib", work / "nchw.npy")
    assert_one_line_error(r, "no/such")
    assert_no_output(work, BASE)


def test_output_under_a_file(work):
    (work / "file").write_text("x")
    r = run("convert", ONNX_MODEL, "-o", work / "file" / "out.tflite", "--calib", work / "nchw.npy")
    assert_one_line_error(r, "file")
    assert_no_output(work, BASE | {"file"})


def test_output_is_a_directory(work):
    (work / "outdir").mkdir()
    r = run("convert", ONNX_MODEL, "-o", work / "outdir", "--calib", work / "nchw.npy")
    assert_one_line_error(r, "outdir")
    assert list((work / "outdir").iterdir()) == []


def test_unwritable_report_leaves_no_model(work):
    r = run("convert", ONNX_MODEL, "-o", work / "out.tflite", "--calib", work / "nchw.npy",
            "--report", work / "gone" / "r.json")
    assert_one_line_error(r, "gone")
    assert_no_output(work, BASE)


def test_report_write_failure_after_conversion_removes_model(work, monkeypatch):
    """The model is written before the report; a report that fails late must not leave the model behind."""
    from edgeq.quantize import report as report_mod

    def fail(self, path, extra=None):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(report_mod.FidelityReport, "write_json", fail)
    r = run("convert", ONNX_MODEL, "-o", work / "out.tflite", "--calib", work / "nchw.npy",
            "--report", work / "r.json")
    assert_one_line_error(r, "r.json", "Permission denied")
    assert_no_output(work, BASE)


def test_failed_conversion_keeps_an_existing_output(work):
    (work / "out.tflite").write_bytes(b"previous")
    assert_one_line_error(convert(work, ONNX_MODEL, "nhwc.npy"))
    assert (work / "out.tflite").read_bytes() == b"previous"


# --- unexpected errors and --debug -----------------------------------------------------------------------------
@pytest.fixture
def broken_converter(monkeypatch):
    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(sys.modules["edgeq.converter"], "convert_file", boom)


def test_internal_error_is_one_line(work, broken_converter):
    assert_one_line_error(convert(work, ONNX_MODEL), "internal error: ZeroDivisionError: division by zero")
    assert_no_output(work, BASE)


def test_debug_shows_the_exception(work, broken_converter):
    r = run("--debug", "convert", ONNX_MODEL, "-o", work / "out.tflite", "--calib", work / "nchw.npy")
    assert isinstance(r.exception, ZeroDivisionError)
    r = run("convert", ONNX_MODEL, "-o", work / "out.tflite", "--calib", work / "nchw.npy",
            env={"EDGEQ_DEBUG": "1"})
    assert isinstance(r.exception, ZeroDivisionError)
    assert_no_output(work, BASE)


def test_debug_keeps_edgeq_errors_raised(work):
    from edgeq.errors import CalibrationError

    r = run("--debug", "convert", ONNX_MODEL, "-o", work / "out.tflite", "--calib", work / "nhwc.npy")
    assert isinstance(r.exception, CalibrationError) and "'image'" in str(r.exception)
