"""Tables between the TFLite schema (ai_edge_litert's generated object API) and the IR's conventions:
op names, tensor types, and builtin options as snake_case dicts with enums stored as their names.

The options mapping is generic: every *OptionsT class is introspected, so ops edgeq never executes
still round-trip through read and write."""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from ai_edge_litert import schema_py_generated as fb

from edgeq.errors import UnsupportedError


def _enum_members(cls) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


OP_CODES: dict[str, int] = _enum_members(fb.BuiltinOperator)
OP_NAMES: dict[int, str] = {v: k for k, v in OP_CODES.items()}
# Codes above this live only in builtin_code; deprecated_builtin_code then holds the placeholder.
PLACEHOLDER_CODE = OP_CODES["PLACEHOLDER_FOR_GREATER_OP_CODES"]

# TensorType <-> numpy dtype name ("int4" is the IR's name for packed 4-bit integers).
_TYPE_TO_DTYPE = {
    "FLOAT32": "float32", "FLOAT16": "float16", "FLOAT64": "float64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "BOOL": "bool", "COMPLEX64": "complex64", "COMPLEX128": "complex128", "INT4": "int4",
}
TENSOR_TYPES: dict[str, int] = _enum_members(fb.TensorType)
TYPE_NAMES: dict[int, str] = {v: k for k, v in TENSOR_TYPES.items()}
DTYPE_TO_TYPE: dict[str, int] = {d: TENSOR_TYPES[t] for t, d in _TYPE_TO_DTYPE.items()}


def dtype_of(type_code: int, where: str) -> str:
    name = TYPE_NAMES.get(type_code)
    if name not in _TYPE_TO_DTYPE:
        raise UnsupportedError(f"{where}: tensor type {name or type_code} is not supported")
    return _TYPE_TO_DTYPE[name]


def type_of(dtype: str, where: str) -> int:
    if dtype not in DTYPE_TO_TYPE:
        raise UnsupportedError(f"{where}: dtype {dtype!r} has no TFLite tensor type")
    return DTYPE_TO_TYPE[dtype]


# Option fields whose integers are schema enums (stored in the IR as the member's name).
_ENUM_FIELDS = {
    "padding": fb.Padding,
    "fusedActivationFunction": fb.ActivationFunctionType,
    "weightsFormat": fb.FullyConnectedOptionsWeightsFormat,
    "kernelType": fb.LSTMKernelType,
    "combiner": fb.CombinerType,
    "mode": fb.MirrorPadMode,
    "reduceFunction": fb.ReduceWindowFunction,
    "quantizedBiasType": fb.TensorType,
    "inDataType": fb.TensorType,
    "outDataType": fb.TensorType,
    "outputType": fb.TensorType,
    "outType": fb.TensorType,
    "idxOutType": fb.TensorType,
    "keyDtype": fb.TensorType,
    "valueDtype": fb.TensorType,
}
_LSH_TYPE = {"LSHProjectionOptions": fb.LSHProjectionType}  # its enum field is called plain "type"

# Ops whose options table is not named after the op.
_OPTIONS_OVERRIDES = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions", "RANDOM_UNIFORM": "RandomOptions", "MULTINOMIAL": "RandomOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions",
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=None)
def options_kind(op_type: str) -> tuple[int, str | None, int]:
    """(1 or 2 for builtin_options / builtin_options_2, union member name or None, union code)."""
    unions = ((1, fb.BuiltinOptions), (2, fb.BuiltinOptions2))
    wanted = _OPTIONS_OVERRIDES.get(op_type)
    for which, union in unions:
        members = _enum_members(union)
        if wanted in members:
            return which, wanted, members[wanted]
        by_norm = {m[: -len("Options")].lower(): m for m in members if m.endswith("Options")}
        m = by_norm.get(op_type.replace("_", "").lower())
        if m is not None:
            return which, m, members[m]
    return 1, None, 0


@lru_cache(maxsize=None)
def _fields(options_name: str) -> dict[str, str]:
    """snake_case key -> attribute name of the *OptionsT class."""
    obj = getattr(fb, options_name + "T")()
    return {snake(a): a for a in vars(obj)}


def _enum_for(options_name: str, attr: str):
    if attr == "type" and options_name in _LSH_TYPE:
        return _LSH_TYPE[options_name]
    return _ENUM_FIELDS.get(attr)


@lru_cache(maxsize=None)
def _enum_names(enum) -> dict[int, str]:
    return {val: k for k, val in _enum_members(enum).items()}


def options_to_dict(obj, options_name: str) -> dict:
    out = {}
    for key, attr in _fields(options_name).items():
        v = getattr(obj, attr)
        enum = _enum_for(options_name, attr)
        if enum is not None and isinstance(v, (int, np.integer)):
            v = _enum_names(enum).get(int(v), int(v))
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, (np.integer, np.floating, np.bool_)):
            v = v.item()
        if v is not None:  # None marks an absent vector/string field
            out[key] = v
    return out


def dict_to_options(options: dict, options_name: str, where: str):
    obj = getattr(fb, options_name + "T")()
    fields = _fields(options_name)
    for key, v in options.items():
        attr = fields.get(key)
        if attr is None:
            raise UnsupportedError(f"{where}: option {key!r} is not a field of {options_name} "
                                   f"(fields: {', '.join(fields)})")
        enum = _enum_for(options_name, attr)
        if enum is not None and isinstance(v, str):
            members = _enum_members(enum)
            if v not in members:
                raise UnsupportedError(f"{where}: option {key}={v!r} is not one of {', '.join(members)}")
            v = members[v]
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        setattr(obj, attr, v)
    return obj
