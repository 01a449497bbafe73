"""AdaRound for INT4 weights (numpy): per layer, choose for every weight whether it rounds down or up so
that the layer's output on its calibration inputs moves least, instead of rounding each to nearest.

For a layer with inputs X (im2col rows of the float calibration activations) the output error of integer
weights Q is sum_c s_c^2 (u_c - Q_c) G_c (u_c - Q_c)^T with u = W / s and G = X^T X / rows (one K x K Gram
matrix, per channel for depthwise), so each iteration costs one [C, K] x [K, K] product whatever the number
of rows. Q = floor(u) + h(V), h the rectified sigmoid clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1), with
the regulariser lambda * sum(1 - |2h - 1|^beta) (beta annealed 20 -> 2) pushing every h to 0 or 1; Adam on V.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeq.model.ir import Graph, Op, QuantParams
from edgeq.reference.int_exec import _pad_amounts, _patches

ZETA, GAMMA = 1.1, -0.1
QMAX = 7


def _rows(g: Graph, op: Op, x: np.ndarray, max_rows: int, rng) -> np.ndarray:
    """im2col rows [R, K] (or [R, kh*kw, C] for depthwise) of the op's float input ``x``."""
    if op.type == "FULLY_CONNECTED":
        w = g.tensors[op.inputs[1]]
        rows = x.reshape(-1, w.shape[1])
    else:
        o = op.options
        w = g.tensors[op.inputs[1]].shape
        out = g.tensors[op.outputs[0]].shape
        kh, kw = (w[1], w[2])
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        ph = _pad_amounts(x.shape[1], out[1], kh, sh, dh, o.get("padding", "VALID"))
        pw = _pad_amounts(x.shape[2], out[2], kw, sw, dw, o.get("padding", "VALID"))
        p = _patches(x, kh, kw, out[1], out[2], sh, sw, dh, dw, ph, pw)
        if op.type == "DEPTHWISE_CONV_2D":
            rows = p.reshape(-1, kh * kw, x.shape[3])
        else:
            rows = p.reshape(-1, kh * kw * x.shape[3])
    if rows.shape[0] > max_rows:
        rows = rows[rng.choice(rows.shape[0], max_rows, replace=False)]
    return rows.astype(np.float64)


def _flat(op: Op, w: np.ndarray) -> np.ndarray:
    """Weights as [C_out, K] in the rows' K order."""
    if op.type == "DEPTHWISE_CONV_2D":
        return w[0].reshape(-1, w.shape[3]).T
    return w.reshape(w.shape[0], -1)


def _unflat(op: Op, q: np.ndarray, shape) -> np.ndarray:
    if op.type == "DEPTHWISE_CONV_2D":
        return q.T.reshape(shape)
    return q.reshape(shape)


def _mm(a: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """[C, K] rows times a shared [K, K] or per-channel [C, K, K] matrix."""
    return a @ gram if gram.ndim == 2 else np.einsum("ck,ckj->cj", a, gram)


def optimize_rounding(u: np.ndarray, gqq: np.ndarray, target: np.ndarray, const: np.ndarray, scale2: np.ndarray, *,
                      iters: int = 300, lr: float = 0.3, reg: float = 0.01, warmup: float = 0.2) -> np.ndarray:
    """Integer weights [C, K] near u = W / s minimizing sum_c s_c^2 (Q_c Gqq Q_c^T - 2 target_c Q_c^T + const_c):
    the output error against the float layer when the layer sees the quantized model's inputs
    (target = u Gfq; Gqq, Gfq the Gram matrices of quantized/quantized and float/quantized inputs)."""
    uc = np.clip(u, -QMAX, QMAX)
    f = np.minimum(np.floor(uc), QMAX - 1)
    frac = uc - f
    p = np.clip((frac - GAMMA) / (ZETA - GAMMA), 1e-4, 1 - 1e-4)
    v = np.log(p / (1 - p))

    def loss(q):
        return float((scale2 * ((q * _mm(q, gqq)).sum(1) - 2 * (target * q).sum(1) + const)).sum())

    l0 = max(loss(np.clip(np.round(u), -QMAX, QMAX)), 1e-30)
    m = np.zeros_like(v)
    s2 = np.zeros_like(v)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iters + 1):
        sig = 1.0 / (1.0 + np.exp(-v))
        h_raw = sig * (ZETA - GAMMA) + GAMMA
        h = np.clip(h_raw, 0.0, 1.0)
        g = 2.0 * scale2[:, None] * (_mm(f + h, gqq) - target) / l0
        frac_t = (t / iters - warmup) / (1 - warmup)
        if frac_t > 0:  # rounding regulariser after a warm-up on the reconstruction alone
            beta = 20.0 + (2.0 - 20.0) * frac_t
            a = 2 * h - 1
            g = g - reg * beta * np.abs(a) ** (beta - 1) * np.sign(a) * 2
        g = g * sig * (1 - sig) * (ZETA - GAMMA) * ((h_raw > 0) & (h_raw < 1))
        m = b1 * m + (1 - b1) * g
        s2 = b2 * s2 + (1 - b2) * g * g
        v -= lr * (m / (1 - b1**t)) / (np.sqrt(s2 / (1 - b2**t)) + eps)
    h = np.clip(1.0 / (1.0 + np.exp(-v)) * (ZETA - GAMMA) + GAMMA, 0, 1)
    q = np.clip(f + (h >= 0.5), -QMAX, QMAX)
    nearest = np.clip(np.round(u), -QMAX, QMAX)
    return q if loss(q) <= loss(nearest) else nearest  # never worse than nearest on the layer's objective


