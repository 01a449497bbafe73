"""Dynamic-range ("hybrid") quantization: int8 per-channel weights, float activations, no calibration.

CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weights become int8 symmetric per output channel (axis 0,
axis 3 for depthwise) with their float bias kept; the kernels quantize each input row on the fly.
FULLY_CONNECTED is written with asymmetric_quantize_inputs (per-row scale and zero point, as LiteRT's own
converter writes hybrid models). Everything else stays float. Weights smaller than ``min_elements`` stay
float (LiteRT's converter uses 1024: tiny layers gain nothing and lose accuracy).
"""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.model.ir import Graph
from edgeq.quantize import ptq
from edgeq.quantize import qparams as qp


def quantize_dynamic(graph: Graph, *, min_elements: int = 0, weight_clip: str = "minmax") -> Graph:
    """Hybrid copy of a float ``graph`` (weights int8 per channel, activations float)."""
    g = ptq._working_copy(graph)
    done: set[str] = set()
    for op in g.ops:
        if op.type not in ptq.WEIGHTED or len(op.inputs) < 2:
            continue
        w = g.tensors[op.inputs[1]]
        if not w.is_const or w.dtype != "float32" or w.size < min_elements or g.tensors[op.inputs[0]].dtype != "float32":
            continue
        if w.name not in done:
            wf = np.asarray(w.data, np.float32)
            q = qp.weight_qparams(wf, ptq.WEIGHTED[op.type], weight_clip)
            w.data, w.dtype, w.quant = qp.quantize_weights(wf, q), "int8", q
            done.add(w.name)
        if op.type == "FULLY_CONNECTED":
            op.options["asymmetric_quantize_inputs"] = True
    if not done:
        raise UnsupportedError(f"{graph.name}: no CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weights to quantize "
                               f"(dynamic range quantization has nothing to do)")
    g.validate()
    return g
