"""ONNX importer: small PyTorch-style graphs built with onnx.helper, run by onnxruntime and by edgeq's float
executor on the imported NHWC graph (and, for some, by LiteRT from the written .tflite); error cases."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgeq.errors import ModelError, UnsupportedError
from edgeq.model.onnx_import import import_onnx
from edgeq.model.tflite_io import write_tflite
from edgeq.reference.float_exec import run_float

TOL = 1e-4
RNG = np.random.default_rng(1234)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def make_model(nodes, inputs, outputs, inits=None, opset=13, out_shapes=None):
    """inputs: {name: shape}; outputs: [names]; inits: {name: array}."""
    inits = inits or {}
    graph = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(s)) for k, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, (out_shapes or {}).get(o)) for o in outputs],
        [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def node(op, ins, outs, name=None, **attrs):
    return helper.make_node(op, ins, outs, name=name or f"{op}_{outs[0]}", **attrs)


def ort_run(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def rel_err(y, r):
    return float(np.max(np.abs(y.astype(np.float64) - r)) / max(float(np.max(np.abs(r))), 1e-12))


def litert_run(g, feeds):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=write_tflite(g),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    by_name = {d["name"]: d for d in it.get_input_details()}
    for name, x in feeds.items():
        it.set_tensor(by_name[name]["index"], x)
    it.invoke()
    outs = {d["name"]: d for d in it.get_output_details()}
    return [it.get_tensor(outs[o]["index"]) for o in g.outputs]


def check(m, feeds=None, litert=False, tol=TOL):
    """Import ``m``, run it in edgeq's executor (and LiteRT), compare with onnxruntime; return the graph."""
    if feeds is None:
        feeds = {i.name: rand(*[d.dim_value or 1 for d in i.type.tensor_type.shape.dim]) for i in m.graph.input
                 if i.name not in {t.name for t in m.graph.initializer}}
    ref = ort_run(m, feeds)
    g = import_onnx(m.SerializeToString())
    ir_feeds = {n: np.ascontiguousarray(np.transpose(feeds[n], g.input_perm[n])) if n in g.input_perm else feeds[n]
                for n in g.inputs}
    runs = [run_float(g, ir_feeds)]
    if litert:
        runs.append(litert_run(g, ir_feeds))
    for outs in runs:
        assert len(outs) == len(ref)
        for name, y, r in zip(g.outputs, outs, ref):
            if name in g.output_perm:
                y = np.transpose(y, g.output_perm[name])
            assert y.shape == r.shape, (name, y.shape, r.shape)
            assert rel_err(y, r) <= tol, (name, rel_err(y, r))
    return g


def op_types(g):
    return [op.type for op in g.ops]


def bn_inits(prefix, c):
    return {f"{prefix}_g": rand(c) * 0.3 + 1, f"{prefix}_b": rand(c) * 0.1,
            f"{prefix}_m": rand(c) * 0.1, f"{prefix}_v": np.abs(rand(c)) + 0.5}


