"""Per-layer statistics for fitting INT4 weights to a layer's output on calibration data.

A layer's output error for real weights W~ (in place of the float W) when it sees the partly quantized
model's inputs Xq instead of the float inputs Xf is, per output channel c,

    E_c = W~_c Gqq W~_c^T - 2 W~_c Gqf W_c^T + W_c Gff W_c^T        (G.. = X.^T X. / rows)

so every method that chooses W~ (AdaRound, GPTQ, the scale search) needs only the K x K Gram matrices (one
per channel for depthwise), whatever the number of im2col rows: all rows of all calibration samples are used.
The row means give the empirical bias correction mean(W Xf) - mean(W~ Xq) per channel.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeq.model.ir import Graph, Op
from edgeq.reference.int_exec import _pad_amounts, _patches, run_int


@dataclass
class LayerStats:
    """Gram matrices [K, K] (or [C, K, K] for depthwise, K = kh*kw per channel), row means and count."""
    gqq: np.ndarray
    gfq: np.ndarray  # Xf^T Xq / rows
    gff: np.ndarray
    mf: np.ndarray   # mean row of Xf: [K] (or [C, K])
    mq: np.ndarray
    rows: int

    def error(self, wt: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Per-channel output error (mean square over rows) of real weights ``wt`` [C, K] against ``w``."""
        return (wt * mm(wt, self.gqq)).sum(1) - 2 * (wt * mm(w, self.gfq)).sum(1) + (w * mm(w, self.gff)).sum(1)

    def centered(self) -> "LayerStats":
        """The covariances instead of the Gram matrices: the output error left once the bias absorbs the
        mean shift (with bias correction the rounding need not spend itself on the inputs' mean)."""
        def outer(a, b):
            return np.einsum("...k,...j->...kj", a, b)

        return LayerStats(self.gqq - outer(self.mq, self.mq), self.gfq - outer(self.mf, self.mq),
                          self.gff - outer(self.mf, self.mf), self.mf, self.mq, self.rows)

    def mean_shift(self, wt: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Per-channel mean of (W Xf - W~ Xq): what the bias must gain for the output mean to stay."""
        if self.mf.ndim == 1:
            return w @ self.mf - wt @ self.mq
        return (w * self.mf).sum(1) - (wt * self.mq).sum(1)


def mm(a: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """[C, K] rows times a shared [K, K] or per-channel [C, K, K] matrix."""
    return a @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", a, gram)


def flat(op: Op, w: np.ndarray) -> np.ndarray:
    """Weights as [C_out, K] in the rows' K order."""
    if op.type == "DEPTHWISE_CONV_2D":
        return w[0].reshape(-1, w.shape[3]).T
    return w.reshape(w.shape[0], -1)


def unflat(op: Op, q: np.ndarray, shape) -> np.ndarray:
    if op.type == "DEPTHWISE_CONV_2D":
        return q.T.reshape(shape)
    return q.reshape(shape)


def rows(g: Graph, op: Op, x: np.ndarray) -> np.ndarray:
    """im2col rows [R, K] (or [R, kh*kw, C] for depthwise) of the op's float input ``x``, float32."""
    x = np.asarray(x, np.float32)
    if op.type == "FULLY_CONNECTED":
        return x.reshape(-1, g.tensors[op.inputs[1]].shape[1])
    o = op.options
    w = g.tensors[op.inputs[1]].shape
    out = g.tensors[op.outputs[0]].shape
    kh, kw = w[1], w[2]
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
    ph = _pad_amounts(x.shape[1], out[1], kh, sh, dh, o.get("padding", "VALID"))
    pw = _pad_amounts(x.shape[2], out[2], kw, sw, dw, o.get("padding", "VALID"))
    p = _patches(x, kh, kw, out[1], out[2], sh, sw, dh, dw, ph, pw)
    if op.type == "DEPTHWISE_CONV_2D":
        return p.reshape(-1, kh * kw, x.shape[3])
    return p.reshape(-1, kh * kw * x.shape[3])


def layer_stats(g: Graph, op: Op, xf: np.ndarray, xq: np.ndarray | None, *, chunk: int = 8,
                max_rows: int | None = None, rng=None) -> LayerStats:
    """The Gram matrices of ``op``'s float and quantized (None: float too) inputs, ``chunk`` samples at a
    time (float32 products summed in float64); ``max_rows`` subsamples rows at random (None: all)."""
    n = xf.shape[0]
    mult = 1
    if op.type == "DEPTHWISE_CONV_2D":
        mult = g.tensors[op.inputs[1]].shape[3] // xf.shape[3]
    acc: dict[str, np.ndarray] = {}
    total = 0
    keep = None
    per = rows(g, op, xf[:1]).shape[0]
    if max_rows is not None:
        if per * n > max_rows:
            rng = rng or np.random.default_rng(0)
            keep = np.sort(rng.choice(per * n, max_rows, replace=False))
    for start in range(0, n, chunk):
        rf = rows(g, op, xf[start:start + chunk])
        rq = rf if xq is None else rows(g, op, xq[start:start + chunk])
        if keep is not None:
            base = start * per
            sel = keep[(keep >= base) & (keep < base + rf.shape[0])] - base
            rf, rq = rf[sel], (rf[sel] if xq is None else rq[sel])
        if rf.shape[0] == 0:
            continue
        if rf.ndim == 3:
            if mult > 1:
                rf, rq = np.repeat(rf, mult, axis=2), np.repeat(rq, mult, axis=2)
            parts = {"gqq": np.einsum("rkc,rjc->ckj", rq, rq), "gfq": np.einsum("rkc,rjc->ckj", rf, rq),
                     "gff": np.einsum("rkc,rjc->ckj", rf, rf), "mf": rf.sum(0).T, "mq": rq.sum(0).T}
        else:
            parts = {"gqq": rq.T @ rq, "gfq": rf.T @ rq, "gff": rf.T @ rf, "mf": rf.sum(0), "mq": rq.sum(0)}
        for k, v in parts.items():
            acc[k] = acc.get(k, 0.0) + v.astype(np.float64)
        total += rf.shape[0]
    r = max(total, 1)
    return LayerStats(**{k: v / r for k, v in acc.items()}, rows=total)


class QuantizedInputs:
    """The dequantized input of each weighted op of a graph that is being turned into INT4 layer by layer
    in execution order: the ops before the asked one run once, on the graph as it is at that moment
    (earlier layers already converted), and their values are kept for the next request."""

    def __init__(self, qgraph: Graph, samples: Sequence[np.ndarray]):
        self.g = qgraph
        self.values: dict[str, np.ndarray] = {}
        for name, x in zip(qgraph.inputs, samples):
            t = qgraph.tensors[name]
            if t.dtype != "float32":
                lo, hi = np.iinfo(t.dtype).min, np.iinfo(t.dtype).max
                x = np.clip(np.round(x / t.quant.scale[0]) + t.quant.zero_point[0], lo, hi).astype(t.dtype)
            self.values[name] = x
        self.done = 0  # ops of qgraph.ops already run

    def of(self, weight_name: str) -> np.ndarray:
        idx = next(i for i, o in enumerate(self.g.ops) if len(o.inputs) > 1 and o.inputs[1] == weight_name)
        if idx > self.done:
            self._run(self.g.ops[self.done:idx])
            self.done = idx
        name = self.g.ops[idx].inputs[0]
        v, t = self.values[name], self.g.tensors[name]
        if t.quant is None or t.dtype == "float32":
            return v.astype(np.float32)
        return ((v.astype(np.float32) - np.float32(t.quant.zero_point[0])) * np.float32(t.quant.scale[0]))

    def _run(self, ops) -> None:
        produced = {o for op in ops for o in op.outputs}
        feeds = []
        for op in ops:
            for i in op.inputs:
                if i and i not in produced and not self.g.tensors[i].is_const and i not in feeds:
                    feeds.append(i)
        seg = Graph(f"{self.g.name}_segment")
        seg.tensors, seg.ops, seg.inputs = self.g.tensors, list(ops), feeds
        seg.outputs = [o for op in ops for o in op.outputs]
        self.values.update(run_int(seg, [self.values[f] for f in feeds], capture=True))
