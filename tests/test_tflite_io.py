""".tflite reader/writer: round trips, LiteRT acceptance of what we write, quantization params of Google's
int8 models, INT4 packing, SignatureDef, buffer dedupe, atomic save, and malformed files."""
from __future__ import annotations

import os

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import graph_builders
from edgeq.errors import EdgeqError, ModelError, UnsupportedError
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.model.tflite_io import (graph_io_signature, pack_int4, read_tflite, save_tflite, unpack_int4,
                                   write_tflite)

CASES = graph_builders.cases()


def assert_graphs_equal(a: Graph, b: Graph):
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert set(a.tensors) == set(b.tensors)
    for n, ta in a.tensors.items():
        tb = b.tensors[n]
        assert (ta.shape, ta.dtype, ta.is_const) == (tb.shape, tb.dtype, tb.is_const), n
        if ta.is_const:
            np.testing.assert_array_equal(ta.data, tb.data)
        assert (ta.quant is None) == (tb.quant is None), n
        if ta.quant is not None:
            np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale)
            np.testing.assert_array_equal(ta.quant.zero_point, tb.quant.zero_point)
            assert ta.quant.axis == tb.quant.axis or not ta.quant.per_channel
    assert [(o.type, o.inputs, o.outputs, o.options) for o in a.ops] == \
        [(o.type, o.inputs, o.outputs, o.options) for o in b.ops]


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_is_stable_and_keeps_options(name):
    g, _ = CASES[name]
    once = read_tflite(write_tflite(g))
    twice = read_tflite(write_tflite(once))
    assert_graphs_equal(once, twice)
    for src, got in zip(g.ops, once.ops):  # every option given survives, enums as names
        for k, v in src.options.items():
            want = np.float32(v) if isinstance(v, float) else (list(v) if isinstance(v, tuple) else v)
            assert got.options[k] == want, (k, v, got.options[k])  # float options are float32 in the schema
    for n, t in g.tensors.items():
        if t.is_const and n in once.tensors:
            np.testing.assert_array_equal(once.tensors[n].data, t.data)


def test_options_of_ops_edgeq_does_not_execute_round_trip():
    g = Graph("exotic")
    g.add_tensor(Tensor("x", (1, 8, 8, 4)))
    g.inputs = ["x"]
    g.add_tensor(Tensor("y", (1, 16, 16, 4)))
    g.add_tensor(Tensor("z", (1, 16, 16, 4)))
    g.add_op(Op("RESIZE_BILINEAR", ["x", g.add_const("size", np.array([16, 16], np.int32)).name], ["y"],
                {"align_corners": False, "half_pixel_centers": True}))
    g.add_op(Op("MIRROR_PAD", ["y", g.add_const("p", np.zeros((4, 2), np.int32)).name], ["z"], {"mode": "SYMMETRIC"}))
    g.outputs = ["z"]
    back = read_tflite(write_tflite(g))
    assert back.ops[0].options == {"align_corners": False, "half_pixel_centers": True}
    assert back.ops[1].options == {"mode": "SYMMETRIC"}


def test_unknown_option_or_enum_is_refused():
    g, _ = CASES["relu"]
    g = g.copy()
    g.ops[0].type = "CONV_2D"
    g.ops[0].options = {"strides": 2}
    with pytest.raises(UnsupportedError, match="strides"):
        write_tflite(g)
    g.ops[0].options = {"padding": "FULL"}
    with pytest.raises(UnsupportedError, match="FULL"):
        write_tflite(g)