def bn(prefix, x, y):
    return node("BatchNormalization", [x, f"{prefix}_g", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"], [y],
                epsilon=1e-5)


# whole networks -----------------------------------------------------------------------------------------
def pytorch_style_cnn(opset):
    """conv/bn/relu/maxpool, a depthwise-separable block (dw conv/bn/relu6, pw conv/bn/relu), GAP, gemm."""
    inits = {"w1": rand(8, 3, 3, 3, scale=0.3), "w_dw": rand(8, 1, 3, 3, scale=0.3), "w_pw": rand(16, 8, 1, 1, scale=0.3),
             "fc_w": rand(10, 16, scale=0.3), "fc_b": rand(10), "six": np.float32(6), "zero": np.float32(0),
             **bn_inits("bn1", 8), **bn_inits("bn2", 8), **bn_inits("bn3", 16)}
    nodes = [
        node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), bn("bn1", "c1", "b1"),
        node("Relu", ["b1"], ["r1"]), node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p1", "w_dw"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8), bn("bn2", "c2", "b2"),
        node("Clip", ["b2", "zero", "six"], ["r2"]),
        node("Conv", ["r2", "w_pw"], ["c3"], kernel_shape=[1, 1]), bn("bn3", "c3", "b3"), node("Relu", ["b3"], ["r3"]),
        node("GlobalAveragePool", ["r3"], ["gap"]), node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    return make_model(nodes, {"x": (1, 3, 16, 16)}, ["logits"], inits, opset)


@pytest.mark.parametrize("opset", [13, 17])
def test_pytorch_style_cnn_with_depthwise_block(opset):
    g = check(pytorch_style_cnn(opset), litert=True)
    assert op_types(g) == ["CONV_2D", "MAX_POOL_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "RESHAPE",
                           "FULLY_CONNECTED"]
    acts = [op.options.get("fused_activation_function") for op in g.ops if "CONV" in op.type]
    assert acts == ["RELU", "RELU6", "RELU"]
    assert g.input_perm == {"x": (0, 2, 3, 1)} and g.tensors["x"].shape == (1, 16, 16, 3)
    assert g.ops[0].options["padding"] == "SAME"


def test_pytorch_style_cnn_int8_in_litert_keeps_30db_sqnr():
    """The issue's acceptance: conv/bn/relu/pool/gemm + a depthwise block converts; int8 in LiteRT vs onnxruntime."""
    import edgeq
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    m = pytorch_style_cnn(13)
    calib = rand(48, 3, 16, 16)
    held_out = rand(16, 3, 16, 16)
    int8 = edgeq.convert(m.SerializeToString(), calib=calib, io="float", progress=False)
    it = Interpreter(model_content=int8, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    types = {d["dtype"] for d in it.get_tensor_details() if d["name"] not in ("x", "logits")}
    assert np.int8 in types
    sig, noise = 0.0, 0.0
    for x in held_out:
        it.set_tensor(it.get_input_details()[0]["index"], np.transpose(x[None], (0, 2, 3, 1)).copy())
        it.invoke()
        y = it.get_tensor(it.get_output_details()[0]["index"])
        r = ort_run(m, {"x": x[None]})[0]
        sig, noise = sig + float(np.sum(r.astype(np.float64) ** 2)), noise + float(np.sum((y - r) ** 2.0))
    sqnr = 10 * np.log10(sig / noise)
    print(f"int8 SQNR vs onnxruntime: {sqnr:.1f} dB")
    assert sqnr >= 30.0


def test_torch_flatten_chain_matmul_bias_and_layout_transpose():
    """Shape→Gather→Unsqueeze→Concat→Reshape (torch's x.view(x.size(0), -1)) is constant-folded; flattening
    a real NCHW map needs C,H,W order, so exactly one TRANSPOSE appears; MatMul+Add becomes one FC."""
    inits = {"w": rand(4, 4, 3, 3, scale=0.3), "idx0": np.asarray(0, np.int64), "m1": np.asarray([-1], np.int64),
             "ax0": np.asarray([0], np.int64), "fc": rand(36, 5, scale=0.2), "fcb": rand(5)}
    nodes = [
        node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["r"]),
        node("Shape", ["r"], ["s"]), node("Gather", ["s", "idx0"], ["n"], axis=0),
        node("Unsqueeze", ["n", "ax0"], ["n1"]), node("Concat", ["n1", "m1"], ["shp"], axis=0),
        node("Reshape", ["r", "shp"], ["flat"]), node("MatMul", ["flat", "fc"], ["mm"]),
        node("Add", ["mm", "fcb"], ["y"]),
    ]
    g = check(make_model(nodes, {"x": (1, 4, 3, 3)}, ["y"], inits), litert=True)
    assert op_types(g) == ["CONV_2D", "TRANSPOSE", "RESHAPE", "FULLY_CONNECTED"]


def test_symbolic_batch_is_fixed_to_one_and_dropout_identity_vanish():
    inits = {"w": rand(6, 10, scale=0.3)}
    nodes = [node("Identity", ["x"], ["i"]), node("Dropout", ["i"], ["d"]), node("MatMul", ["d", "w"], ["y"])]
    m = make_model(nodes, {"x": ("batch", 6)}, ["y"], inits)
    g = check(m, feeds={"x": rand(1, 6)})
    assert op_types(g) == ["FULLY_CONNECTED"] and g.tensors["x"].shape == (1, 6)


def test_residual_squeeze_excitation_block():
    """conv/bn + identity shortcut (Add→Relu fuses into ADD), SE: GAP→1x1 conv→relu→1x1 conv→hardsigmoid→Mul."""
    inits = {"w": rand(8, 8, 3, 3, scale=0.2), "se1": rand(4, 8, 1, 1, scale=0.3), "se1b": rand(4),
             "se2": rand(8, 4, 1, 1, scale=0.3), "se2b": rand(8), **bn_inits("bn", 8)}
    nodes = [node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), bn("bn", "c", "b"),
             node("GlobalAveragePool", ["b"], ["gap"]), node("Conv", ["gap", "se1", "se1b"], ["s1"], kernel_shape=[1, 1]),
             node("Relu", ["s1"], ["s1r"]), node("Conv", ["s1r", "se2", "se2b"], ["s2"], kernel_shape=[1, 1]),
             node("HardSigmoid", ["s2"], ["gate"], alpha=1 / 6, beta=0.5), node("Mul", ["b", "gate"], ["se"]),
             node("Add", ["se", "x"], ["res"]), node("Relu", ["res"], ["y"])]
    g = check(make_model(nodes, {"x": (1, 8, 6, 6)}, ["y"], inits), litert=True)
    add = [op for op in g.ops if op.type == "ADD"][-1]
    assert add.outputs == ["y"] and add.options["fused_activation_function"] == "RELU"
    assert "TRANSPOSE" not in op_types(g) and "RELU" not in op_types(g)


