"""The registry the float executor dispatches through, and helpers shared by the op families."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph, Op


@dataclass
class Ctx:
    """What a kernel sees: the op, its input values (None for absent optional inputs), the graph (for
    output shapes and quant params) and the batch size when several samples run stacked on axis 0."""

    op: Op
    args: list
    graph: Graph
    batch: int | None = None

    @property
    def opt(self) -> dict:
        return self.op.options

    def out_tensor(self, k: int = 0):
        return self.graph.tensors[self.op.outputs[k]]

    def where(self) -> str:
        return f"{self.op} -> {self.op.outputs[0] if self.op.outputs else '?'}"


KERNELS: dict[str, Callable[[Ctx], np.ndarray | list]] = {}


def kernel(*types: str):
    def register(fn):
        for t in types:
            KERNELS[t] = fn
        return fn
    return register


def fused(x: np.ndarray, act: str | None, where: str = "") -> np.ndarray:
    """Apply a fused activation in place where possible."""
    if act in (None, "NONE"):
        return x
    if act == "RELU":
        return np.maximum(x, 0, out=x)
    if act == "RELU6":
        return np.clip(x, 0, 6, out=x)
    if act == "RELU_N1_TO_1":
        return np.clip(x, -1, 1, out=x)
    # TANH / SIGN_BIT are schema values LiteRT's float kernels silently ignore: refuse rather than guess
    raise UnsupportedError(f"{where}: fused activation {act} is not supported")


def const_int_list(v, where: str, what: str) -> list[int]:
    if v is None:
        raise UnsupportedError(f"{where}: {what} must be a constant input")
    return [int(i) for i in np.asarray(v).ravel()]


def batched_shape(shape: tuple[int, ...], size: int, batch: int | None) -> tuple[int, ...]:
    """The graph's static shape, scaled on axis 0 when ``batch`` samples are stacked there."""
    shape = tuple(shape)
    if batch and batch > 1 and shape and int(np.prod(shape)) * batch == size:
        return (shape[0] * batch,) + shape[1:]
    return shape
