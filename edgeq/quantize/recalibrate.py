"""Activation ranges re-measured after the weights became INT4.

4-bit weights move every layer's output distribution (its mean is restored by bias correction, its spread
and tails are not), so ranges calibrated on the float model no longer fit. The float graph with the INT4
weights and corrected biases put back in as floats runs over the calibration samples again; the model is
then re-quantized with those ranges, keeping the INT4 values, scales and biases already chosen (Replay).
"""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Graph, Op, QuantParams
from edgeq.quantize import ptq
from edgeq.quantize.int4 import Rounded, float_weights, weighted_ops


def _chosen(float_graph: Graph, qgraph: Graph) -> dict[str, tuple[np.ndarray, QuantParams, np.ndarray]]:
    """weight name -> (INT4 values, their scales, the float bias the quantized model carries)."""
    out = {}
    for op in weighted_ops(qgraph):
        wt = qgraph.tensors[op.inputs[1]]
        if wt.dtype != "int4":
            continue
        bname = op.inputs[2] if len(op.inputs) > 2 else None
        if bname is None:
            continue
        bt = qgraph.tensors[bname]
        b = np.asarray(bt.data, np.float64) * bt.quant.scale.astype(np.float64)
        out[op.inputs[1]] = (np.asarray(wt.data), wt.quant, b)
    return out


def weight_quantized(float_graph: Graph, qgraph: Graph) -> Graph:
    """A copy of ``float_graph`` whose weighted ops carry ``qgraph``'s INT4 weights and biases as floats."""
    g = float_graph.copy()
    for name, (values, q, b) in _chosen(float_graph, qgraph).items():
        fop = next((o for o in g.ops if len(o.inputs) > 1 and o.inputs[1] == name), None)
        if fop is None or len(fop.inputs) < 3 or fop.inputs[2] is None:
            continue
        w = values.astype(np.float32) * q.scale.astype(np.float32).reshape(q.broadcast_shape(values.ndim))
        g.tensors[name].data = w.astype(np.float32)
        g.tensors[fop.inputs[2]].data = b.astype(np.float32)
    return g


class Replay:
    """A ``rounding`` callback for apply_int4 that hands back the INT4 weights a first pass chose (values,
    scales and the bias they ended with), so a re-quantized graph keeps them."""

    def __init__(self, float_graph: Graph, qgraph: Graph):
        self.g = float_graph
        self.chosen = _chosen(float_graph, qgraph)

    def __call__(self, op: Op, w: np.ndarray, q: QuantParams):
        from edgeq.quantize.int4 import quantize_int4

        got = self.chosen.get(op.inputs[1])
        if got is None:
            return quantize_int4(w, q)
        values, q1, b = got
        _, b0, _ = float_weights(self.g, op)
        return Rounded(values, q1, (b - b0.astype(np.float64)).astype(np.float32))


def recalibrate(float_graph: Graph, qgraph: Graph, samples, method: str, *, engine: str = "auto"):
    """(ranges, means) of the float graph carrying ``qgraph``'s INT4 weights, on ``samples``."""
    from edgeq.quantize.calibrate import calibrate_stats

    gw = weight_quantized(float_graph, qgraph)
    return calibrate_stats(gw, samples, method, engine=engine, progress=False, exact=ptq.head_tensors(gw))