def test_channel_shuffle_reshape_transpose_reshape():
    inits = {"s5": np.asarray([1, 2, 3, 4, 4], np.int64), "s4": np.asarray([1, 6, 4, 4], np.int64)}
    nodes = [node("Reshape", ["x", "s5"], ["r5"]), node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
             node("Reshape", ["t5", "s4"], ["r4"]), node("Relu", ["r4"], ["y"])]
    g = check(make_model(nodes, {"x": (1, 6, 4, 4)}, ["y"], inits), litert=True)
    assert g.outputs == ["y"] and g.output_perm == {"y": (0, 3, 1, 2)}


def test_bundled_example_model_matches_onnxruntime():
    from pathlib import Path

    import edgeq

    path = Path(edgeq.__file__).parent / "examples" / "digits_cnn.onnx"
    m = onnx.load(str(path))
    shape = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim]
    feeds = {m.graph.input[0].name: np.abs(rand(*shape))}
    g = check(m, feeds=feeds, litert=True)
    assert "BATCH_NORMALIZATION" not in op_types(g) and g.metadata["source_format"] == "onnx"


# convolutions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [13, 17])
def test_grouped_conv_with_folded_batchnorm_is_split_per_group(opset):
    inits = {"w": rand(6, 2, 3, 3, scale=0.3), "b": rand(6), **bn_inits("bn", 6)}
    nodes = [node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
             bn("bn", "c", "y")]
    g = check(make_model(nodes, {"x": (1, 4, 9, 9)}, ["y"], inits, opset), litert=True)
    assert op_types(g) == ["STRIDED_SLICE", "CONV_2D", "STRIDED_SLICE", "CONV_2D", "CONCATENATION"]


def test_depthwise_multiplier_stride_and_torch_padding_needs_explicit_pad():
    # pad 1 with stride 2 on an even input starts windows at -1 where TFLite SAME starts at 0
    inits = {"w": rand(6, 1, 3, 3, scale=0.3)}
    nodes = [node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=3, strides=[2, 2], pads=[1, 1, 1, 1])]
    g = check(make_model(nodes, {"x": (1, 3, 8, 8)}, ["y"], inits), litert=True)
    assert op_types(g) == ["PAD", "DEPTHWISE_CONV_2D"]
    assert g.ops[1].options["depth_multiplier"] == 2 and g.ops[1].options["padding"] == "VALID"


