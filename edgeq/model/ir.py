"""The graph IR every part of edgeq works on: tensors, ops and their quantization, with TFLite semantics.

Conventions (fixed here once, relied on everywhere):
- Layout is NHWC. CONV_2D filters are OHWI, DEPTHWISE_CONV_2D filters are [1, H, W, C*M],
  FULLY_CONNECTED weights are [out, in]. The importers convert other layouts into these.
- ``Op.type`` is the TFLite builtin operator name (``"CONV_2D"``, ``"ADD"``, ...).
- ``Op.options`` holds the TFLite builtin options as snake_case keys of the schema's fields
  (``stride_w``, ``padding``, ``fused_activation_function``, ``depth_multiplier``, ``keep_num_dims``...).
  Enum values are stored as their schema names: ``padding`` is ``"SAME"``/``"VALID"``,
  ``fused_activation_function`` is ``"NONE"``/``"RELU"``/``"RELU6"``/``"RELU_N1_TO_1"``/``"TANH"``.
- ``Op.inputs`` are tensor names; ``None`` marks an absent optional input (TFLite's -1).
- ``Tensor.dtype`` is a numpy dtype name (``"float32"``, ``"int8"``, ``"int32"``...), or ``"int4"`` for packed
  4-bit weights, whose ``data`` is kept unpacked as an int8 array of values in [-8, 7] (packing happens in the writer).
- ``Tensor.data`` is set for constants (weights, biases, shape vectors) and ``None`` for activations.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")


@dataclass
class QuantParams:
    """Affine quantization R = scale * (Q - zero_point); per-tensor when ``scale`` has one entry."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0  # TFLite's quantized_dimension, meaningful when per-channel

    def __post_init__(self):
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))
        if self.zero_point.size == 1 and self.scale.size > 1:
            self.zero_point = np.repeat(self.zero_point, self.scale.size)

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    def broadcast_shape(self, ndim: int) -> tuple[int, ...]:
        """Shape that makes scale/zero_point broadcast against a tensor of rank ``ndim``."""
        if not self.per_channel:
            return (1,) * ndim
        shape = [1] * ndim
        shape[self.axis] = self.scale.size
        return tuple(shape)


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    data: np.ndarray | None = None
    quant: QuantParams | None = None

    def __post_init__(self):
        self.shape = tuple(int(d) for d in self.shape)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        if self.dtype == "int4":
            return (self.size + 1) // 2
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Op:
    type: str
    inputs: list[str | None]
    outputs: list[str]
    options: dict = field(default_factory=dict)
    name: str = ""  # where the op came from (ONNX node name, ...), for error messages

    def __str__(self) -> str:
        return f"{self.type}" + (f" ({self.name})" if self.name else "")


class Graph:
    """A single-subgraph model: named tensors, ops in execution order, graph inputs and outputs."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.metadata: dict[str, str] = {}
        # Layout bridges for models imported from NCHW sources (ONNX): data given in the source layout is
        # turned into the graph's layout with np.transpose(x, input_perm[name]); a graph output is turned
        # back into the source layout with np.transpose(y, output_perm[name]). Empty for .tflite sources.
        self.input_perm: dict[str, tuple[int, ...]] = {}
        self.output_perm: dict[str, tuple[int, ...]] = {}

    # construction -------------------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        if base not in self.tensors:
            return base
        i = 1
        while f"{base}_{i}" in self.tensors:
            i += 1
        return f"{base}_{i}"

    def add_tensor(self, tensor: Tensor, *, rename: bool = True) -> Tensor:
        if tensor.name in self.tensors:
            if not rename:
                raise ValueError(f"duplicate tensor name {tensor.name!r}")
            tensor.name = self.unique_name(tensor.name)
        self.tensors[tensor.name] = tensor
        return tensor

    def add_const(self, name: str, data: np.ndarray, quant: QuantParams | None = None) -> Tensor:
        data = np.asarray(data)
        return self.add_tensor(Tensor(name, data.shape, str(data.dtype), data, quant))

    def add_op(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    # queries ------------------------------------------------------------------------------------------
    def producer(self, name: str) -> Op | None:
        for op in self.ops:
            if name in op.outputs:
                return op
        return None

    def consumers(self, name: str) -> list[Op]:
        return [op for op in self.ops if name in op.inputs]

    def activations(self) -> list[str]:
        """Names of every non-constant tensor, graph inputs first, in execution order."""
        seen = list(self.inputs)
        for op in self.ops:
            for o in op.outputs:
                if o not in seen:
                    seen.append(o)
        return seen

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def validate(self) -> None:
        """Check that every op input exists and is defined before use (ops are in execution order)."""
        defined = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        for op in self.ops:
            for i in op.inputs:
                if i is None:
                    continue
                if i not in self.tensors:
                    raise ValueError(f"{op}: input tensor {i!r} does not exist")
                if i not in defined:
                    raise ValueError(f"{op}: input tensor {i!r} is used before it is produced")
            for o in op.outputs:
                if o not in self.tensors:
                    raise ValueError(f"{op}: output tensor {o!r} does not exist")
                defined.add(o)
        for o in self.outputs:
            if o not in defined:
                raise ValueError(f"graph output {o!r} is never produced")

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.ops)} ops, {len(self.tensors)} tensors)"
