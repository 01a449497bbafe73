"""`describe` / `render` of edgeq.model.inspect on graphs whose numbers are known."""
from __future__ import annotations

import json

import numpy as np
from rich.console import Console

import graph_builders
from edgeq.model.inspect import describe, render
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.model.tflite_io import read_tflite, write_tflite


def _qconv() -> Graph:
    g = Graph("qconv")
    g.add_tensor(Tensor("x", (1, 5, 5, 3), "int8", quant=QuantParams([0.02], [-3])))
    g.add_const("w", np.ones((4, 3, 3, 3), np.int8), QuantParams([0.01, 0.02, 0.03, 0.04], [0, 0, 0, 0], axis=0))
    g.add_const("b", np.zeros((4,), np.int32), QuantParams(np.full(4, 2e-4), [0, 0, 0, 0]))
    g.add_tensor(Tensor("y", (1, 5, 5, 4), "int8", quant=QuantParams([0.1], [5])))
    g.add_op(Op("CONV_2D", ["x", "w", "b"], ["y"], {"padding": "SAME", "stride_w": 1, "stride_h": 1,
                                                     "fused_activation_function": "RELU"}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_describe_counts_sizes_and_quant():
    d = describe(_qconv())
    json.dumps(d)  # plain values only: the CLI prints it with --json
    t = d["totals"]
    assert t["ops"] == 1 and t["op_counts"] == {"CONV_2D": 1}
    assert t["weight_bytes"] == 4 * 27 + 4 * 4 and t["parameters"] == 108 + 4
    assert t["weight_bytes_by_dtype"] == {"int32": 16, "int8": 108}
    assert t["largest_activation_bytes"] == 100 and t["quantized"]
    w = next(x for x in d["tensors"] if x["name"] == "w")
    assert w["kind"] == "const" and w["quant"]["per_channel"] and w["quant"]["channels"] == 4
    assert w["quant"]["axis"] == 0 and w["quant"]["zero_point"] == 0
    assert np.isclose(w["quant"]["scale_max"], 0.04)
    assert d["inputs"][0]["quant"] == {"per_channel": False, "scale": np.float32(0.02).item(), "zero_point": -3}
    assert d["ops"][0]["inputs"] == ["x", "w", "b"]


def test_layout_note_survives_the_tflite_file():
    g, _ = graph_builders.cases()["conv_same_relu"]
    g = g.copy()
    g.input_perm = {g.inputs[0]: (0, 2, 3, 1)}
    g.output_perm = {g.outputs[0]: (0, 3, 1, 2)}
    back = read_tflite(write_tflite(g))
    assert back.input_perm == g.input_perm and back.output_perm == g.output_perm
    notes = describe(back)["layout"]
    assert any("NHWC (source was NCHW)" in n and "(0, 2, 3, 1)" not in n for n in notes)
    assert any(n.startswith("output") for n in notes)
    plain = describe(graph_builders.cases()["relu"][0])["layout"]
    assert plain == ["inputs and outputs are used as stored (NHWC for images)"]


def test_render_prints_tables():
    console = Console(record=True, width=160)
    render(describe(_qconv()), console)
    text = console.export_text()
    for needle in ("qconv", "CONV_2D×1", "padding=SAME", "fused_activation_function=RELU", "0.01..0.04 (4 ch, axis 0)",
                   "t1 4x3x3x3 int8", "weights 124 B", "-3"):
        assert needle in text, needle
