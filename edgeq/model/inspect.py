"""`edgeq inspect`: a plain, JSON-ready description of a graph, and its rendering as rich tables."""
from __future__ import annotations

from collections import Counter

import numpy as np

from edgeq.model.ir import Graph, QuantParams, Tensor

_SHOWN_OPTIONS = ("padding", "stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor", "depth_multiplier",
                  "filter_height", "filter_width", "fused_activation_function", "keep_num_dims", "keep_dims",
                  "axis", "beta", "alpha", "perm", "squeeze_dims", "new_shape", "adj_x", "adj_y")
_DEFAULTS = {"dilation_h_factor": 1, "dilation_w_factor": 1, "fused_activation_function": "NONE",
             "keep_num_dims": False, "keep_dims": False, "adj_x": False, "adj_y": False}


def _quant(q: QuantParams | None) -> dict | None:
    if q is None:
        return None
    if not q.per_channel:
        return {"per_channel": False, "scale": float(q.scale[0]), "zero_point": int(q.zero_point[0])}
    zps = np.unique(q.zero_point)
    return {"per_channel": True, "axis": int(q.axis), "channels": int(q.scale.size),
            "scale_min": float(q.scale.min()), "scale_max": float(q.scale.max()),
            "zero_point": int(zps[0]) if zps.size == 1 else [int(z) for z in q.zero_point]}


def _tensor(t: Tensor) -> dict:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "kind": "const" if t.is_const else "activation",
            "bytes": int(t.nbytes), "quant": _quant(t.quant)}


def _layout_notes(g: Graph) -> list[str]:
    notes = []
    for name in g.inputs:
        perm = g.input_perm.get(name)
        rank = len(g.tensors[name].shape)
        if perm is not None and tuple(perm) != tuple(range(rank)):
            src = "NCHW" if tuple(perm) == (0, 2, 3, 1) else f"source layout (perm {list(perm)})"
            lay = "NHWC" if rank == 4 else f"rank {rank}"
            notes.append(f"input {name!r} is {lay} (source was {src}): feed np.transpose(x, {list(perm)})")
    for name in g.outputs:
        perm = g.output_perm.get(name)
        if perm is not None and tuple(perm) != tuple(range(len(perm))):
            notes.append(f"output {name!r} is in the graph's layout: np.transpose(y, {list(perm)}) gives the source's")
    if not notes:
        notes.append("inputs and outputs are used as stored (NHWC for images)")
    return notes


def describe(graph: Graph) -> dict:
    """Everything `edgeq inspect` shows, as plain Python values (JSON-serializable)."""
    used = set(graph.inputs) | set(graph.outputs) | {n for op in graph.ops for n in op.inputs + op.outputs if n}
    tensors = [graph.tensors[n] for n in graph.tensors if n in used]
    consts = [t for t in tensors if t.is_const]
    acts = [t for t in tensors if not t.is_const]
    ops = []
    for i, op in enumerate(graph.ops):
        ops.append({"index": i, "type": op.type, "inputs": list(op.inputs), "outputs": list(op.outputs),
                    "options": {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in op.options.items()}})
    dtypes = Counter(t.dtype for t in consts)
    return {
        "name": graph.name,
        "inputs": [_tensor(graph.tensors[n]) for n in graph.inputs],
        "outputs": [_tensor(graph.tensors[n]) for n in graph.outputs],
        "layout": _layout_notes(graph),
        "ops": ops,
        "tensors": [_tensor(t) for t in tensors],
        "totals": {
            "ops": len(graph.ops),
            "op_counts": dict(Counter(op.type for op in graph.ops).most_common()),
            "tensors": len(tensors),
            "weight_bytes": int(sum(t.nbytes for t in consts)),
            "weight_bytes_by_dtype": {k: int(sum(t.nbytes for t in consts if t.dtype == k)) for k in sorted(dtypes)},
            "parameters": int(sum(t.size for t in consts)),
            "activation_bytes": int(sum(t.nbytes for t in acts)),
            "largest_activation_bytes": int(max((t.nbytes for t in acts), default=0)),
            "quantized": any(t.quant is not None for t in acts),
        },
        "metadata": {k: v for k, v in graph.metadata.items() if not k.startswith("tflite.")},
    }


def _fmt_quant(q: dict | None) -> tuple[str, str]:
    if q is None:
        return "", ""
    if not q["per_channel"]:
        return f"{q['scale']:.6g}", str(q["zero_point"])
    zp = q["zero_point"] if isinstance(q["zero_point"], int) else "per-channel"
    return f"{q['scale_min']:.3g}..{q['scale_max']:.3g} ({q['channels']} ch, axis {q['axis']})", str(zp)


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fmt_options(opts: dict) -> str:
    parts = []
    for k in _SHOWN_OPTIONS:
        if k in opts and _DEFAULTS.get(k, object()) != opts[k]:
            parts.append(f"{k}={opts[k]}")
    return " ".join(parts)


def render(desc: dict, console, *, tensors: bool = True) -> None:
    """Print a description from ``describe`` as rich tables on ``console`` (a rich.console.Console)."""
    from rich.table import Table

    t = desc["totals"]
    console.print(f"[bold]{desc['name']}[/bold]: {t['ops']} ops, {t['tensors']} tensors, "
                  f"weights {_fmt_bytes(t['weight_bytes'])} ({t['parameters']} parameters), "
                  f"largest activation {_fmt_bytes(t['largest_activation_bytes'])}"
                  + (", quantized" if t["quantized"] else ", float"))
    console.print("op counts: " + ", ".join(f"{k}×{v}" for k, v in t["op_counts"].items()))

    io = Table(title="inputs / outputs", show_lines=False)
    for col in ("", "name", "shape", "dtype", "scale", "zero point"):
        io.add_column(col)
    for kind in ("inputs", "outputs"):
        for x in desc[kind]:
            s, z = _fmt_quant(x["quant"])
            io.add_row(kind[:-1], x["name"], str(x["shape"]), x["dtype"], s, z)
    console.print(io)
    for note in desc["layout"]:
        console.print(f"layout: {note}")

    # converter tensor names run to hundreds of characters: ops refer to tensors by id (t<k>) and shape
    info = {x["name"]: (f"t{k}", x) for k, x in enumerate(desc["tensors"])}

    def ref(name):
        if name is None:
            return "-"
        tid, x = info[name]
        return f"{tid} {'x'.join(map(str, x['shape'])) or 'scalar'} {x['dtype']}"

    ops = Table(title="ops")
    for col in ("#", "op", "inputs", "outputs", "options"):
        ops.add_column(col, overflow="fold")
    for op in desc["ops"]:
        ops.add_row(str(op["index"]), op["type"], "\n".join(ref(i) for i in op["inputs"]),
                    "\n".join(ref(o) for o in op["outputs"]), _fmt_options(op["options"]))
    console.print(ops)

    if tensors:
        tt = Table(title="tensors")
        for col in ("id", "name", "kind", "shape", "dtype", "bytes", "scale", "zero point"):
            tt.add_column(col, overflow="fold")
        for tid, x in info.values():
            s, z = _fmt_quant(x["quant"])
            tt.add_row(tid, _short(x["name"]), x["kind"], str(x["shape"]), x["dtype"], str(x["bytes"]), s, z)
        console.print(tt)


def _short(name: str, width: int = 48) -> str:
    if len(name) <= width:
        return name
    half = (width - 1) // 2
    return name[:half] + "…" + name[-half:]