def test_conv_dilation_asymmetric_pads_and_auto_pad():
    inits = {"w": rand(4, 3, 3, 3, scale=0.3), "w2": rand(5, 4, 2, 2, scale=0.3)}
    nodes = [node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 1, 0, 2]),
             node("Conv", ["c", "w2"], ["y"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER")]
    check(make_model(nodes, {"x": (1, 3, 10, 11)}, ["y"], inits), litert=True)


# elementwise and activations --------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [13, 17])
def test_binary_ops_broadcast_channel_constants(opset):
    inits = {"cb": rand(4, 1, 1), "cs": np.float32(2.5), "cr": rand(1, 4, 1, 1) + 3, "row": rand(5)}
    nodes = [node("Add", ["x", "cb"], ["a"]), node("Sub", ["a", "cs"], ["s"]), node("Mul", ["s", "x"], ["m"]),
             node("Div", ["m", "cr"], ["d"]), node("Sub", ["cs", "d"], ["s2"]), node("Mul", ["s2", "row"], ["y"])]
    g = check(make_model(nodes, {"x": (1, 4, 3, 5)}, ["y"], inits, opset))
    assert "DIV" not in op_types(g) and "TRANSPOSE" not in op_types(g)


def test_div_by_tensor_and_lower_rank_activation_broadcast():
    nodes = [node("Div", ["x", "z"], ["d"]), node("Mul", ["d", "v"], ["y"])]
    feeds = {"x": rand(1, 3, 4, 4), "z": np.abs(rand(1, 3, 4, 4)) + 0.5, "v": rand(3, 1, 1)}
    g = check(make_model(nodes, {"x": (1, 3, 4, 4), "z": (1, 3, 4, 4), "v": (3, 1, 1)}, ["y"]), feeds=feeds)
    assert "DIV" in op_types(g)


@pytest.mark.parametrize("opset", [14, 17])  # HardSwish appeared in opset 14
def test_activations(opset):
    inits = {"slope": rand(4, 1, 1) * 0.2, "lo": np.float32(-0.5), "hi": np.float32(2.0)}
    nodes = [node("LeakyRelu", ["x"], ["l"], alpha=0.1), node("Sigmoid", ["x"], ["s"]), node("Tanh", ["x"], ["t"]),
             node("HardSwish", ["x"], ["hs"]), node("HardSigmoid", ["x"], ["hg"], alpha=1 / 6, beta=0.5),
             node("HardSigmoid", ["x"], ["hg2"]), node("PRelu", ["x", "slope"], ["p"]),
             node("Clip", ["x", "lo", "hi"], ["c"]), node("Clip", ["x", "lo"], ["c2"]), node("Relu", ["x"], ["r"])]
    outs = ["l", "s", "t", "hs", "hg", "hg2", "p", "c", "c2", "r"]
    feeds = {"x": rand(1, 4, 5, 5, scale=4)}
    g = check(make_model(nodes, {"x": (1, 4, 5, 5)}, outs, inits, opset), feeds=feeds, litert=True)
    for t in ("LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH", "PRELU", "MINIMUM", "MAXIMUM", "RELU"):
        assert t in op_types(g)


def test_clip_named_ranges_map_to_tflite_activations():
    inits = {"z": np.float32(0), "six": np.float32(6), "m1": np.float32(-1), "p1": np.float32(1)}
    nodes = [node("Clip", ["x", "z", "six"], ["a"]), node("Clip", ["x", "m1", "p1"], ["b"]),
             node("Clip", ["x", "z"], ["c"])]
    g = check(make_model(nodes, {"x": (2, 7)}, ["a", "b", "c"], inits), feeds={"x": rand(2, 7, scale=5)})
    assert op_types(g) == ["RELU6", "RELU_N1_TO_1", "RELU"]


def test_standalone_batchnorm_becomes_mul_add():
    nodes = [bn("bn", "x", "y")]
    g = check(make_model(nodes, {"x": (1, 5, 3, 3)}, ["y"], bn_inits("bn", 5)))
    assert op_types(g) == ["MUL", "ADD"]


# pooling ---------------------------------------------------------------------------------------------------
def test_resnet_maxpool_padding_after_relu_and_before_it():
    # torch's MaxPool2d(3, 2, 1) on an even map: not TFLite SAME, so pad explicitly; -inf-like fill without ReLU
    nodes = [node("Relu", ["x"], ["r"]),
             node("MaxPool", ["r"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             node("MaxPool", ["x"], ["b"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
    g = check(make_model(nodes, {"x": (1, 3, 8, 8)}, ["a", "b"]), litert=True)
    assert sorted(op_types(g)) == sorted(["RELU", "PAD", "MAX_POOL_2D", "PADV2", "MAX_POOL_2D"])


def test_pool_ceil_mode_and_same_padding():
    nodes = [node("MaxPool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             node("AveragePool", ["x"], ["b"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
             node("AveragePool", ["x"], ["c"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
                  count_include_pad=1),
             node("AveragePool", ["x"], ["d"], kernel_shape=[2, 2], strides=[2, 2]),
             node("GlobalMaxPool", ["x"], ["e"])]
    g = check(make_model(nodes, {"x": (1, 3, 7, 7)}, ["a", "b", "c", "d", "e"]), litert=True)
    pools = [op for op in g.ops if op.type == "AVERAGE_POOL_2D"]
    assert [p.options["padding"] for p in pools] == ["SAME", "VALID", "VALID"]
    assert op_types(g).count("PAD") == 1  # only count_include_pad=1 pads with real zeros


# shapes and layout ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [13, 17])
def test_reshape_transpose_concat_squeeze(opset):
    inits = {"shp": np.asarray([0, 3, -1], np.int64), "ax": np.asarray([1], np.int64),
             "ax2": np.asarray([2], np.int64), "c4": rand(1, 2, 4, 6)}
    nodes = [node("Concat", ["x", "c4", "x"], ["cat"], axis=1),                     # channel concat: NHWC axis 3
             node("Reshape", ["cat", "shp"], ["rs"]),                                  # [1,8,4,6] -> [1,3,64]
             node("Transpose", ["rs"], ["tr"], perm=[0, 2, 1]),
             node("Unsqueeze", ["tr", "ax2"], ["us"]),                                 # 4-D again
             node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             node("Squeeze", ["us", "ax2"], ["sq"]),
             node("Unsqueeze", ["sq", "ax"], ["y"])]
    m = make_model(nodes, {"x": (1, 3, 4, 6)}, ["y", "xt", "cat"], inits, opset)
    check(m, litert=True)


def test_slice_and_gather_become_strided_slices():
    inits = {"st": np.asarray([1, -3], np.int64), "en": np.asarray([3, 100], np.int64),
             "ax": np.asarray([1, 3], np.int64), "sp": np.asarray([1, 2], np.int64),
             "i0": np.asarray(2, np.int64), "ir": np.asarray([0, 2, 4], np.int64)}
    nodes = [node("Slice", ["x", "st", "en", "ax", "sp"], ["sl"]), node("Gather", ["x", "i0"], ["g0"], axis=2),
             node("Gather", ["x", "ir"], ["gr"], axis=3), node("Gather", ["x", "i0"], ["gc"], axis=1)]
    g = check(make_model(nodes, {"x": (1, 4, 3, 6)}, ["sl", "g0", "gr", "gc"], inits), litert=True)
    # only the H-axis gather leaves a rank-3 result whose NHWC order differs from the ONNX order
    assert sorted(op_types(g)) == ["STRIDED_SLICE"] * 4 + ["TRANSPOSE"]


def test_flatten_of_1x1_map_needs_no_transpose_and_axis_two():
    nodes = [node("GlobalAveragePool", ["x"], ["g"]), node("Flatten", ["g"], ["f"]),
             node("Flatten", ["x"], ["f2"], axis=2)]
    g = check(make_model(nodes, {"x": (1, 6, 3, 2)}, ["f", "f2"]))
    assert op_types(g).count("TRANSPOSE") == 1


@pytest.mark.parametrize("opset", [13, 17])
def test_pad_softmax_reducemean(opset):
    inits = {"pads": np.asarray([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "val": np.float32(0.5),
             "pads0": np.asarray([0, 0, 1, 1, 0, 0, 0, 1], np.int64)}
    nodes = [node("Pad", ["x", "pads", "val"], ["p"]), node("Pad", ["x", "pads0"], ["p0"]),
             node("Softmax", ["x"], ["s1"], axis=1), node("Softmax", ["x"], ["s_last"]),
             node("ReduceMean", ["x"], ["rm"], axes=[2, 3], keepdims=0),
             node("ReduceMean", ["x"], ["rm1"], axes=[1], keepdims=1),
             node("ReduceMean", ["x"], ["rm3"], axes=[1], keepdims=0)]
    g = check(make_model(nodes, {"x": (1, 4, 3, 5)}, ["p", "p0", "s1", "s_last", "rm", "rm1", "rm3"], inits, opset),
              litert=True)
    assert {"PAD", "PADV2", "SOFTMAX", "MEAN"} <= set(op_types(g))


def test_reducemean_opset18_axes_input_and_softmax_2d():
    inits = {"axes": np.asarray([-1, 2], np.int64)}
    nodes = [node("ReduceMean", ["x", "axes"], ["rm"], keepdims=0), node("Softmax", ["rm"], ["y"])]
    check(make_model(nodes, {"x": (1, 4, 3, 5)}, ["y"], inits, opset=18))


def test_other_reductions_and_unary_math():
    inits = {"axes": np.asarray([1], np.int64)}
    nodes = [node("ReduceMax", ["x"], ["mx"], axes=[2, 3], keepdims=1), node("ReduceMin", ["x"], ["mn"], axes=[1]),
             node("ReduceSum", ["x", "axes"], ["sm"], keepdims=0), node("Abs", ["x"], ["a"]),
             node("Sqrt", ["a"], ["sq"]), node("Neg", ["sq"], ["ng"]), node("Exp", ["ng"], ["e"])]
    g = check(make_model(nodes, {"x": (1, 3, 4, 5)}, ["mx", "mn", "sm", "e"], inits), litert=True)
    assert {"REDUCE_MAX", "REDUCE_MIN", "SUM", "ABS", "SQRT", "NEG", "EXP"} <= set(op_types(g))


def test_opset11_attribute_forms():
    """Before opset 13 Squeeze/Unsqueeze/ReduceMean took axes as attributes and Softmax defaulted to axis 1."""
    nodes = [node("Unsqueeze", ["x"], ["u"], axes=[0]), node("ReduceMean", ["u"], ["m"], axes=[3], keepdims=1),
             node("Squeeze", ["m"], ["s"], axes=[0, 3]), node("Softmax", ["s"], ["y"])]
    g = check(make_model(nodes, {"x": (2, 3, 4)}, ["y"], opset=11))
    assert g.input_perm == {}


def test_reflect_pad_becomes_mirror_pad():
    # edgeq's float executor has no MIRROR_PAD: this one is checked by LiteRT alone
    inits = {"p": np.asarray([0, 0, 1, 2, 0, 0, 2, 1], np.int64)}
    m = make_model([node("Pad", ["x", "p"], ["y"], mode="reflect")], {"x": (1, 2, 4, 5)}, ["y"], inits)
    feeds = {"x": rand(1, 2, 4, 5)}
    g = import_onnx(m)
    assert op_types(g) == ["MIRROR_PAD"]
    y = np.transpose(litert_run(g, {"x": np.transpose(feeds["x"], g.input_perm["x"])})[0], g.output_perm["y"])
    assert rel_err(y, ort_run(m, feeds)[0]) <= TOL


# matrix products --------------------------------------------------------------------------------------------
def test_gemm_variants():
    inits = {"b_kn": rand(6, 4), "b_nk": rand(4, 6), "c_n": rand(4), "c_mn": rand(3, 4)}
    nodes = [node("Gemm", ["x", "b_kn", "c_n"], ["g1"], alpha=0.5, beta=2.0),
             node("Gemm", ["x", "b_nk", "c_mn"], ["g2"], transB=1),
             node("Gemm", ["xt", "b_kn"], ["g3"], transA=1)]
    g = check(make_model(nodes, {"x": (3, 6), "xt": (6, 3)}, ["g1", "g2", "g3"], inits), litert=True)
    assert op_types(g).count("FULLY_CONNECTED") == 3


def test_matmul_3d_const_and_activation_operands():
    inits = {"w": rand(5, 7, scale=0.3)}
    nodes = [node("MatMul", ["x", "w"], ["fc"]), node("MatMul", ["fc", "z"], ["y"])]
    g = check(make_model(nodes, {"x": (2, 3, 5), "z": (2, 7, 4)}, ["y"], inits), litert=True)
    assert op_types(g) == ["FULLY_CONNECTED", "BATCH_MATMUL"]
    assert g.ops[0].options["keep_num_dims"] is True


def test_row_major_4d_results_stay_row_major_through_elementwise_ops():
    """4-D MatMul results are kept in ONNX order: the Mul between them and the Reshape after need no TRANSPOSE."""
    inits = {"w1": rand(6, 6, scale=0.3), "w2": rand(6, 6, scale=0.3), "s": np.asarray([1, 12, 6], np.int64)}
    nodes = [node("MatMul", ["x", "w1"], ["m1"]), node("MatMul", ["x", "w2"], ["m2"]), node("Mul", ["m1", "m2"], ["p"]),
             node("Reshape", ["p", "s"], ["y"])]
    g = check(make_model(nodes, {"x": (1, 3, 4, 6)}, ["y"], inits))
    assert op_types(g) == ["TRANSPOSE", "FULLY_CONNECTED", "FULLY_CONNECTED", "MUL", "RESHAPE"]


# errors -------------------------------------------------------------------------------------------------
def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf model at all \xff\xfe")
    with pytest.raises(ModelError, match="m.onnx"):
        import_onnx(bad)
    with pytest.raises(ModelError, match="^upload.onnx: not an ONNX model"):
        import_onnx(b"", label="upload.onnx")
    with pytest.raises(ModelError, match="cannot read"):
        import_onnx(tmp_path / "missing.onnx")


def test_unsupported_op_names_op_and_node():
    m = make_model([node("Erf", ["x"], ["y"], name="the_erf")], {"x": (1, 4)}, ["y"])
    with pytest.raises(UnsupportedError, match="Erf.*the_erf"):
        import_onnx(m)


def test_unsupported_attribute_values():
    m = make_model([node("Pad", ["x", "p"], ["y"], name="edgy", mode="edge")], {"x": (1, 2, 3, 3)}, ["y"],
                   {"p": np.asarray([0, 0, 1, 1, 0, 0, 1, 1], np.int64)})
    with pytest.raises(UnsupportedError, match="edgy.*edge"):
        import_onnx(m)
    m = make_model([node("AveragePool", ["x"], ["y"], name="ap", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1])], {"x": (1, 2, 8, 8)}, ["y"])
    with pytest.raises(UnsupportedError, match="ap.*count_include_pad"):
        import_onnx(m)


def test_nan_and_inf_weights_name_the_tensor():
    w = rand(3, 4)
    w[1, 2] = np.nan
    m = make_model([node("MatMul", ["x", "bad_w"], ["y"])], {"x": (1, 3)}, ["y"], {"bad_w": w})
    with pytest.raises(ModelError, match="bad_w.*NaN"):
        import_onnx(m)


def test_dynamic_non_batch_dimension_is_refused():
    m = make_model([node("Relu", ["x"], ["y"])], {"x": (1, 3, "h", "w")}, ["y"])
    with pytest.raises(UnsupportedError, match="dynamic dimension 2"):
        import_onnx(m)


def test_non_constant_conv_weight_is_refused():
    m = make_model([node("Conv", ["x", "w"], ["y"], name="cv", kernel_shape=[1, 1])],
                   {"x": (1, 2, 3, 3), "w": (4, 2, 1, 1)}, ["y"])
    with pytest.raises(UnsupportedError, match="cv.*constant"):
        import_onnx(m)


def test_import_leaves_callers_model_untouched():
    m = make_model([node("Relu", ["x"], ["y"])], {"x": ("n", 3)}, ["y"])
    before = m.SerializeToString()
    import_onnx(m)
    assert m.SerializeToString() == before