class AdaRound:
    """The ``rounding`` callback of int4.apply_int4: AdaRound on each layer's calibration inputs.

    With ``qgraph`` (the graph apply_int4 is changing, layers in execution order) each layer sees the
    inputs the partly quantized model gives it and is fitted to the float layer's output on the float
    inputs, so it also absorbs the error of the layers before it; without, float inputs on both sides."""

    def __init__(self, float_graph: Graph, samples: Sequence[np.ndarray], *, qgraph: Graph | None = None,
                 iters: int = 300, max_rows: int = 2048, max_samples: int = 16, seed: int = 0):
        from edgeq.reference.float_exec import run_float

        self.g, self.qg = float_graph, qgraph
        self.iters, self.max_rows = iters, max_rows
        self.rng = np.random.default_rng(seed)
        names = {op.inputs[0] for op in float_graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
        n = samples[0].shape[0]
        pick = np.sort(self.rng.choice(n, min(n, max_samples), replace=False))
        self.samples = [s[pick] for s in samples]
        self.acts = run_float(float_graph, self.samples, capture=names)
        self.gain: dict[str, float] = {}  # layer output -> objective ratio (adaround / nearest)

    def _quantized_input(self, op: Op) -> np.ndarray | None:
        if self.qg is None:
            return None
        from edgeq.reference.int_exec import run_int

        qop = next(o for o in self.qg.ops if len(o.inputs) > 1 and o.inputs[1] == op.inputs[1])
        name = qop.inputs[0]
        xs = []
        for gname, x in zip(self.qg.inputs, self.samples):
            t = self.qg.tensors[gname]
            if t.dtype != "float32":
                lo, hi = np.iinfo(t.dtype).min, np.iinfo(t.dtype).max
                x = np.clip(np.round(x / t.quant.scale[0]) + t.quant.zero_point[0], lo, hi).astype(t.dtype)
            xs.append(x)
        v = run_int(self.qg, xs, capture=True)[name]
        t = self.qg.tensors[name]
        if t.quant is None or t.dtype == "float32":
            return v.astype(np.float64)
        return (v.astype(np.float64) - float(t.quant.zero_point[0])) * float(t.quant.scale[0])

    def __call__(self, op: Op, w: np.ndarray, q: QuantParams) -> np.ndarray:
        xf = self.acts[op.inputs[0]]
        xq = self._quantized_input(op)
        state = self.rng.bit_generator.state
        rows_f = _rows(self.g, op, xf, self.max_rows, self.rng)
        if xq is None:
            rows_q = rows_f
        else:  # the same rows of the quantized input
            self.rng.bit_generator.state = state
            rows_q = _rows(self.g, op, xq.reshape(xf.shape), self.max_rows, self.rng)
        wf = _flat(op, np.asarray(w, np.float64))
        scale = q.scale.astype(np.float64)
        u = wf / scale[:, None]
        if op.type == "DEPTHWISE_CONV_2D":
            mult = wf.shape[0] // rows_f.shape[2]
            rf = np.repeat(rows_f, mult, axis=2) if mult > 1 else rows_f
            rq = np.repeat(rows_q, mult, axis=2) if mult > 1 else rows_q
            r = rf.shape[0]
            gqq = np.einsum("rkc,rjc->ckj", rq, rq) / r
            gfq = np.einsum("rkc,rjc->ckj", rf, rq) / r
            gff = np.einsum("rkc,rjc->ckj", rf, rf) / r
            target = np.einsum("ck,ckj->cj", u, gfq)
            const = np.einsum("ck,ckj,cj->c", u, gff, u)
        else:
            r = rows_f.shape[0]
            gqq = rows_q.T @ rows_q / r
            target = u @ (rows_f.T @ rows_q / r)
            const = ((u @ (rows_f.T @ rows_f / r)) * u).sum(1)
        qi = optimize_rounding(u, gqq, target, const, scale**2, iters=self.iters)
        return _unflat(op, qi, w.shape).astype(np.int8)
