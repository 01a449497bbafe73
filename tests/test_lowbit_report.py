"""What `edgeq convert --report` shows for a low-bit conversion of the digits example: each layer's SQNR,
precision and weight bytes as written (INT4 packed), runtime_c's arena, in the HTML, the JSON and the
terminal table; a --target-sqnr plan keeps its measured SQNR; the written model gets normal permissions."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeq.analyze import analyze
from edgeq.cli import app
from edgeq.model.tflite_io import read_tflite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from digits import digits_split  # noqa: E402

SRC = ROOT / "edgeq" / "examples" / "digits_cnn.tflite"


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    x_tr = digits_split()[0][:200]
    np.save(d / "calib.npy", np.transpose(x_tr, (0, 2, 3, 1)).astype(np.float32))
    out = CliRunner().invoke(app, ["convert", str(SRC), "-o", str(d / "mix.tflite"), "-c", str(d / "calib.npy"),
                                   "--mixed", "--target-sqnr", "30", "--report", str(d / "r.json")])
    assert out.exit_code == 0, out.output
    return d, json.loads((d / "r.json").read_text()), out.output


def test_layers_carry_written_weight_bytes(mixed_run):
    d, rep, _ = mixed_run
    g = read_tflite(d / "mix.tflite")
    rows = {r["tensor"]: r for r in rep["layers"]}
    for op in g.ops:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.outputs[0] in rows:
            w, b = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]]
            n = w.data.size
            expect = (n + 1) // 2 if w.dtype == "int4" else n  # INT4 counted packed, two a byte
            assert rows[op.outputs[0]]["weight_bytes"] == expect + b.data.nbytes
            assert rows[op.outputs[0]]["precision"] == ("w4a8" if w.dtype == "int4" else "w8a8")


def test_arena_is_runtime_c_reference_arena(mixed_run):
    d, rep, output = mixed_run
    assert rep["sizes"]["arena"] == analyze(d / "mix.tflite").ref.arena_bytes > 0
    assert "runtime_c arena" in output and "weight B" in output  # the terminal table


def test_target_sqnr_plan_keeps_its_measured_sqnr(mixed_run):
    _, rep, output = mixed_run
    assert rep["plan"]["sqnr_db"] >= 30.0
    assert "int4" in rep["plan"]["precisions"].values()  # the target leaves room to shrink some layer
    # the summary's first line gives the plan's precisions, not the --weights default it started from
    n4 = sum(p == "int4" for p in rep["plan"]["precisions"].values())
    assert f"mixed precision ({n4} x int4" in " ".join(output.split())


def test_html_report_is_self_contained(mixed_run, tmp_path):
    from edgeq.quantize.report_html import write_report

    _, rep, _ = mixed_run
    p = write_report(rep | {"src": "a.tflite", "dst": "b.tflite"}, tmp_path / "r.html")
    text = p.read_text()
    assert "<svg" in text and "weight bytes" in text and "runtime_c arena" in text
    assert "a.tflite → b.tflite" in text and "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_written_model_has_umask_permissions(mixed_run):
    d, _, _ = mixed_run
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(d / "mix.tflite").st_mode & 0o777 == 0o666 & ~umask
