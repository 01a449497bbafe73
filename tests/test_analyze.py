"""edgeq analyze: arena figures equal what runtime_c needs (exactly that many bytes run, one byte less fails
cleanly, through the C API), MACs match a hand count, and the plan sits at or above its lower bound."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeq import runtime
from edgeq.analyze import analyze
from edgeq.cli import app
from edgeq.errors import RuntimeFailure, UnsupportedError
from edgeq.introspect import RuntimeView, init_status, kernel_isa
from onemodel import run_reference
from tool_models import SMALL_CNN_MACS, small_cnn

MLPERF = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]


@pytest.fixture(scope="module")
def cnn() -> bytes:
    return small_cnn(0)


def test_macs_match_hand_count(cnn):
    a = analyze(cnn)
    assert [o.op for o in a.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                                     "FULLY_CONNECTED", "SOFTMAX"]
    assert [o.macs for o in a.ops] == SMALL_CNN_MACS
    assert a.macs == sum(SMALL_CNN_MACS)
    assert [o.output_shape for o in a.ops] == [[1, 8, 8, 4], [1, 6, 6, 8], [1, 3, 3, 8], [1, 72], [1, 10], [1, 10]]


def test_weight_bytes_are_the_constant_buffers(cnn):
    # conv 4x3x3x3 int8 + 4 int32, depthwise 1x3x3x8 + 8 int32, reshape shape 2 int32, FC 10x72 + 10 int32
    assert analyze(cnn).weight_bytes == 108 + 16 + 72 + 32 + 8 + 720 + 40


def _check_exact(model: bytes, a) -> None:
    for variant, fig in (("ref", a.ref), ("host", a.host)):
        assert init_status(model, fig.arena_bytes, variant) == "EQ_OK", variant
        assert init_status(model, fig.arena_bytes - 1, variant) == "EQ_ERR_ARENA_TOO_SMALL", variant
    assert a.host.arena_bytes == runtime.Interpreter(model).arena_bytes
    assert a.ref.isa == "ref" and a.host.isa == kernel_isa("host")


def test_arena_figures_are_exact(cnn):
    a = analyze(cnn)
    _check_exact(cnn, a)
    # the host build runs with exactly its figure (bit-exact with LiteRT) and refuses one byte less
    x = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    (want,) = run_reference(cnn, x)
    (got,) = runtime.Interpreter(cnn, arena_bytes=a.host.arena_bytes).run(x)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeFailure, match="arena too small"):
        runtime.Interpreter(cnn, arena_bytes=a.host.arena_bytes - 1)
    # the reference build runs on its own (smaller or equal) figure
    outs, _ = RuntimeView(cnn, "ref").run_capture([x])
    np.testing.assert_array_equal(outs[0], want)


def test_plan_against_lower_bound(cnn):
    a = analyze(cnn)
    for f in (a.ref, a.host):
        assert 0 < f.lower_bound <= f.planned_peak <= f.head
        assert f.arena_bytes == f.head + f.persistent
        assert f.plan_overhead >= 0
    # while op 1 runs, its input (8x8x4) and output (6x6x8) both live: 256 + 288 bytes, 16-aligned
    assert a.ops[1].live_ref >= 256 + 288
    assert a.ref.lower_bound == max(o.live_ref for o in a.ops)
    assert all(o.scratch_ref <= o.live_ref for o in a.ops)


def test_cli_analyze_table_and_json(cnn, tmp_path):
    path = tmp_path / "cnn.tflite"
    path.write_bytes(cnn)
    runner = CliRunner()
    r = runner.invoke(app, ["analyze", str(path)])
    assert r.exit_code == 0, r.output
    a = analyze(cnn)
    assert f"{a.ref.arena_bytes:,}" in r.stdout and "DEPTHWISE_CONV_2D" in r.stdout and "6,912" in r.stdout
    r = runner.invoke(app, ["analyze", str(path), "--json"])
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["ref"]["arena_bytes"] == a.ref.arena_bytes and [o["macs"] for o in d["ops"]] == SMALL_CNN_MACS
    r = runner.invoke(app, ["analyze", str(tmp_path / "missing.tflite")])
    assert r.exit_code == 2 and "cannot read model" in r.output


def test_analyze_unsupported_model_names_the_op():
    from onemodel import build_op_model, spec

    m = build_op_model("SIN", inputs=[spec([1, 4], "float32")], outputs=[spec([1, 4], "float32")])
    with pytest.raises(UnsupportedError, match=r"at op 0 \(builtin operator 66\): unsupported operator"):
        analyze(m)


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_arena_exact(zoo, name):
    path = zoo / "mlperf_tiny" / f"{name}.tflite"
    model = path.read_bytes()
    a = analyze(path)
    _check_exact(model, a)
    assert a.ref.arena_bytes <= a.host.arena_bytes
    assert a.ref.lower_bound <= a.ref.planned_peak
    assert a.macs > 0 and a.weight_bytes < a.model_bytes
