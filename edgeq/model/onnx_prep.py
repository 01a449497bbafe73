"""ONNX front half of the importer: load and validate a model, fix the batch size, fold constant
subgraphs (the Shape→Gather→Concat→Reshape chains torch emits), drop no-op nodes and fold
BatchNormalization into the Conv/Gemm before it. The result is a plain node list with NCHW shapes that
``onnx_import`` turns into the NHWC graph IR."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError, UnsupportedError

MIN_OPSET = 11


@dataclass
class ONode:
    op: str
    inputs: list[str]  # "" marks an absent optional input
    outputs: list[str]
    attrs: dict
    name: str
    domain: str = ""

    def __str__(self) -> str:
        return f"{self.op} node {self.name!r}"


@dataclass
class OnnxGraph:
    """A topologically sorted ONNX graph after preprocessing; shapes are the source (NCHW) shapes."""

    name: str
    opset: int
    nodes: list[ONode]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    inputs: list[str]
    outputs: list[str]
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name


# loading ----------------------------------------------------------------------------------------------
def load_onnx(src, label: str | None = None) -> tuple["onnx.ModelProto", str]:  # noqa: F821
    """(model, label for messages); ``label`` overrides the name used in errors (e.g. the file of given bytes)."""
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(src, onnx.ModelProto):
        return src, f"ONNX model {src.graph.name!r}" if src.graph.name else "ONNX model"
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, label = bytes(src), label or "<bytes>"
    else:
        path = Path(src)
        label = label or str(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelError(f"{label}: cannot read ({e.strerror or e})") from None
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{label}: not an ONNX model ({type(e).__name__})") from None
    if model.ir_version <= 0 or not model.graph.node or not model.opset_import:
        raise ModelError(f"{label}: not an ONNX model (no graph, nodes or opset)")
    return model, label


def _opset(model, label: str) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            if imp.version < MIN_OPSET:
                raise UnsupportedError(f"{label}: opset {imp.version} is too old (edgeq reads opset {MIN_OPSET}+)")
            return int(imp.version)
    raise ModelError(f"{label}: model imports no default-domain opset")


def _fix_input_dims(model, label: str) -> None:
    """A symbolic or zero batch dimension becomes 1; any other dynamic dimension cannot be fixed."""
    inits = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            raise UnsupportedError(f"{label}: input {vi.name!r} has no shape")
        for k, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if k == 0:
                d.Clear()
                d.dim_value = 1
            else:
                what = d.dim_param or "?"
                raise UnsupportedError(
                    f"{label}: input {vi.name!r} has dynamic dimension {k} ({what}); export with fixed shapes")
    # Output/value_info shapes written by the exporter may still carry the symbolic batch: let inference redo them.
    del model.graph.value_info[:]
    for vo in model.graph.output:
        vo.type.tensor_type.ClearField("shape")


def _infer(model, label: str):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as e:  # onnx raises several internal types here
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{label}: shape inference failed: {msg}") from None


def _shapes_and_types(model) -> tuple[dict, dict]:
    from onnx import helper

    shapes, dtypes = {}, {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if tt.elem_type:
            dtypes[vi.name] = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
            if all(d >= 0 for d in dims):
                shapes[vi.name] = tuple(int(d) for d in dims)
    return shapes, dtypes


def _attrs(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        out[a.name] = v
    return out


def _check_finite(name: str, arr: np.ndarray, label: str) -> None:
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ModelError(f"{label}: initializer {name!r} holds {bad} NaN/inf value(s)")


def _constant_value(node, label: str) -> np.ndarray:
    from onnx import numpy_helper

    a = _attrs(node)
    if "value" in a:
        return numpy_helper.to_array(a["value"])
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32),
                    ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dtype=dt)
    raise UnsupportedError(f"{label}: Constant node {node.name!r} uses an unsupported value attribute")


# constant folding ---------------------------------------------------------------------------------------
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
            "If", "Loop", "Scan"}


def _fold_node(node, consts: dict, shapes: dict, opset: int) -> list[np.ndarray] | None:
    """Values of the node's outputs when they do not depend on the model input, else None."""
    if node.op_type in _NO_FOLD or node.domain not in ("", "ai.onnx"):
        return None
    ins = [i for i in node.input if i]
    if node.op_type in ("Shape", "Size"):
        if ins[0] not in shapes:
            return None
        shp = np.asarray(shapes[ins[0]], dtype=np.int64)
        if node.op_type == "Size":
            return [np.asarray(np.prod(shp), dtype=np.int64)]
        a = _attrs(node)
        start, end = a.get("start", 0), a.get("end", None)
        return [shp[start:end]]
    if not all(i in consts for i in ins):
        return None
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(node, opsets={"": opset})
        outs = ev.run(None, {i: consts[i] for i in ins})
    except Exception:  # leave it to the converter, which names the op if it is unsupported
        return None
    return [np.asarray(o) for o in outs]


