"""IR clean-up after ONNX import: fold a constant bias ADD into the FULLY_CONNECTED before it (torch's
MatMul+Add), fuse a ReLU/ReLU6/ReLU_N1_TO_1 into its producer, merge RESHAPE chains, drop dead ops
and tensors. Each rewrite needs the intermediate tensor to have one consumer and not be a graph output."""
from __future__ import annotations

import numpy as np

from .ir import Graph, Op

FUSABLE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL"}
ACT_OPS = {"RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}


def _single_use(g: Graph, name: str, consumers: dict) -> Op | None:
    users = consumers.get(name, [])
    if len(users) != 1 or name in g.outputs:
        return None
    return users[0]


def _consumers(g: Graph) -> dict[str, list[Op]]:
    out: dict[str, list[Op]] = {}
    for op in g.ops:
        for i in op.inputs:
            if i is not None:
                out.setdefault(i, []).append(op)
    return out


def _bypass(g: Graph, producer: Op, follower: Op) -> None:
    """Make ``producer`` write ``follower``'s output directly and remove ``follower``."""
    producer.outputs[0] = follower.outputs[0]
    g.ops.remove(follower)


def _fold_fc_bias(g: Graph) -> bool:
    cons = _consumers(g)
    for op in g.ops:
        if op.type != "FULLY_CONNECTED" or op.options.get("fused_activation_function", "NONE") != "NONE":
            continue
        add = _single_use(g, op.outputs[0], cons)
        if add is None or add.type != "ADD" or add.options.get("fused_activation_function", "NONE") != "NONE":
            continue
        other = add.inputs[1] if add.inputs[0] == op.outputs[0] else add.inputs[0]
        const, bias = g.tensors[other], g.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] else None
        n = g.tensors[op.inputs[1]].shape[0]
        if not const.is_const or bias is None or len(cons.get(bias.name, [])) != 1:
            continue
        if const.data.size not in (1, n) or (const.data.size == n and const.shape[-1] != n) or \
                g.tensors[add.outputs[0]].shape != g.tensors[op.outputs[0]].shape:
            continue
        bias.data = (bias.data + np.broadcast_to(const.data.reshape(-1), (n,))).astype(np.float32)
        op.options["fused_activation_function"] = add.options.get("fused_activation_function", "NONE")
        _bypass(g, op, add)
        return True
    return False


def _fuse_activation(g: Graph) -> bool:
    cons = _consumers(g)
    for act in g.ops:
        if act.type not in ACT_OPS:
            continue
        prod = g.producer(act.inputs[0])
        if prod is None or prod.type not in FUSABLE or prod.options.get("fused_activation_function") != "NONE":
            continue
        if _single_use(g, act.inputs[0], cons) is not act:
            continue
        prod.options["fused_activation_function"] = ACT_OPS[act.type]
        _bypass(g, prod, act)
        return True
    return False


def _merge_reshapes(g: Graph) -> bool:
    cons = _consumers(g)
    for op in g.ops:
        if op.type != "RESHAPE":
            continue
        nxt = _single_use(g, op.outputs[0], cons)
        if nxt is None or nxt.type != "RESHAPE":
            continue
        nxt.inputs[0] = op.inputs[0]
        g.ops.remove(op)
        return True
    return False


def _drop_noop_reshapes(g: Graph) -> None:
    """A RESHAPE to the shape it already has (after merging) is an alias, unless it feeds a graph output."""
    for op in list(g.ops):
        if op.type == "RESHAPE" and g.tensors[op.inputs[0]].shape == g.tensors[op.outputs[0]].shape \
                and op.outputs[0] not in g.outputs and op.inputs[0] not in g.inputs:
            src, dst = op.inputs[0], op.outputs[0]
            g.ops.remove(op)
            for other in g.ops:
                other.inputs = [src if i == dst else i for i in other.inputs]


def _prune(g: Graph) -> None:
    needed = set(g.outputs)
    live = []
    for op in reversed(g.ops):
        if any(o in needed for o in op.outputs):
            live.append(op)
            needed.update(i for i in op.inputs if i is not None)
    g.ops = live[::-1]
    used = set(g.inputs) | set(g.outputs) | {t for op in g.ops for t in op.inputs + op.outputs if t is not None}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}


def finalize(g: Graph) -> None:
    _prune(g)
    while _fold_fc_bias(g) or _fuse_activation(g) or _merge_reshapes(g):
        pass
    _drop_noop_reshapes(g)
    _prune(g)
