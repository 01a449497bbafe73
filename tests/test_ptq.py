"""PTQ static int8: hand-built graphs and a PyTorch-style ONNX model convert, load in LiteRT and stay close to float."""
import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edgeq.converter import convert, convert_file
from edgeq.errors import CalibrationError, ModelError, UnsupportedError
from edgeq.model.ir import Graph, Op, Tensor
from edgeq.model.tflite_io import read_tflite, write_tflite
from edgeq.quantize.calibrate import calibrate
from edgeq.quantize.ptq import quantize_graph
from edgeq.quantize.report import run_quantized, sqnr_db
from edgeq.reference.float_exec import run_float
from graph_builders import cases

RESOLVERS = [OpResolverType.AUTO, OpResolverType.BUILTIN_REF]


def samples_for(graph: Graph, n: int = 24, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *graph.tensors[i].shape[1:])).astype(np.float32) for i in graph.inputs]


def run_litert(model: bytes, xs: list[np.ndarray], resolver) -> list[np.ndarray]:
    """Float in, float out through the model's own input/output quantization, with the given kernels."""
    it = Interpreter(model_content=model, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    outs = []
    for k in range(xs[0].shape[0]):
        for d, x in zip(it.get_input_details(), xs):
            v = x[k:k + 1]
            if d["dtype"] != np.float32:
                s, z = d["quantization"]
                info = np.iinfo(d["dtype"])
                v = np.clip(np.round(v / s) + z, info.min, info.max).astype(d["dtype"])
            it.set_tensor(d["index"], v)
        it.invoke()
        row = []
        for d in it.get_output_details():
            y = it.get_tensor(d["index"])
            if d["dtype"] != np.float32:
                s, z = d["quantization"]
                y = (y.astype(np.float32) - z) * s
            row.append(y)
        outs.append(row)
    return [np.concatenate([r[j] for r in outs]) for j in range(len(outs[0]))]


QUANTIZABLE = [
    "conv_same_relu", "conv_valid_s2_relu6", "conv_1x1", "conv_dilated", "dw_same", "dw_mult2_valid", "dw_s2_even",
    "maxpool_same", "avgpool_same", "avgpool_valid", "fc", "fc_flatten", "fc_keep_dims", "add_bcast_const",
    "sub_bcast", "mul", "maximum", "minimum", "relu", "relu6", "leaky_relu", "logistic", "tanh", "hard_swish",
    "prelu", "mean_keep", "softmax", "small_cnn", "reshape", "squeeze", "transpose", "concatenation", "pad",
    "padv2", "strided_slice",
]


@pytest.mark.parametrize("name", QUANTIZABLE)
def test_graph_quantizes_and_runs_in_litert(name):
    graph, _ = cases()[name]
    xs = samples_for(graph)
    ranges = calibrate(graph, xs, "minmax", progress=False)
    model = write_tflite(quantize_graph(graph, ranges))
    ref = run_float(graph, xs)
    for resolver in RESOLVERS:
        got = run_litert(model, xs, resolver)
        for r, g in zip(ref, got):
            assert sqnr_db(r, g) >= 30.0, f"{name} {resolver}"


def test_tensor_types_and_params_follow_the_spec():
    graph, _ = cases()["small_cnn"]
    q = quantize_graph(graph, calibrate(graph, samples_for(graph), "minmax", progress=False))
    by_type = {op.type: op for op in q.ops}
    conv, dw, fc = by_type["CONV_2D"], by_type["DEPTHWISE_CONV_2D"], by_type["FULLY_CONNECTED"]
    for op, axis in ((conv, 0), (dw, 3), (fc, 0)):
        w, b = q.tensors[op.inputs[1]], q.tensors[op.inputs[2]]
        assert w.dtype == "int8" and w.quant.axis == axis and w.quant.scale.size == w.shape[axis]
        assert np.all(w.quant.zero_point == 0) and np.abs(w.data).max() <= 127
        assert b.dtype == "int32" and np.all(b.quant.zero_point == 0)
        s_in = q.tensors[op.inputs[0]].quant.scale[0]
        np.testing.assert_allclose(b.quant.scale, s_in * w.quant.scale, rtol=1e-6)
    soft = q.tensors[by_type["SOFTMAX"].outputs[0]].quant
    assert soft.scale[0] == np.float32(1 / 256) and soft.zero_point[0] == -128
    pool, reshape = by_type["AVERAGE_POOL_2D"], by_type["RESHAPE"]
    for op in (pool, reshape):
        a, b = q.tensors[op.inputs[0]].quant, q.tensors[op.outputs[0]].quant
        assert a.scale[0] == b.scale[0] and a.zero_point[0] == b.zero_point[0]
    relu6 = q.tensors[conv.outputs[0]].quant
    assert relu6.zero_point[0] == -128  # the fused RELU6 output range starts at 0
    assert all(t.dtype in ("int8", "int32") for t in q.tensors.values())


@pytest.mark.parametrize("kind,scale,zp", [("LOGISTIC", 1 / 256, -128), ("TANH", 1 / 128, 0)])
def test_fixed_output_params(kind, scale, zp):
    graph, _ = cases()[kind.lower()]
    q = quantize_graph(graph, calibrate(graph, samples_for(graph), "minmax", progress=False))
    out = q.tensors[q.outputs[0]].quant
    assert out.scale[0] == np.float32(scale) and out.zero_point[0] == zp


def test_concat_inputs_requantized_to_output_params():
    graph, _ = cases()["concatenation"]
    q = quantize_graph(graph, calibrate(graph, samples_for(graph), "minmax", progress=False))
    cat = next(op for op in q.ops if op.type == "CONCATENATION")
    target = q.tensors[cat.outputs[0]].quant
    for n in cat.inputs:
        assert q.tensors[n].quant.scale[0] == target.scale[0]
    assert sum(op.type == "QUANTIZE" for op in q.ops) == 2  # the two activations; the constant directly


@pytest.mark.parametrize("io,in_dtype,out_dtype", [("float", np.float32, np.float32), ("uint8", np.uint8, np.uint8),
                                                    ("int8", np.int8, np.int8)])
def test_io_variants(io, in_dtype, out_dtype):
    graph, _ = cases()["small_cnn"]
    xs = samples_for(graph)
    model = convert(write_tflite(graph), calib=xs[0], method="minmax", io=io, progress=False)
    it = Interpreter(model_content=model)
    assert it.get_input_details()[0]["dtype"] == in_dtype
    assert it.get_output_details()[0]["dtype"] == out_dtype
    g = read_tflite(model)
    assert g.inputs == graph.inputs and g.outputs == graph.outputs  # user-facing names kept
    got = run_litert(model, xs, OpResolverType.BUILTIN_REF)[0]
    assert sqnr_db(run_float(graph, xs)[0], got) >= 30.0


def test_unsupported_op_names_op_and_tensor():
    graph, _ = cases()["div_const"]
    with pytest.raises(UnsupportedError, match="DIV.*div_"):
        quantize_graph(graph, calibrate(graph, samples_for(graph), "minmax", progress=False))


def test_nan_weights_and_bad_calibration_are_user_errors(tmp_path):
    graph, _ = cases()["fc"]
    good = write_tflite(graph)
    xs = samples_for(graph)[0]
    with pytest.raises(CalibrationError):
        convert(good, calib=xs[:0], progress=False)
    with pytest.raises(CalibrationError):
        convert(good, calib=np.zeros((4, 7), np.float32), progress=False)
    with pytest.raises(CalibrationError):
        convert(good, progress=False)
    w = next(op for op in graph.ops).inputs[1]
    graph.tensors[w].data[0, 0] = np.nan
    with pytest.raises(ModelError, match=w):
        convert(write_tflite(graph), calib=xs, progress=False)
    assert not list(tmp_path.iterdir())


def test_convert_file_summary_and_report(tmp_path):
    graph, _ = cases()["small_cnn"]
    src = tmp_path / "m.tflite"
    src.write_bytes(write_tflite(graph))
    xs = samples_for(graph, n=20)[0]
    res = convert_file(src, tmp_path / "q.tflite", calib=xs, method="mse", progress=False,
                       report=tmp_path / "r.json")
    assert (res.calib_samples, res.holdout_samples) == (16, 4)
    assert res.int8_bytes == (tmp_path / "q.tflite").stat().st_size and res.float_bytes == src.stat().st_size
    assert res.output_sqnr_db >= 25 and 0 <= res.top1_agreement <= 1
    names = [row.tensor for row in res.report.layers]
    assert names[0] == graph.inputs[0] and graph.outputs[0] in names
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["method"] == "mse" and len(data["layers"]) == len(names)
    # the report's output SQNR is measured: recompute it from the written model on the held-out samples
    y = run_quantized((tmp_path / "q.tflite").read_bytes(), [xs[16:]])[0]
    assert sqnr_db(run_float(graph, [xs[16:]])[0], y) == pytest.approx(res.output_sqnr_db, abs=1e-3)


def test_reference_engine_matches_litert_engine():
    graph, _ = cases()["small_cnn"]
    xs = samples_for(graph)
    a = calibrate(graph, xs, "mse", engine="litert", progress=False)
    b = calibrate(graph, xs, "mse", engine="reference", progress=False)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-5)