def _quantized_conv_graph() -> Graph:
    g = Graph("qconv")
    g.add_tensor(Tensor("x", (1, 5, 5, 3), "int8", quant=QuantParams([0.02], [-3])))
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    g.add_const("w", w, QuantParams([0.01, 0.02, 0.03, 0.04], [0, 0, 0, 0], axis=0))
    g.add_const("b", rng.integers(-500, 500, (4,), dtype=np.int32),
                QuantParams(np.array([0.01, 0.02, 0.03, 0.04]) * 0.02, [0, 0, 0, 0]))
    g.add_tensor(Tensor("y", (1, 5, 5, 4), "int8", quant=QuantParams([0.1], [5])))
    g.add_op(Op("CONV_2D", ["x", "w", "b"], ["y"], {"padding": "SAME", "stride_w": 1, "stride_h": 1,
                                                     "fused_activation_function": "RELU"}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_per_channel_int8_model_round_trips_and_runs_in_litert():
    g = _quantized_conv_graph()
    model = write_tflite(g)
    back = read_tflite(model)
    assert_graphs_equal(back, read_tflite(write_tflite(back)))
    q = back.tensors["w"].quant
    assert q.per_channel and q.axis == 0
    np.testing.assert_allclose(q.scale, [0.01, 0.02, 0.03, 0.04], rtol=1e-7)
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.ones((1, 5, 5, 3), np.int8))
    it.invoke()
    assert it.get_tensor(it.get_output_details()[0]["index"]).dtype == np.int8
    details = {d["name"]: d for d in it.get_tensor_details()}
    np.testing.assert_allclose(details["w"]["quantization_parameters"]["scales"], q.scale)


def test_int4_packing_layout():
    vals = np.array([1, -2, 7, -8, 3], np.int8)
    np.testing.assert_array_equal(pack_int4(vals), np.array([0xE1, 0x87, 0x03], np.uint8))
    np.testing.assert_array_equal(unpack_int4(pack_int4(vals), 5), vals)
    every = np.arange(-8, 8, dtype=np.int8)
    np.testing.assert_array_equal(unpack_int4(pack_int4(every), 16), every)
    with pytest.raises(ValueError):
        pack_int4(np.array([8], np.int8))


def test_int4_tensor_round_trips_packed():
    g = _quantized_conv_graph()
    t = g.tensors["w"]
    t.dtype, t.data = "int4", np.clip(t.data, -8, 7).astype(np.int8)
    model = write_tflite(g)
    m = fb.ModelT.InitFromPackedBuf(model, 0)
    sg = m.subgraphs[0]
    wt = next(x for x in sg.tensors if x.name == b"w")
    assert wt.type == fb.TensorType.INT4 and len(m.buffers[wt.buffer].data) == (t.size + 1) // 2
    back = read_tflite(model)
    assert back.tensors["w"].dtype == "int4"
    np.testing.assert_array_equal(back.tensors["w"].data, t.data)


def test_identical_constants_share_one_buffer_and_buffers_are_aligned():
    g, _ = CASES["add_bcast_const"]
    g = g.copy()
    c = g.ops[0].inputs[1]
    dup = g.add_const("dup", g.tensors[c].data.copy()).name
    out2 = g.add_tensor(Tensor("out2", g.tensors[g.outputs[0]].shape)).name
    g.add_op(Op("SUB", [g.inputs[0], dup], [out2], {"fused_activation_function": "NONE"}))
    g.outputs.append(out2)
    model = write_tflite(g)
    m = fb.ModelT.InitFromPackedBuf(model, 0)
    idx = {t.name.decode(): t.buffer for t in m.subgraphs[0].tensors}
    assert idx[c] == idx["dup"] != 0
    big = _quantized_conv_graph()
    raw = write_tflite(big)
    w = big.tensors["w"].data.tobytes()
    assert raw.index(w) % 16 == 0


def test_signature_def_is_written_and_kept():
    g, feeds = CASES["sub_bcast"]
    model = write_tflite(g)
    it = Interpreter(model_content=model)
    sigs = it.get_signature_list()
    assert sigs == {"serving_default": {"inputs": ["in0", "in1"], "outputs": [g.outputs[0]]}}
    runner = it.get_signature_runner("serving_default")
    out = runner(in0=feeds[0], in1=feeds[1])[g.outputs[0]]
    np.testing.assert_allclose(out, np.clip(feeds[0] - feeds[1], 0, 6), rtol=1e-6)
    assert "serving_default" in Interpreter(model_content=write_tflite(read_tflite(model))).get_signature_list()


def test_graph_io_signature():
    g, _ = CASES["sub_bcast"]
    sig = graph_io_signature(g)
    assert sig["inputs"] == [("in0", (1, 4, 5, 3), "float32"), ("in1", (1, 1, 1, 3), "float32")]


def test_dequantize_of_int8_constant_folds_into_float_weights():
    g = Graph("dq")
    g.add_tensor(Tensor("x", (1, 4)))
    g.add_const("wq", np.array([[1, -2, 3, 4], [5, 6, -7, 8]], np.int8), QuantParams([0.5, 0.25], [0, 0], axis=0))
    g.add_tensor(Tensor("w", (2, 4)))
    g.add_tensor(Tensor("y", (1, 2)))
    g.add_op(Op("DEQUANTIZE", ["wq"], ["w"]))
    g.add_op(Op("FULLY_CONNECTED", ["x", "w", None], ["y"], {"fused_activation_function": "NONE"}))
    g.inputs, g.outputs = ["x"], ["y"]
    back = read_tflite(write_tflite(g))
    assert [o.type for o in back.ops] == ["FULLY_CONNECTED"] and "wq" not in back.tensors
    np.testing.assert_allclose(back.tensors["w"].data, [[0.5, -1, 1.5, 2], [1.25, 1.5, -1.75, 2]])
    assert back.tensors["w"].quant is None


def test_save_is_atomic(tmp_path):
    g, _ = CASES["relu"]
    p = save_tflite(g, tmp_path / "m.tflite")
    assert read_tflite(p).ops[0].type == "RELU"
    assert oct(os.stat(p).st_mode & 0o777) != oct(0o600)
    bad = g.copy()
    bad.ops[0].type = "NOT_AN_OP"
    with pytest.raises(UnsupportedError):
        save_tflite(bad, tmp_path / "bad.tflite")
    with pytest.raises(ModelError, match="cannot write"):
        save_tflite(g, tmp_path / "missing_dir" / "m.tflite")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.tflite"]


def test_writing_inconsistent_graph_is_a_model_error():
    g, _ = CASES["relu"]
    g = g.copy()
    g.ops[0].inputs = ["ghost"]
    with pytest.raises(ModelError, match="ghost"):
        write_tflite(g)


# --- malformed input ----------------------------------------------------------------------------------
def test_missing_and_non_model_files(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        read_tflite(tmp_path / "none.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ModelError, match=r"junk.tflite: not a TFLite model"):
        read_tflite(junk)
    with pytest.raises(ModelError):
        read_tflite(b"")
    with pytest.raises(ModelError, match="is a directory"):
        read_tflite(tmp_path)


def test_truncated_models_raise_model_error():
    model = write_tflite(CASES["small_cnn"][0])
    for cut in list(range(8, 200, 13)) + list(range(200, len(model), max(1, len(model) // 40))):
        with pytest.raises(ModelError):
            read_tflite(model[:cut])


def test_corrupted_bytes_never_escape_as_raw_exceptions():
    model = bytearray(write_tflite(CASES["small_cnn"][0]))
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = bytearray(model)
        for pos in rng.integers(0, len(m), 3):
            m[pos] = int(rng.integers(0, 256))
        try:
            read_tflite(bytes(m))
        except EdgeqError:
            pass


def _tamper(model: bytes, fn) -> bytes:
    m = fb.ModelT.InitFromPackedBuf(model, 0)
    fn(m)
    b = __import__("flatbuffers").Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("what,fn,match", [
    ("opcode", lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 99), "opcode index"),
    ("tensor", lambda m: setattr(m.subgraphs[0].operators[0], "inputs", [500, 1, 2]), "refers to tensor 500"),
    ("buffer", lambda m: setattr(m.subgraphs[0].tensors[1], "buffer", 999), "buffer index"),
    ("size", lambda m: setattr(m.buffers[m.subgraphs[0].tensors[1].buffer], "data", np.zeros(3, np.uint8)),
     "buffer holds 3 bytes"),
    ("output", lambda m: setattr(m.subgraphs[0], "outputs", [77]), "graph output"),
])
def test_bad_indices_and_sizes_raise_model_error(what, fn, match):
    model = write_tflite(CASES["conv_same_relu"][0])
    with pytest.raises(ModelError, match=match):
        read_tflite(_tamper(model, fn))


# --- Google's models (EDGEQ_ZOO) ----------------------------------------------------------------------
ZOO_MODELS = ["mlperf_tiny/vww_96_float", "mlperf_tiny/vww_96_int8", "mlperf_tiny/pretrainedResnet",
              "mlperf_tiny/pretrainedResnet_quant", "mlperf_tiny/ad01_fp32", "mlperf_tiny/ad01_int8",
              "mlperf_tiny/kws_ref_model", "mlperf_tiny/kws_ref_model_float32", "hello_world/hello_world_int8"]


@pytest.mark.zoo
@pytest.mark.parametrize("model", ZOO_MODELS)
def test_zoo_models_read_write_and_run_identically(zoo, model):
    path = zoo / f"{model}.tflite"
    g = read_tflite(path)
    written = write_tflite(g)
    assert_graphs_equal(g, read_tflite(written))
    outs = []
    for m in (path.read_bytes(), written):
        it = Interpreter(model_content=m, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        x = np.random.default_rng(0).integers(-100, 100, d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.zoo
@pytest.mark.parametrize("model", ["vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "kws_ref_model"])
def test_google_int8_quant_params_match_litert(zoo, model):
    path = zoo / "mlperf_tiny" / f"{model}.tflite"
    g = read_tflite(path)
    it = Interpreter(model_path=str(path))
    seen_per_channel = False
    for d in it.get_tensor_details():
        t = g.tensors.get(d["name"])
        if t is None:
            continue
        qp = d["quantization_parameters"]
        if t.quant is None:
            assert qp["scales"].size == 0, d["name"]
            continue
        np.testing.assert_array_equal(t.quant.scale, qp["scales"].astype(np.float32))
        np.testing.assert_array_equal(t.quant.zero_point, qp["zero_points"])
        if t.quant.per_channel:
            seen_per_channel = True
            assert t.quant.axis == qp["quantized_dimension"]
        assert t.shape == tuple(d["shape"])
        assert t.dtype == np.dtype(d["dtype"]).name
    inp = g.tensors[g.inputs[0]]
    assert inp.dtype == "int8" and inp.quant is not None
    if model == "pretrainedResnet_quant":
        assert (inp.quant.scale[0], inp.quant.zero_point[0]) == (1.0, -128)
    assert seen_per_channel == (model != "ad01_int8")


@pytest.mark.zoo
@pytest.mark.parametrize("model", ["vww_96_int8", "ad01_int8", "pretrainedResnet_quant"])
def test_written_int8_models_run_identically_in_tflite_micro(zoo, model):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="tflite-micro (bench extra)")
    src = (zoo / "mlperf_tiny" / f"{model}.tflite").read_bytes()
    outs = []
    for m in (src, write_tflite(read_tflite(src))):
        it = runtime.Interpreter.from_bytes(m)
        d = it.get_input_details(0)
        it.set_input(np.random.default_rng(0).integers(-128, 128, d["shape"]).astype(d["dtype"]), 0)
        it.invoke()
        outs.append(it.get_output(0))
    np.testing.assert_array_equal(outs[0], outs[1])
