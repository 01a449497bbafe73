"""ONNX → graph IR. The layout is decided once for the whole graph: every 4-D activation is NHWC, every
other rank keeps the ONNX order. Each ONNX tensor is bound to an IR tensor plus the permutation that
relates them (``ir = np.transpose(onnx, perm)``); an op that needs another layout asks for it and a
TRANSPOSE (or a RESHAPE when only size-1 axes move) is inserted once and cached, so transposes appear only
where the source really reorders data (Flatten of a 4-D tensor, Transpose, Softmax over a non-last axis).

Public entry: :func:`import_onnx`."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError, UnsupportedError
from .ir import Graph, Op, Tensor
from .onnx_prep import ONode, OnnxGraph, prepare

NHWC = (0, 2, 3, 1)


def canonical(rank: int) -> tuple[int, ...]:
    """The IR layout of an ONNX tensor of this rank: NCHW → NHWC for 4-D, unchanged otherwise."""
    return NHWC if rank == 4 else tuple(range(rank))


def inverse(perm) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def moves_data(shape, perm) -> bool:
    """False when transposing ``shape`` by ``perm`` only relocates size-1 axes (a RESHAPE does it)."""
    big = [p for p in perm if shape[p] != 1]
    return big != sorted(big)


def _layout_name(perm) -> str:
    if tuple(perm) == NHWC:
        return "nhwc"
    if tuple(perm) == tuple(range(len(perm))):
        return "nchw" if len(perm) == 4 else "rowmajor"
    return "perm" + "".join(map(str, perm))


class Converter:
    def __init__(self, og: OnnxGraph, label: str):
        self.og, self.label = og, label
        self.g = Graph(og.name)
        self.vals: dict[str, tuple[str, tuple[int, ...]]] = {}  # onnx name → (ir name, perm)
        self._cache: dict[tuple, str] = {}
        self.node: ONode | None = None

    # errors ----------------------------------------------------------------------------------------------
    def unsupported(self, what: str) -> UnsupportedError:
        n = self.node
        where = f"{n.op} node {n.name!r}" if n else "model"
        return UnsupportedError(f"{self.label}: {where}: {what}")

    def attr(self, key: str, default=None):
        return self.node.attrs.get(key, default)

    # ONNX-side queries ----------------------------------------------------------------------------------
    def shape(self, name: str) -> tuple[int, ...]:
        name = self.og.resolve(name)
        if name not in self.og.shapes:
            raise ModelError(f"{self.label}: cannot infer the shape of tensor {name!r}")
        return self.og.shapes[name]

    def const(self, name: str | None) -> np.ndarray | None:
        if not name:
            return None
        return self.og.consts.get(self.og.resolve(name))

    def need_const(self, name: str, what: str) -> np.ndarray:
        v = self.const(name)
        if v is None:
            raise self.unsupported(f"{what} ({name!r}) must be a constant")
        return v

    def input(self, k: int) -> str | None:
        ins = self.node.inputs
        return ins[k] if k < len(ins) and ins[k] else None

    # IR construction --------------------------------------------------------------------------------
    def add_const(self, base: str, data) -> str:
        data = np.asarray(data)
        if data.dtype.kind == "f":
            data = data.astype(np.float32)
        elif data.dtype == np.int64:
            data = data.astype(np.int32)
        return self.g.add_const(base, np.ascontiguousarray(data)).name

    def new_tensor(self, base: str, shape, dtype="float32") -> str:
        return self.g.add_tensor(Tensor(base, tuple(shape), dtype)).name

    def emit(self, type_: str, inputs, outputs, **options) -> Op:
        return self.g.add_op(Op(type_, list(inputs), list(outputs), options, self.node.name if self.node else ""))

    def ir_shape(self, name: str) -> tuple[int, ...]:
        return self.g.tensors[name].shape

    def output(self, k: int = 0, perm=None, shape=None) -> str:
        """Create the IR tensor for ONNX output ``k`` of the current node, in layout ``perm``."""
        oname = self.node.outputs[k]
        oshape = tuple(shape) if shape is not None else self.shape(oname)
        perm = canonical(len(oshape)) if perm is None else tuple(perm)
        dtype = self.og.dtypes.get(oname, np.dtype(np.float32))
        ir = self.new_tensor(oname, [oshape[p] for p in perm], str(np.dtype(dtype)))
        self.vals[oname] = (ir, perm)
        return ir

    def bind(self, onnx_name: str, ir_name: str, perm) -> None:
        self.vals[onnx_name] = (ir_name, tuple(perm))

    # layout -------------------------------------------------------------------------------------------
    def layout_of(self, name: str) -> tuple[int, ...]:
        name = self.og.resolve(name)
        if name in self.vals:
            return self.vals[name][1]
        return canonical(len(self.shape(name)))

    def get(self, name: str, perm=None) -> str:
        """The IR tensor holding ONNX tensor ``name`` in layout ``perm`` (default: canonical)."""
        name = self.og.resolve(name)
        shape = self.shape(name)
        perm = canonical(len(shape)) if perm is None else tuple(perm)
        c = self.const(name)
        if c is not None:
            key = ("const", name, perm)
            if key not in self._cache:
                self._cache[key] = self.add_const(name, np.transpose(c, perm) if c.ndim else c)
            return self._cache[key]
        if name not in self.vals:
            raise ModelError(f"{self.label}: tensor {name!r} is used before it is produced")
        ir, have = self.vals[name]
        if have == perm:
            return ir
        key = ("layout", name, perm)
        if key not in self._cache:
            inv = inverse(have)
            rel = tuple(inv[perm[i]] for i in range(len(perm)))  # ir_have → ir_want
            self._cache[key] = self.relayout(ir, rel, f"{name}_{_layout_name(perm)}")
        return self._cache[key]

    def relayout(self, ir: str, rel, base: str) -> str:
        shape = self.ir_shape(ir)
        out_shape = [shape[r] for r in rel]
        out = self.new_tensor(base, out_shape, self.g.tensors[ir].dtype)
        if moves_data(shape, rel):
            self.emit("TRANSPOSE", [ir, self.add_const(f"{base}/perm", np.asarray(rel, np.int32))], [out])
        else:
            self.reshape_op(ir, out, out_shape)
        return out

    def reshape_op(self, src: str, dst: str, shape) -> Op:
        shp = self.add_const(f"{dst}/shape", np.asarray(shape, np.int32))
        return self.emit("RESHAPE", [src, shp], [dst], new_shape=[int(d) for d in shape])

    def const_bcast(self, base: str, value, rank: int, perm) -> str:
        """A new constant from ONNX-layout ``value`` broadcast to ``rank`` and laid out as ``perm``
        (a scalar stays a scalar)."""
        value = np.asarray(value)
        if value.ndim == 0:
            return self.add_const(base, value)
        full = value.reshape((1,) * (rank - value.ndim) + value.shape)
        return self.add_const(base, np.transpose(full, perm))

    def get_bcast(self, name: str, rank: int, perm) -> str:
        """``name`` broadcast (numpy rules: prefixed by 1s) to ``rank`` and laid out as ``perm``."""
        name = self.og.resolve(name)
        shape = self.shape(name)
        if len(shape) == rank:
            return self.get(name, perm)
        full = (1,) * (rank - len(shape)) + tuple(shape)
        c = self.const(name)
        if c is not None:
            key = ("const", name, tuple(perm), rank)
            if key not in self._cache:
                self._cache[key] = self.const_bcast(name, c, rank, perm)
            return self._cache[key]
        key = ("bcast", name, rank, tuple(perm))
        if key not in self._cache:
            flat = self.get(name, tuple(range(len(shape))))
            out_shape = [full[p] for p in perm]
            if moves_data(full, perm):
                mid = self.new_tensor(f"{name}_r{rank}", full)
                self.reshape_op(flat, mid, full)
                self._cache[key] = self.relayout(mid, perm, f"{name}_b{rank}")
            else:
                out = self.new_tensor(f"{name}_b{rank}", out_shape)
                self.reshape_op(flat, out, out_shape)
                self._cache[key] = out
        return self._cache[key]

    def _swap_names(self, a: str, b: str) -> None:
        g = self.g
        ta, tb = g.tensors.pop(a), g.tensors.pop(b, None)
        ta.name, g.tensors[b] = b, ta
        if tb is not None:
            tb.name, g.tensors[a] = a, tb
        swap = {a: b, b: a}
        for op in g.ops:
            op.inputs = [swap.get(i, i) for i in op.inputs]
            op.outputs = [swap.get(o, o) for o in op.outputs]
        for k, (ir, perm) in self.vals.items():
            self.vals[k] = (swap.get(ir, ir), perm)
        self._cache = {k: swap.get(v, v) for k, v in self._cache.items()}

    # driver --------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        from .onnx_ops import HANDLERS

        og, g = self.og, self.g
        for name in og.inputs:
            shape = self.shape(name)
            dt = og.dtypes.get(name, np.dtype(np.float32))
            if dt != np.float32:
                raise UnsupportedError(f"{self.label}: input {name!r} is {dt}; edgeq imports float32 inputs")
            perm = canonical(len(shape))
            ir = self.new_tensor(name, [shape[p] for p in perm])
            self.vals[name] = (ir, perm)
            g.inputs.append(ir)
            if len(shape) == 4:
                g.input_perm[ir] = NHWC
        for node in og.nodes:
            self.node = node
            if node.domain not in ("", "ai.onnx"):
                raise self.unsupported(f"custom domain {node.domain!r} is not supported")
            handler = HANDLERS.get(node.op)
            if handler is None:
                raise UnsupportedError(f"{self.label}: unsupported op {node.op} (node {node.name!r})")
            for i in node.inputs:
                if i and self.const(i) is None and og.dtypes.get(og.resolve(i), np.dtype(np.float32)) != np.float32:
                    raise self.unsupported(f"input {i!r} has type {og.dtypes[og.resolve(i)]}; only float32 activations")
            handler(self, node)
        self.node = None
        for name in og.outputs:
            r = og.resolve(name)
            if self.const(r) is not None or r not in self.vals:
                raise UnsupportedError(f"{self.label}: output {name!r} is a constant or is never computed")
            shape = self.shape(r)
            ir = self.get(r)
            if ir != name and ir not in g.inputs and name not in g.inputs and name not in g.outputs:
                self._swap_names(ir, name)  # the output keeps its ONNX name even after a relayout or alias
                ir = name
            if ir in g.outputs:  # the same tensor listed twice: give the second its own copy
                copy = self.new_tensor(name, self.ir_shape(ir))
                self.reshape_op(ir, copy, self.ir_shape(ir))
                ir = copy
            g.outputs.append(ir)
            if len(shape) == 4:
                g.output_perm[ir] = inverse(NHWC)
        return g


def import_onnx(src, *, label: str | None = None) -> Graph:
    """Import an ONNX model (path, bytes or ``onnx.ModelProto``) into the NHWC graph IR.

    4-D image inputs become NHWC: feed ``np.transpose(x_nchw, graph.input_perm[name])``; 4-D outputs come
    back NHWC and ``np.transpose(y, graph.output_perm[name])`` restores NCHW. BatchNormalization is folded
    into the Conv/Gemm before it, and a Relu/Clip(0,6) into its producer's fused activation.
    Raises ModelError / UnsupportedError with a one-line message naming the file (``label`` when the model
    is given as bytes), node or tensor."""
    from .onnx_fuse import finalize

    og, label = prepare(src, label)
    g = Converter(og, label).run()
    finalize(g)
    g.metadata["source_format"] = "onnx"
    g.metadata["source_layout"] = "NCHW" if g.input_perm else "unchanged"
    try:
        g.validate()
    except ValueError as e:  # an importer bug, not a user error; still report it in one line
        raise ModelError(f"{label}: import produced an invalid graph: {e}") from None
    return g
