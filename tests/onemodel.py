"""Builds one-op .tflite models for kernel tests, and runs them through LiteRT's reference kernels.

    from onemodel import spec, build_op_model, run_reference
    model = build_op_model(
        "CONV_2D",
        inputs=[spec([1, 8, 8, 3], scale=0.02, zero_point=-5),
                spec([4, 3, 3, 3], scale=[0.01, 0.02, 0.03, 0.04], axis=0, data=w),   # constant
                spec([4], "int32", scale=[...], data=b)],
        outputs=[spec([1, 8, 8, 4], scale=0.05, zero_point=3)],
        options={"padding": "SAME", "stride_w": 1, "stride_h": 1, "fused_activation_function": "RELU"})
    (y,) = run_reference(model, x)
    assert_bit_exact(model, [x])      # runtime_c's outputs must equal LiteRT's byte for byte

A spec with `data` becomes a constant tensor (its own buffer); one without data becomes a subgraph input
(when listed in `inputs`) or output. `None` in `inputs` is an absent optional input (index -1). Option keys
are the schema's field names in snake_case; enum options are given by name ("SAME", "RELU6").
Models follow the converter's layout: schema version 3, identifier TFL3, buffer 0 the empty sentinel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_DTYPES = {
    "float32": (fb.TensorType.FLOAT32, np.float32),
    "float16": (fb.TensorType.FLOAT16, np.float16),
    "int32": (fb.TensorType.INT32, np.int32),
    "uint8": (fb.TensorType.UINT8, np.uint8),
    "int64": (fb.TensorType.INT64, np.int64),
    "bool": (fb.TensorType.BOOL, np.bool_),
    "int16": (fb.TensorType.INT16, np.int16),
    "int8": (fb.TensorType.INT8, np.int8),
}

# Builtin options table per op, for the ops whose options class is not <OpCamel>Options.
_OPTIONS_NAME = {
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "PADV2": "PadV2Options",
}

# Ops that take no options table at all.
_NO_OPTIONS = {"LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "PRELU"}

# Enum-valued option fields and their enum classes.
_ENUM_FIELDS = {
    "padding": fb.Padding,
    "fused_activation_function": fb.ActivationFunctionType,
    "weights_format": fb.FullyConnectedOptionsWeightsFormat,
    "quantized_bias_type": fb.TensorType,
}


@dataclass
class TensorSpec:
    shape: Sequence[int]
    dtype: str = "int8"
    scale: float | Sequence[float] | None = None  # None: no quantization
    zero_point: int | Sequence[int] = 0
    axis: int = 0                                  # quantized_dimension for per-channel params
    data: Any = None                               # constant data (array-like), None for activations
    name: str | None = None


def spec(shape, dtype="int8", scale=None, zero_point=0, axis=0, data=None, name=None) -> TensorSpec:
    return TensorSpec(list(shape), dtype, scale, zero_point, axis, data, name)


def _as_spec(s) -> TensorSpec | None:
    if s is None or isinstance(s, TensorSpec):
        return s
    if isinstance(s, dict):
        return TensorSpec(**s)
    raise TypeError(f"tensor spec must be a TensorSpec, dict or None, got {type(s).__name__}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _options_class_name(op: str) -> str:
    if op in _OPTIONS_NAME:
        return _OPTIONS_NAME[op]
    return "".join(w.capitalize() for w in op.split("_")) + "Options"


def _options(op: str, options: dict):
    if op in _NO_OPTIONS and not options:
        return 0, None
    cname = _options_class_name(op)
    cls = getattr(fb, cname + "T", None)
    if cls is None:
        if options:
            raise ValueError(f"{op}: no options table {cname} in the schema")
        return 0, None
    obj = cls()
    for key, value in options.items():
        attr = _camel(key)
        if not hasattr(obj, attr):
            raise ValueError(f"{op}: {cname} has no field {key!r}")
        if key in _ENUM_FIELDS and isinstance(value, str):
            value = getattr(_ENUM_FIELDS[key], value)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        setattr(obj, attr, value)
    return getattr(fb.BuiltinOptions, cname), obj


def _quant(s: TensorSpec):
    if s.scale is None:
        return None
    q = fb.QuantizationParametersT()
    scales = np.atleast_1d(np.asarray(s.scale, dtype=np.float32))
    zps = np.atleast_1d(np.asarray(s.zero_point, dtype=np.int64))
    if zps.size == 1 and scales.size > 1:
        zps = np.repeat(zps, scales.size)
    q.scale = [float(v) for v in scales]
    q.zeroPoint = [int(v) for v in zps]
    q.quantizedDimension = int(s.axis)
    return q


def build_op_model(op: str, inputs: Sequence, outputs: Sequence, options: dict | None = None,
                   version: int = 1) -> bytes:
    """A model with one operator `op` (a BuiltinOperator name). Returns the .tflite bytes."""
    options = dict(options or {})
    code = getattr(fb.BuiltinOperator, op)
    model = fb.ModelT()
    model.version = 3
    model.description = f"edgeq one-op test model: {op}"
    opcode = fb.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, 127)  # 127 = PLACEHOLDER_FOR_GREATER_OP_CODES
    opcode.version = version
    model.operatorCodes = [opcode]

    buffers = [fb.BufferT()]  # buffer 0: the empty sentinel
    tensors = []
    sg_inputs, sg_outputs = [], []

    def add_tensor(s: TensorSpec, default_name: str) -> int:
        t = fb.TensorT()
        t.shape = [int(d) for d in s.shape]
        if s.dtype not in _DTYPES:
            raise ValueError(f"{op}: unknown dtype {s.dtype!r}")
        t.type, np_dtype = _DTYPES[s.dtype]
        t.name = s.name or default_name
        t.quantization = _quant(s)
        b = fb.BufferT()
        if s.data is not None:
            arr = np.asarray(s.data, dtype=np_dtype)
            if list(arr.shape) != list(t.shape) and arr.size != int(np.prod(t.shape, dtype=np.int64)):
                raise ValueError(f"{op}: tensor {t.name} data has {arr.size} elements for shape {t.shape}")
            b.data = np.frombuffer(arr.astype(arr.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
        t.buffer = len(buffers)
        buffers.append(b)
        tensors.append(t)
        return len(tensors) - 1

    op_inputs = []
    for i, s in enumerate(inputs):
        s = _as_spec(s)
        if s is None:
            op_inputs.append(-1)
            continue
        idx = add_tensor(s, f"input{i}" if s.data is None else f"const{i}")
        op_inputs.append(idx)
        if s.data is None:
            sg_inputs.append(idx)
    op_outputs = []
    for i, s in enumerate(outputs):
        s = _as_spec(s)
        idx = add_tensor(s, f"output{i}")
        op_outputs.append(idx)
        sg_outputs.append(idx)

    operator = fb.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs = op_inputs
    operator.outputs = op_outputs
    operator.builtinOptionsType, operator.builtinOptions = _options(op, options)

    sg = fb.SubGraphT()
    sg.tensors = tensors
    sg.inputs = sg_inputs
    sg.outputs = sg_outputs
    sg.operators = [operator]
    sg.name = "main"
    model.subgraphs = [sg]
    model.buffers = buffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_reference(model: bytes, *inputs: np.ndarray) -> list[np.ndarray]:
    """Runs `model` with LiteRT's reference kernels (the bit-exactness oracle); returns its outputs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    details = it.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"model takes {len(details)} inputs, got {len(inputs)}")
    for d, x in zip(details, inputs):
        it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]



def assert_bit_exact(model: bytes, inputs) -> list[np.ndarray]:
    """Runs `model` in runtime_c and in LiteRT's reference kernels; every output must match in dtype, shape
    and every byte. Returns the reference outputs."""
    from edgeq import runtime

    ref = run_reference(model, *inputs)
    got = runtime.Interpreter(model).run(*inputs)
    got = [got] if isinstance(got, np.ndarray) else list(got)
    assert len(got) == len(ref)
    for k, (r, g) in enumerate(zip(ref, got)):
        g = np.asarray(g)
        assert g.dtype == r.dtype, f"output {k}: dtype {g.dtype} != {r.dtype}"
        assert tuple(g.shape) == tuple(r.shape), f"output {k}: shape {g.shape} != {r.shape}"
        if g.tobytes() != r.tobytes():
            diff = np.abs(g.astype(np.float64) - r.astype(np.float64))
            raise AssertionError(f"output {k}: {int((diff > 0).sum())}/{r.size} values differ, "
                                 f"max |diff| {diff.max()}")
    return ref
