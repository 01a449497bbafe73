""".tflite flatbuffer <-> Graph IR, through the schema object API that ai_edge_litert ships.

Reading checks every index and buffer length and raises ModelError("<file>: ...") on anything malformed.
Writing dedupes identical constant buffers, aligns buffer data to 16 bytes, packs INT4 weights and always
emits a SignatureDef (LiteRT's signature runner and some tools need one)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

from edgeq.errors import EdgeqError, ModelError, UnsupportedError
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.model import tflite_schema as S

FILE_IDENTIFIER = b"TFL3"
SIGNATURE_KEY = "tflite.signature"  # Graph.metadata entry holding the SignatureDef read from a file (JSON)
LAYOUT_KEY = "edgeq.layout"  # model metadata holding Graph.input_perm / output_perm (JSON)
# Metadata that describes the file it came from (converter, runtime version), not a graph edgeq rewrites.
_SOURCE_ONLY_METADATA = {"min_runtime_version", "CONVERSION_METADATA"}
BUFFER_ALIGN = 16


# INT4 ------------------------------------------------------------------------------------------------
def pack_int4(values: np.ndarray) -> np.ndarray:
    """Pack int values in [-8, 7] two per byte, low nibble first (TFLite's INT4 layout)."""
    v = np.asarray(values).astype(np.int8).ravel()
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values must lie in [-8, 7]")
    if v.size % 2:
        v = np.append(v, np.int8(0))
    nib = (v.astype(np.uint8) & 0x0F).reshape(-1, 2)
    return (nib[:, 0] | (nib[:, 1] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of pack_int4: ``count`` sign-extended int8 values."""
    b = np.asarray(packed, dtype=np.uint8)
    both = np.stack([b & 0x0F, b >> 4], axis=1).ravel()[:count].astype(np.int8)
    return np.where(both > 7, both - 16, both).astype(np.int8)


# reading ---------------------------------------------------------------------------------------------
def _load(src) -> tuple[bytes, str, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "<bytes>", "model"
    p = Path(src)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{p}: is a directory, not a .tflite file") from None
    except OSError as e:
        raise ModelError(f"{p}: cannot read ({e.strerror})") from None
    return data, str(p), p.stem


def read_tflite(src: str | Path | bytes, *, label: str | None = None) -> Graph:
    """Parse a .tflite file (path or bytes) into a Graph. Malformed input raises ModelError.

    ``label`` names the source in error messages and the graph (useful when passing bytes read from a file)."""
    data, where, stem = _load(src)
    if label is not None:
        where, stem = str(label), Path(str(label)).stem or stem
    label = where
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"{label}: not a TFLite model (no TFL3 flatbuffer identifier)")
    try:
        return _Reader(data, label, stem).graph
    except EdgeqError:
        raise
    except Exception as e:  # the flatbuffers accessors raise assorted errors on offsets past the data
        raise ModelError(f"{label}: truncated or malformed flatbuffer ({len(data)} bytes; an offset or length "
                         f"points outside the data: {type(e).__name__})") from None


@lru_cache(maxsize=None)
def _union_members(union) -> dict[int, str]:
    return {v: k for k, v in S._enum_members(union).items()}


class _Reader:
    """Reads through the generated flatbuffer accessors (tables read in place, vectors as numpy views of the
    file) rather than unpacking the whole object tree: only what the Graph needs is touched."""

    def __init__(self, raw: bytes, label: str, stem: str):
        self.raw, self.label = raw, label
        self.m = m = fb.Model.GetRootAs(raw, 0)
        n_sub = self._count(m.SubgraphsLength(), "subgraphs")
        if n_sub == 0:
            raise ModelError(f"{label}: the model has no subgraph")
        if n_sub > 1:
            raise UnsupportedError(f"{label}: {n_sub} subgraphs (control flow) are not supported")
        self.sg = m.Subgraphs(0)
        self.n_buffers = self._count(m.BuffersLength(), "buffers")
        g = self.graph = Graph(stem)
        self.names = self._read_tensors()
        self._read_ops()
        g.inputs = [self._name(i, "graph input") for i in _vec(self.sg.InputsAsNumpy())]
        g.outputs = [self._name(i, "graph output") for i in _vec(self.sg.OutputsAsNumpy())]
        self._read_signature()
        self._read_metadata()
        if m.Description():
            g.metadata["description"] = _str(m.Description())
        _fold_constant_ops(g, label)

    def _count(self, n: int, what: str) -> int:
        """A vector length, checked against the file size (each table entry takes 4 bytes): a corrupted
        length must not make the reader loop for billions of entries."""
        if n * 4 > len(self.raw):
            raise ModelError(f"{self.label}: {what} vector claims {n} entries in a {len(self.raw)}-byte file")
        return n

    def _name(self, idx: int, what: str) -> str:
        if not 0 <= idx < len(self.names):
            raise ModelError(f"{self.label}: {what} refers to tensor {idx}, but there are {len(self.names)}")
        return self.names[idx]

    def _read_tensors(self) -> list[str]:
        names = []
        sg = self.sg
        for i in range(self._count(sg.TensorsLength(), "tensors")):
            t = sg.Tensors(i)
            base = _str(t.Name()) or f"tensor_{i}"
            name = self.graph.unique_name(base)
            where = f"{self.label}: tensor {name!r}"
            dtype = S.dtype_of(t.Type(), where)
            shape = tuple(_vec(t.ShapeAsNumpy()))
            if any(d < 0 for d in shape):
                raise ModelError(f"{where}: negative dimension in shape {shape}")
            tensor = Tensor(name, shape, dtype, self._tensor_data(t, dtype, shape, where), _quant(t.Quantization()))
            if tensor.data is not None and dtype == "float16":
                # float16 weights are widened once here; the executor and quantizer see float32
                tensor.data, tensor.dtype = tensor.data.astype(np.float32), "float32"
            self.graph.add_tensor(tensor, rename=False)
            names.append(name)
        return names

    def _tensor_data(self, t, dtype: str, shape, where: str) -> np.ndarray | None:
        bi = t.Buffer()
        if not 0 <= bi < self.n_buffers:
            raise ModelError(f"{where}: buffer index {bi} out of range ({self.n_buffers} buffers)")
        b = self.m.Buffers(bi)
        raw = b.DataAsNumpy()
        if isinstance(raw, int) or raw.size == 0:
            raw = None
            off, size = b.Offset(), b.Size()
            if off > 1:  # data stored after the flatbuffer (models over 2 GB)
                if off + size > len(self.raw):
                    raise ModelError(f"{where}: buffer data at offset {off} runs past the end of the file")
                raw = np.frombuffer(self.raw, np.uint8, size, off)
        if raw is None:
            return None
        if t.Sparsity() is not None:
            raise UnsupportedError(f"{where}: sparse constant tensors are not supported")
        count = int(np.prod(shape, dtype=np.int64))
        if dtype == "int4":
            if raw.size != (count + 1) // 2:
                raise ModelError(f"{where}: int4 buffer holds {raw.size} bytes, shape {shape} needs {(count + 1) // 2}")
            return unpack_int4(raw, count).reshape(shape)
        itemsize = np.dtype(dtype).itemsize
        if raw.size != count * itemsize:
            raise ModelError(f"{where}: buffer holds {raw.size} bytes, shape {shape} of {dtype} needs {count * itemsize}")
        # one copy out of the file's bytes: the graph owns writable, aligned arrays
        return raw.view(np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)

    def _read_ops(self):
        m, sg = self.m, self.sg
        codes = []
        for j in range(self._count(m.OperatorCodesLength(), "operator codes")):
            c = m.OperatorCodes(j)
            codes.append((max(int(c.BuiltinCode()), int(c.DeprecatedBuiltinCode())), c.CustomCode()))
        for k in range(self._count(sg.OperatorsLength(), "operators")):
            o = sg.Operators(k)
            ci = o.OpcodeIndex()
            if not 0 <= ci < len(codes):
                raise ModelError(f"{self.label}: operator {k} has opcode index {ci} ({len(codes)} codes)")
            code, custom = codes[ci]
            op_type = S.OP_NAMES.get(code)
            if op_type is None:
                raise UnsupportedError(f"{self.label}: operator {k} has unknown builtin code {code}")
            where = f"{self.label}: operator {k} ({op_type})"
            inputs = [None if i < 0 else self._name(i, where + " input") for i in _vec(o.InputsAsNumpy())]
            outputs = [self._name(i, where + " output") for i in _vec(o.OutputsAsNumpy())]
            self.graph.add_op(Op(op_type, inputs, outputs, self._options(o, op_type, custom), name=f"op{k}"))

    def _options(self, o, op_type: str, custom_code) -> dict:
        if op_type == "CUSTOM":
            opts = {"custom_code": _str(custom_code)}
            if not o.CustomOptionsIsNone():
                opts["custom_options"] = o.CustomOptionsAsNumpy().tobytes()
            return opts
        for union, typ, table in ((fb.BuiltinOptions, o.BuiltinOptionsType(), o.BuiltinOptions),
                                  (fb.BuiltinOptions2, o.BuiltinOptions2Type(), o.BuiltinOptions2)):
            if not typ:
                continue
            tab = table()
            member = _union_members(union).get(typ)
            if tab is None or member is None:
                continue
            obj = getattr(fb, member + "T").InitFromBuf(tab.Bytes, tab.Pos)
            return S.options_to_dict(obj, member)
        return {}

    def _buffer_bytes(self, idx: int) -> bytes:
        d = self.m.Buffers(idx).DataAsNumpy()
        return b"" if isinstance(d, int) else d.tobytes()

    def _read_metadata(self):
        m = self.m
        for j in range(self._count(m.MetadataLength(), "metadata")):
            md = m.Metadata(j)
            name, bi = _str(md.Name()), md.Buffer()
            if name in _SOURCE_ONLY_METADATA or not 0 <= bi < self.n_buffers:
                continue
            try:
                text = self._buffer_bytes(bi).decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary metadata (another tool's) is not carried over
            if name == LAYOUT_KEY:
                try:
                    lay = json.loads(text)
                    self.graph.input_perm = {k: tuple(v) for k, v in lay.get("input_perm", {}).items()}
                    self.graph.output_perm = {k: tuple(v) for k, v in lay.get("output_perm", {}).items()}
                except (ValueError, AttributeError, TypeError):
                    raise ModelError(f"{self.label}: metadata {LAYOUT_KEY!r} is not valid JSON") from None
            else:
                self.graph.metadata[name] = text.rstrip("\0")

    def _read_signature(self):
        if self._count(self.m.SignatureDefsLength(), "signature defs") == 0:
            return
        s = self.m.SignatureDefs(0)

        def maps(n, get, what):
            return {_str(get(i).Name()): self._name(get(i).TensorIndex(), what) for i in range(self._count(n, what))}

        sig = {"key": _str(s.SignatureKey()) or "serving_default",
               "inputs": maps(s.InputsLength(), s.Inputs, "signature input"),
               "outputs": maps(s.OutputsLength(), s.Outputs, "signature output")}
        self.graph.metadata[SIGNATURE_KEY] = json.dumps(sig)


def _vec(v) -> list[int]:
    """An accessor's numpy vector (0 when absent) as Python ints."""
    return [] if isinstance(v, int) else v.tolist()


def _str(v) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _quant(q) -> QuantParams | None:
    """QuantParams of a QuantizationParameters table (None when it has no scales)."""
    if q is None or q.ScaleLength() == 0:
        return None
    zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(1, np.int64)
    return QuantParams(q.ScaleAsNumpy().copy(), np.array(zp, np.int64), int(q.QuantizedDimension()))


def dequantize_const(t: Tensor) -> np.ndarray:
    """Float value of a constant tensor (int weights through their quantization, floats as float32)."""
    data = t.data
    if t.quant is None or data.dtype.kind == "f":
        return data.astype(np.float32)
    q = t.quant
    shape = q.broadcast_shape(data.ndim) if data.ndim else ()
    scale = q.scale.reshape(shape) if data.ndim else q.scale[0]
    zp = q.zero_point.reshape(shape) if data.ndim else q.zero_point[0]
    return ((data.astype(np.float64) - zp) * scale).astype(np.float32)


def _fold_constant_ops(g: Graph, label: str) -> None:
    """DEQUANTIZE / DENSIFY of a constant become a float constant, so weights look like weights."""
    keep = []
    for op in g.ops:
        src = g.tensors.get(op.inputs[0]) if op.inputs and op.inputs[0] else None
        if op.type in ("DEQUANTIZE", "DENSIFY") and src is not None and src.is_const and len(op.outputs) == 1:
            out = g.tensors[op.outputs[0]]
            data = dequantize_const(src) if op.type == "DEQUANTIZE" else src.data
            out.data = np.ascontiguousarray(data).reshape(out.shape)
            out.dtype = str(out.data.dtype)
            if op.type == "DEQUANTIZE":
                out.quant = None
            continue
        keep.append(op)
    if len(keep) != len(g.ops):
        g.ops = keep
        used = {i for op in g.ops for i in op.inputs if i} | set(g.inputs) | set(g.outputs)
        for n in [n for n, t in g.tensors.items() if t.is_const and n not in used]:
            del g.tensors[n]


# writing ---------------------------------------------------------------------------------------------
# Lowest op version that accepts these types (LiteRT refuses a kernel for a version it does not know,
# and some kernels check version against dtype).
_INT8_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "ADD": 2, "SUB": 2, "MUL": 2,
    "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "SOFTMAX": 2, "LOGISTIC": 2, "TANH": 2, "CONCATENATION": 2,
    "PAD": 2, "PADV2": 2, "MEAN": 2, "DEQUANTIZE": 2, "RELU": 2, "RELU6": 2, "LEAKY_RELU": 2,
    "STRIDED_SLICE": 2, "TRANSPOSE": 2, "MAXIMUM": 2, "MINIMUM": 2, "QUANTIZE": 2, "BATCH_MATMUL": 2,
    "SQUEEZE": 1, "RESHAPE": 1, "EXPAND_DIMS": 1, "HARD_SWISH": 1, "PRELU": 1,
}
_INT16_VERSIONS = {
    "CONV_2D": 4, "DEPTHWISE_CONV_2D": 5, "FULLY_CONNECTED": 7, "ADD": 3, "SUB": 3, "MUL": 4,
    "AVERAGE_POOL_2D": 3, "MAX_POOL_2D": 3, "SOFTMAX": 3, "LOGISTIC": 3, "TANH": 3, "CONCATENATION": 3,
    "PAD": 4, "MEAN": 3, "DEQUANTIZE": 4, "RELU": 3, "QUANTIZE": 3, "TRANSPOSE": 5, "MAXIMUM": 4,
    "MINIMUM": 4, "STRIDED_SLICE": 4, "LEAKY_RELU": 2,
}


def _op_version(g: Graph, op: Op) -> int:
    types = {g.tensors[n].dtype for n in op.inputs[:1] + op.outputs[:1] if n}
    if "int16" in types and op.type in _INT16_VERSIONS:
        return _INT16_VERSIONS[op.type]
    if types & {"int8", "uint8", "int4"} and op.type in _INT8_VERSIONS:
        if op.type == "QUANTIZE" and "float32" in types:
            return 1  # float -> int8 is version 1; int8 -> int8 requantize is 2
        return _INT8_VERSIONS[op.type]
    if op.type == "FULLY_CONNECTED" and len(op.inputs) > 1 and op.inputs[1] and \
            g.tensors[op.inputs[1]].dtype == "int4":
        return 13
    return 1


class _AlignedBuilder(flatbuffers.Builder):
    """Aligns byte vectors (buffer data) to 16 bytes so kernels may read weights as wider words."""

    def StartVector(self, elemSize, numElems, alignment):
        if elemSize == 1 and numElems >= BUFFER_ALIGN:
            alignment = max(alignment, BUFFER_ALIGN)
        return super().StartVector(elemSize, numElems, alignment)


def write_tflite(graph: Graph) -> bytes:
    """Serialize a Graph to .tflite bytes (one subgraph, deduped buffers, a SignatureDef).

    The bulk (buffers, tensors, operators) is laid down with the flatbuffers Builder directly from numpy
    arrays; the object API (one Python object per table, then Pack) cost about as much again. The few
    remaining tables (operator codes, options, signature, metadata) still go through it."""
    where = f"{graph.name}"
    try:
        graph.validate()
    except ValueError as e:
        raise ModelError(f"{where}: cannot write an inconsistent graph: {e}") from None
    order: list[str] = []
    seen: set[str] = set()
    for n in list(graph.inputs) + [n for op in graph.ops for n in op.inputs + op.outputs if n] + list(graph.outputs):
        if n not in seen:
            seen.add(n)
            order.append(n)
    index = {n: i for i, n in enumerate(order)}

    payloads: list[bytes | None] = [None]  # buffer 0: the empty sentinel every activation points at
    by_size: dict[tuple, list[int]] = {}  # (dtype, length) -> buffers of that kind: dedupe by equal bytes
    tensor_buffer = []
    for n in order:
        t = graph.tensors[n]
        S.type_of(t.dtype, f"{where}: tensor {n!r}")
        bi = 0
        if t.data is not None:
            payload = _const_bytes(t, f"{where}: tensor {n!r}")
            same = by_size.setdefault((t.dtype, len(payload)), [])
            bi = next((j for j in same if payloads[j] == payload), 0)
            if not bi:
                bi = len(payloads)
                payloads.append(payload)
                same.append(bi)
        tensor_buffer.append(bi)

    codes: list = []
    code_index: dict[tuple, int] = {}
    op_rows = []
    for op in graph.ops:
        row, key = _write_op(graph, op, index)
        if key not in code_index:
            c = fb.OperatorCodeT()
            c.builtinCode = S.OP_CODES[op.type]
            c.deprecatedBuiltinCode = min(c.builtinCode, S.PLACEHOLDER_CODE)
            c.version = key[2]
            if op.type == "CUSTOM":
                c.customCode = key[1]
            code_index[key] = len(codes)
            codes.append(c)
        op_rows.append((code_index[key], row))

    meta_payloads, metadata = _metadata(graph, len(payloads))
    payloads += meta_payloads
    b = _AlignedBuilder(4096 + sum(len(p) for p in payloads if p) + 256 * (len(order) + len(graph.ops)))
    buffers = _offset_vector(b, [_pack_buffer(b, p) for p in payloads])
    tensors = _offset_vector(b, [_pack_tensor(b, n, graph.tensors[n], bi, where)
                                 for n, bi in zip(order, tensor_buffer)])
    operators = _offset_vector(b, [_pack_operator(b, ci, row) for ci, row in op_rows])
    sg_inputs = b.CreateNumpyVector(np.array([index[n] for n in graph.inputs], np.int32))
    sg_outputs = b.CreateNumpyVector(np.array([index[n] for n in graph.outputs], np.int32))
    sg_name = b.CreateString("main")
    fb.SubGraphStart(b)
    fb.SubGraphAddTensors(b, tensors)
    fb.SubGraphAddInputs(b, sg_inputs)
    fb.SubGraphAddOutputs(b, sg_outputs)
    fb.SubGraphAddOperators(b, operators)
    fb.SubGraphAddName(b, sg_name)
    subgraphs = _offset_vector(b, [fb.SubGraphEnd(b)])
    op_codes = _offset_vector(b, [c.Pack(b) for c in codes])
    description = b.CreateString(graph.metadata.get("description", "edgeq"))
    signatures = _offset_vector(b, [_signature(graph, index).Pack(b)])
    meta = _offset_vector(b, [m.Pack(b) for m in metadata])
    fb.ModelStart(b)
    fb.ModelAddVersion(b, 3)
    fb.ModelAddOperatorCodes(b, op_codes)
    fb.ModelAddSubgraphs(b, subgraphs)
    fb.ModelAddDescription(b, description)
    fb.ModelAddBuffers(b, buffers)
    fb.ModelAddMetadata(b, meta)
    fb.ModelAddSignatureDefs(b, signatures)
    b.Finish(fb.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _offset_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _pack_buffer(b: flatbuffers.Builder, payload: bytes | None) -> int:
    data = b.CreateNumpyVector(np.frombuffer(payload, np.uint8)) if payload else None
    fb.BufferStart(b)
    if data is not None:
        fb.BufferAddData(b, data)
    return fb.BufferEnd(b)


def _pack_tensor(b: flatbuffers.Builder, name: str, t: Tensor, buffer: int, where: str) -> int:
    shape = b.CreateNumpyVector(np.asarray(t.shape, np.int32))
    name_off = b.CreateString(name)
    quant = None
    if t.quant is not None:
        scale = b.CreateNumpyVector(np.asarray(t.quant.scale, np.float32).ravel())
        zp = b.CreateNumpyVector(np.asarray(t.quant.zero_point, np.int64).ravel())
        fb.QuantizationParametersStart(b)
        fb.QuantizationParametersAddScale(b, scale)
        fb.QuantizationParametersAddZeroPoint(b, zp)
        fb.QuantizationParametersAddQuantizedDimension(b, int(t.quant.axis) if t.quant.per_channel else 0)
        quant = fb.QuantizationParametersEnd(b)
    fb.TensorStart(b)
    fb.TensorAddShape(b, shape)
    fb.TensorAddType(b, S.type_of(t.dtype, f"{where}: tensor {name!r}"))
    fb.TensorAddBuffer(b, buffer)
    fb.TensorAddName(b, name_off)
    if quant is not None:
        fb.TensorAddQuantization(b, quant)
    return fb.TensorEnd(b)


def _pack_operator(b: flatbuffers.Builder, code_index: int, row: dict) -> int:
    inputs = b.CreateNumpyVector(row["inputs"])
    outputs = b.CreateNumpyVector(row["outputs"])
    custom = b.CreateNumpyVector(row["custom"]) if row.get("custom") is not None else None
    opts = row["options"].Pack(b) if row.get("options") is not None else None
    fb.OperatorStart(b)
    fb.OperatorAddOpcodeIndex(b, code_index)
    fb.OperatorAddInputs(b, inputs)
    fb.OperatorAddOutputs(b, outputs)
    if opts is not None:
        if row["which"] == 1:
            fb.OperatorAddBuiltinOptionsType(b, row["code"])
            fb.OperatorAddBuiltinOptions(b, opts)
        else:
            fb.OperatorAddBuiltinOptions2Type(b, row["code"])
            fb.OperatorAddBuiltinOptions2(b, opts)
    if custom is not None:
        fb.OperatorAddCustomOptions(b, custom)
    return fb.OperatorEnd(b)


def _const_bytes(t: Tensor, where: str) -> bytes:
    data = np.asarray(t.data)
    if data.size != t.size:
        raise ModelError(f"{where}: data has {data.size} elements but shape {t.shape} needs {t.size}")
    if t.dtype == "int4":
        try:
            return pack_int4(data).tobytes()
        except ValueError as e:
            raise ModelError(f"{where}: {e}") from None
    if np.dtype(t.dtype) != data.dtype:
        raise ModelError(f"{where}: data is {data.dtype} but the tensor says {t.dtype}")
    return np.ascontiguousarray(data, dtype=np.dtype(t.dtype).newbyteorder("<")).tobytes()


def _write_op(g: Graph, op: Op, index: dict[str, int]):
    """(what _pack_operator needs: index vectors, options object and union, (type, custom code, version))."""
    where = f"{g.name}: {op}"
    if op.type not in S.OP_CODES:
        raise UnsupportedError(f"{where}: {op.type!r} is not a TFLite builtin operator")
    row = {"inputs": np.array([-1 if n is None else index[n] for n in op.inputs], np.int32),
           "outputs": np.array([index[n] for n in op.outputs], np.int32)}
    if op.type == "CUSTOM":
        custom = op.options.get("custom_code", "")
        if "custom_options" in op.options:
            row["custom"] = np.frombuffer(bytes(op.options["custom_options"]), dtype=np.uint8)
        return row, ("CUSTOM", custom, 1)
    which, member, code = S.options_kind(op.type)
    opts = {k: v for k, v in op.options.items() if not k.startswith("_")}
    if member is None:
        if opts:
            raise UnsupportedError(f"{where}: {op.type} takes no options, got {', '.join(opts)}")
    elif opts:  # no options at all stays no table (an empty table would mean schema defaults)
        row["options"], row["which"], row["code"] = S.dict_to_options(opts, member, where), which, code
    return row, (op.type, "", _op_version(g, op))


def _metadata(g: Graph, first_buffer: int) -> tuple[list[bytes], list]:
    """Graph.metadata strings (and the layout bridges) as named model metadata: (their buffers' bytes, in
    order from buffer index ``first_buffer``; the MetadataT entries)."""
    entries = {k: v for k, v in g.metadata.items() if k not in (SIGNATURE_KEY, "description")}
    if g.input_perm or g.output_perm:
        entries[LAYOUT_KEY] = json.dumps({"input_perm": {k: list(v) for k, v in g.input_perm.items()},
                                          "output_perm": {k: list(v) for k, v in g.output_perm.items()}})
    payloads, out = [], []
    for name, text in entries.items():
        m = fb.MetadataT()
        m.name, m.buffer = name, first_buffer + len(payloads)
        payloads.append(str(text).encode("utf-8"))
        out.append(m)
    return payloads, out


def _signature(g: Graph, index: dict[str, int]):
    """The SignatureDef read from the source when it still matches the graph, else 'serving_default'."""
    key, ins, outs = "serving_default", {n: n for n in g.inputs}, {n: n for n in g.outputs}
    if SIGNATURE_KEY in g.metadata:
        try:
            s = json.loads(g.metadata[SIGNATURE_KEY])
            if sorted(s["inputs"].values()) == sorted(g.inputs) and sorted(s["outputs"].values()) == sorted(g.outputs):
                key, ins, outs = s["key"], s["inputs"], s["outputs"]
        except (ValueError, KeyError, TypeError, AttributeError):
            pass

    def maps(d):
        out = []
        for alias, n in d.items():
            m = fb.TensorMapT()
            m.name, m.tensorIndex = alias, index[n]
            out.append(m)
        return out

    sig = fb.SignatureDefT()
    sig.signatureKey, sig.inputs, sig.outputs, sig.subgraphIndex = key, maps(ins), maps(outs), 0
    return sig


def save_tflite(graph: Graph, path: str | Path) -> Path:
    """Write the graph to ``path`` atomically (edgeq.fileio.write_atomic)."""
    from edgeq.fileio import write_atomic

    data = write_tflite(graph)  # serialize first: an error here leaves nothing behind
    return write_atomic(path, data, ModelError)


def graph_io_signature(graph: Graph) -> dict[str, list[tuple[str, tuple[int, ...], str]]]:
    """{'inputs': [(name, shape, dtype)], 'outputs': [...]} of a graph, for callers that feed or check data."""
    def one(n):
        t = graph.tensors[n]
        return n, t.shape, t.dtype
    return {"inputs": [one(n) for n in graph.inputs], "outputs": [one(n) for n in graph.outputs]}
