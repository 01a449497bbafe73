"""Sizes for the low-bit report: each layer's weight bytes as written (INT4 packed two a byte, bias
included) and the arena runtime_c's reference build needs for the model (what a microcontroller
allocates), so a reader sees what each precision costs beside what it keeps."""
from __future__ import annotations

from edgeq.model.ir import Graph


def layer_weight_bytes(g: Graph) -> dict[str, int]:
    """Output tensor name -> bytes of the constant inputs (weights, bias) of the op producing it."""
    out = {}
    for op in g.ops:
        consts = {n for n in op.inputs if n is not None and g.tensors[n].is_const}
        if op.outputs and consts:
            out[op.outputs[0]] = sum(g.tensors[n].nbytes for n in consts)
    return out


def runtime_arena(model: bytes) -> int | None:
    """Bytes of arena runtime_c's reference (microcontroller) build needs, as `edgeq analyze` reports it,
    or None when it cannot load the model (an op it has no kernel for, or the host library not built).
    Only the reference build is initialised: analyze() would also plan the host build, for nothing here."""
    from edgeq.introspect import RuntimeView

    try:
        return int(RuntimeView(model, "ref", "<model bytes>").arena_bytes)
    except Exception:  # noqa: BLE001 - any model runtime_c cannot load has no arena figure
        return None


def add_sizes(d: dict, g: Graph, model: bytes) -> dict:
    """The report dict with ``weight_bytes`` on every layer row and ``sizes.arena`` filled in."""
    wb = layer_weight_bytes(g)
    for row in d.get("layers", []):
        row["weight_bytes"] = wb.get(row["tensor"], 0)
    d.setdefault("sizes", {})["arena"] = runtime_arena(model)
    return d