# PyTorch-style ONNX model --------------------------------------------------------------------------------
def torch_style_onnx(seed: int = 0) -> bytes:
    """conv/bn/relu/maxpool + depthwise conv/bn/relu6 + pointwise conv, global pool, flatten, gemm: what
    torch.onnx.export writes for a small CNN (NCHW, opset 13)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.3, positive=False):
        v = rng.standard_normal(shape).astype(np.float32) * scale
        return numpy_helper.from_array(np.abs(v) + 0.5 if positive else v, name)

    inits = [
        init("c1.w", 8, 3, 3, 3), init("c1.b", 8),
        init("bn1.s", 8, positive=True), init("bn1.b", 8), init("bn1.m", 8), init("bn1.v", 8, positive=True),
        init("dw.w", 8, 1, 3, 3),
        init("bn2.s", 8, positive=True), init("bn2.b", 8), init("bn2.m", 8), init("bn2.v", 8, positive=True),
        init("pw.w", 16, 8, 1, 1), init("pw.b", 16),
        init("fc.w", 10, 16), init("fc.b", 10),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"), numpy_helper.from_array(np.array(6.0, np.float32), "six"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1.w", "c1.b"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="/conv1/Conv"),
        helper.make_node("BatchNormalization", ["c1", "bn1.s", "bn1.b", "bn1.m", "bn1.v"], ["n1"], name="/bn1/BN"),
        helper.make_node("Relu", ["n1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="/pool/MaxPool"),
        helper.make_node("Conv", ["p1", "dw.w"], ["d1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], group=8, name="/dw/Conv"),
        helper.make_node("BatchNormalization", ["d1", "bn2.s", "bn2.b", "bn2.m", "bn2.v"], ["n2"], name="/bn2/BN"),
        helper.make_node("Clip", ["n2", "zero", "six"], ["r2"], name="/relu6/Clip"),
        helper.make_node("Conv", ["r2", "pw.w", "pw.b"], ["c3"], kernel_shape=[1, 1], name="/pw/Conv"),
        helper.make_node("Relu", ["c3"], ["r3"], name="/relu3/Relu"),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="/gap/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], axis=1, name="/flatten/Flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1, name="/fc/Gemm"),
    ]
    graph = helper.make_graph(nodes, "torch_style", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_pytorch_style_onnx_acceptance(tmp_path):
    import onnxruntime as ort

    from edgeq.converter import load_model

    onnx_bytes = torch_style_onnx()
    rng = np.random.default_rng(3)
    x_nchw = rng.uniform(-1, 1, size=(40, 3, 16, 16)).astype(np.float32)
    graph = load_model(onnx_bytes)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": x_nchw[i:i + 1]})[0] for i in range(8)])
    x_nhwc = np.transpose(x_nchw, graph.input_perm[graph.inputs[0]])
    got = run_float(graph, [x_nhwc[:8]])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

    res = convert_file(onnx_bytes, tmp_path / "q.tflite", calib=x_nchw[:32], method="mse", progress=False)
    assert res.input_layout == "NHWC (source was NCHW)"
    model = (tmp_path / "q.tflite").read_bytes()
    ref = np.concatenate([sess.run(None, {"x": x_nchw[i:i + 1]})[0] for i in range(32, 40)])
    for resolver in RESOLVERS:
        y = run_litert(model, [x_nhwc[32:]], resolver)[0]
        assert sqnr_db(ref, y) >= 30.0


@pytest.mark.zoo
def test_mlperf_anomaly_model_beats_tflite_ptq(zoo, zoo_data):
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as cw

    model = (zoo / "mlperf_tiny" / "ad01_fp32.tflite").read_bytes()
    vec = np.fromfile(zoo_data / "anomaly" / "normal_id_01_00000000_hist_librosa.bin", np.float32).reshape(-1, 640)
    calib, held = vec[0::2], vec[1::2]  # whole vectors held out
    w = cw.CalibrationWrapper(model, [], [])
    w.Prepare([[1, 640]])
    for v in calib:
        w.FeedTensor([v[None]])
    i8 = np.dtype(np.int8).num
    anchor = bytes(w.QuantizeModel(i8, i8, False, i8, np.dtype(np.int32).num, False, False))
    ours = convert(model, calib=calib, progress=False)
    ref = run_float(read_tflite(model), [held])[0]
    s_anchor = sqnr_db(ref, run_quantized(anchor, [held])[0])
    s_ours = sqnr_db(ref, run_quantized(ours, [held])[0])
    assert s_ours >= s_anchor + 1.0, (s_ours, s_anchor)


def test_channel_with_dead_weights_keeps_its_bias():
    # a trained net can leave a channel with ~1e-30 weights whose output is its bias alone (VWW has some):
    # a weight scale fitted to those weights would make the int32 bias saturate and lose the constant
    graph, _ = cases()["conv_same_relu"]
    conv = graph.ops[0]
    w, b = graph.tensors[conv.inputs[1]], graph.tensors[conv.inputs[2]]
    w.data = w.data.copy()
    w.data[1] *= 1e-30
    b.data = b.data.copy()
    b.data[1] = 0.35
    xs = samples_for(graph)
    q = quantize_graph(graph, calibrate(graph, xs, "minmax", progress=False))
    y = run_litert(write_tflite(q), xs, OpResolverType.BUILTIN_REF)[0]
    step = float(q.tensors[graph.outputs[0]].quant.scale[0])
    assert np.abs(y[..., 1] - 0.35).max() <= step / 2 + 1e-6  # the output's own rounding, nothing more
    assert sqnr_db(run_float(graph, xs)[0], y) >= 30


def test_head_tensors_are_the_logits_behind_pass_through_ops():
    from edgeq.quantize.ptq import head_tensors

    graph, _ = cases()["small_cnn"]  # ... FULLY_CONNECTED -> SOFTMAX
    fc = [op.outputs[0] for op in graph.ops if op.type == "FULLY_CONNECTED"]
    assert head_tensors(graph) == set(fc)
    # the same behind a RESHAPE, whose output takes its input's params
    softmax = graph.ops[-1]
    r = graph.add_tensor(Tensor("logits_reshaped", graph.tensors[fc[0]].shape)).name
    shape = graph.add_const("logits_shape", np.array(graph.tensors[fc[0]].shape, np.int32)).name
    graph.ops.insert(len(graph.ops) - 1, Op("RESHAPE", [fc[0], shape], [r], {}))
    softmax.inputs[0] = r
    graph.validate()
    assert head_tensors(graph) == set(fc)
    graph, _ = cases()["fc"]
    assert head_tensors(graph) == set() and head_tensors(graph, outputs=True) == set(graph.outputs)


def test_report_table_shows_short_names_and_json_keeps_full_ones(tmp_path):
    from rich.console import Console

    from edgeq.quantize.report import FidelityReport, LayerFidelity, render, short_name

    long = "model/activation/Relu;model/batch_normalization/FusedBatchNormV3;model/conv2d/BiasAdd"
    assert short_name(long) == "model/activation/Relu"
    deep = "model/" + "block_" * 12 + "conv/Relu6;x"
    s = short_name(deep)
    assert len(s) == 48 and s.startswith("model/block_") and s.endswith("conv/Relu6") and "…" in s
    rep = FidelityReport([LayerFidelity(long, "CONV_2D", 31.0)], {long: 31.0}, {}, 4)
    console = Console(record=True, width=200)
    render(rep, console)
    text = console.export_text()
    assert "model/activation/Relu" in text and "FusedBatchNormV3" not in text
    rep.write_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["layers"][0]["tensor"] == long


@pytest.mark.parametrize("name", ["conv_same_relu", "fc", "small_cnn"])
def test_litert_calibration_batched_or_not_matches_reference(name):
    # conv/fc run a whole batch per invoke; small_cnn's RESHAPE to a fixed [1, 8] forces one sample per invoke
    from edgeq.quantize.calibrate import activation_batches

    graph, _ = cases()[name]
    xs = samples_for(graph, n=21)  # not a multiple of the batch: the last chunk is padded, then cut
    a = list(activation_batches(graph, xs, engine="litert", batch=8, model=write_tflite(graph)))
    b = list(activation_batches(graph, xs, engine="reference", batch=8))
    assert [len(next(iter(x.values()))) for x in a] == [8, 8, 5]
    for x, y in zip(a, b):
        for k in y:
            np.testing.assert_allclose(x[k], y[k], rtol=1e-4, atol=1e-5)