def _fold_constants(model, consts: dict, opset: int, label: str):
    """Evaluate every node whose inputs are all known; return the model rebuilt without them."""
    import onnx
    from onnx import numpy_helper

    shapes, _ = _shapes_and_types(model)
    keep = []
    for node in model.graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = _constant_value(node, label)
            _check_finite(node.output[0], consts[node.output[0]], label)
            continue
        vals = _fold_node(node, consts, shapes, opset)
        if vals is None:
            keep.append(node)
            continue
        for name, v in zip(node.output, vals):
            if name:
                consts[name] = v
    graph = model.graph
    out_names = {o.name for o in graph.output}
    used = {i for n in keep for i in n.input} | out_names
    new_inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in consts.items() if k in used]
    g = onnx.helper.make_graph(keep, graph.name, [i for i in graph.input if i.name not in consts],
                               list(graph.output), new_inits)
    m = onnx.helper.make_model(g, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return _infer(m, label)


# node-level rewrites ----------------------------------------------------------------------------------
def _drop_noops(og: OnnxGraph) -> None:
    keep = []
    for n in og.nodes:
        passthrough = n.op in ("Identity", "Dropout") or (
            n.op == "Cast" and og.dtypes.get(n.inputs[0]) == og.dtypes.get(n.outputs[0]))
        if passthrough and n.inputs[0] not in og.consts:
            og.aliases[n.outputs[0]] = n.inputs[0]
        elif passthrough:
            og.consts[n.outputs[0]] = og.consts[n.inputs[0]]
        else:
            keep.append(n)
    og.nodes = keep
    for n in og.nodes:
        n.inputs = [og.resolve(i) if i else i for i in n.inputs]


def _uses(og: OnnxGraph, name: str) -> int:
    return sum(i == name for n in og.nodes for i in n.inputs) + sum(og.resolve(o) == name for o in og.outputs)


def bn_scale_shift(og: OnnxGraph, bn: ONode) -> tuple[np.ndarray, np.ndarray] | None:
    if not all(i in og.consts for i in bn.inputs[1:5]):
        return None
    gamma, beta, mean, var = (og.consts[i].astype(np.float64) for i in bn.inputs[1:5])
    s = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
    return s, beta - mean * s


def _fold_batchnorm(og: OnnxGraph) -> None:
    """Fold a BatchNormalization into a Conv or Gemm whose output only it reads (inference: fixed stats)."""
    producer = {o: n for n in og.nodes for o in n.outputs}
    dead = set()
    for bn in og.nodes:
        if bn.op != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        st = bn_scale_shift(og, bn)
        prev = producer.get(bn.inputs[0])
        if st is None or prev is None or prev.op not in ("Conv", "Gemm") or _uses(og, bn.inputs[0]) != 1:
            continue
        s, t = st
        w_name = prev.inputs[1]
        if w_name not in og.consts or (len(prev.inputs) > 2 and prev.inputs[2] and prev.inputs[2] not in og.consts):
            continue
        w = og.consts[w_name].astype(np.float64)
        b = og.consts[prev.inputs[2]].astype(np.float64) if len(prev.inputs) > 2 and prev.inputs[2] else 0.0
        if prev.op == "Conv":
            w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
            b = b * s + t
        else:  # Gemm: Y = alpha*A@B' + beta*C, BN on the feature axis
            if prev.attrs.get("transB", 0):
                w = w * s[:, None]
            else:
                w = w * s[None, :]
            if np.size(b) not in (1, s.size):
                continue  # a full [M, N] C is not a per-feature bias
            b = np.broadcast_to(np.reshape(b, -1) * prev.attrs.get("beta", 1.0), (s.size,)) * s + t
            prev.attrs["beta"] = 1.0
        wn, bn_name = f"{w_name}__bnfold_{bn.name}", f"{bn.outputs[0]}__bias"
        og.consts[wn], og.consts[bn_name] = w.astype(np.float32), np.asarray(b, dtype=np.float32)
        prev.inputs = [prev.inputs[0], wn, bn_name]
        og.shapes[bn.outputs[0]] = og.shapes.get(bn.outputs[0], og.shapes.get(prev.outputs[0]))
        prev.outputs = [bn.outputs[0]] + prev.outputs[1:]
        dead.add(id(bn))
    og.nodes = [n for n in og.nodes if id(n) not in dead]


# entry ------------------------------------------------------------------------------------------------
def prepare(src, label: str | None = None) -> tuple[OnnxGraph, str]:
    from onnx import numpy_helper

    model, default_label = load_onnx(src, label)
    label = label or default_label
    opset = _opset(model, label)
    model = type(model).FromString(model.SerializeToString())  # never modify the caller's proto
    consts = {}
    for init in model.graph.initializer:
        if init.data_location == 1:  # external data
            raise UnsupportedError(f"{label}: initializer {init.name!r} uses external data; save the model in one file")
        arr = numpy_helper.to_array(init)
        _check_finite(init.name, arr, label)
        consts[init.name] = arr
    _fix_input_dims(model, label)
    model = _fold_constants(_infer(model, label), consts, opset, label)
    shapes, dtypes = _shapes_and_types(model)
    for k, v in consts.items():
        shapes[k], dtypes[k] = tuple(v.shape), v.dtype
    nodes = [ONode(n.op_type, list(n.input), list(n.output), _attrs(n), n.name or f"{n.op_type}_{k}", n.domain)
             for k, n in enumerate(model.graph.node)]
    og = OnnxGraph(model.graph.name or "model", opset, nodes, consts, shapes, dtypes,
                   [i.name for i in model.graph.input if i.name not in consts], [o.name for o in model.graph.output])
    _drop_noops(og)
    _fold_batchnorm(og)
    return og, label
