"""Network-level learned rounding (`--recover tune`, optional PyTorch): after the layer-wise passes, the whole
quantized graph is simulated in torch and its INT4 roundings and biases are fitted to the float model's output.

Layer-local objectives (AdaRound, bias correction) cannot see how errors combine through the network; here
the output itself is the objective. The simulation runs every op of the quantized graph on real values:
activations fake-quantized with the graph's fixed scales / zero points (straight-through rounding), INT4
weights as s_w · (base + h(V)) with h the rectified sigmoid of a learnable V (initialised from the current
integer choice), biases learnable in float. The loss is the mean squared error of the network output
(pre-softmax logits where a SOFTMAX ends the graph) against the float model, plus AdaRound's annealed
regulariser that drives every h to 0 or 1. The result is written back as integers (h >= 0.5, int32 biases
at S_in · S_w) and kept only if the exact integer model's objective improves both on the samples fitted and
on a held-back fifth of them.

    q2, info = tune(float_graph, weight_graph, qgraph, cal)   # info: objective before/after, kept, seconds
"""
from __future__ import annotations

import math
import time

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.model.ir import Graph

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
             "MEAN", "RESHAPE", "SOFTMAX", "PAD", "CONCATENATION", "QUANTIZE", "DEQUANTIZE")
_ZETA, _GAMMA = 1.1, -0.1  # rectified sigmoid stretch (AdaRound's)


def _torch():
    try:
        import torch
    except ImportError:
        raise EdgeqError("--recover tune needs PyTorch: pip install 'edgeq[qat]'") from None
    return torch


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def logits_tensor(g: Graph, name: str) -> str:
    """The tensor the objective compares: the input of a SOFTMAX ending the graph (past a DEQUANTIZE /
    QUANTIZE cast), else the output itself."""
    n = name
    for _ in range(3):
        p = g.producer(n)
        if p is None:
            break
        if p.type == "SOFTMAX":
            return p.inputs[0]
        if p.type not in ("QUANTIZE", "DEQUANTIZE"):
            break
        n = p.inputs[0]
    return name


class _Sim:
    """The quantized graph as a torch function of (inputs, V, biases)."""

    def __init__(self, q: Graph, wgraph: Graph, tune_weights: bool, init_margin: float):
        torch = _torch()
        self.torch, self.q = torch, q
        bad = sorted({op.type for op in q.ops if op.type not in SUPPORTED})
        if bad:
            raise EdgeqError(f"--recover tune cannot simulate op {bad[0]} (supports {', '.join(SUPPORTED)})")
        if len(q.outputs) != 1:
            raise EdgeqError("--recover tune fits models with one output")
        self.target = logits_tensor(q, q.outputs[0])
        self.layers = {}  # op index -> dict(base, V, scale, bias param, ...)
        self.params_v, self.params_b = [], []
        from edgeq.quantize.int4 import float_weights
        from edgeq.quantize.ptq import WEIGHTED

        for i, op in enumerate(q.ops):
            if op.type not in WEIGHTED:
                continue
            wt = q.tensors[op.inputs[1]]
            if wt.data is None or wt.quant is None:
                continue
            in_t = q.tensors[op.inputs[0]]
            if in_t.dtype != "int8":
                continue
            axis = WEIGHTED[op.type]
            shape = [1] * wt.data.ndim
            shape[axis] = -1
            s = wt.quant.scale.astype(np.float64).reshape(shape)
            wi = wt.data.astype(np.float64)
            rec = {"axis": axis, "s": torch.tensor(s, dtype=torch.float32), "int": wi}
            b_name = op.inputs[2] if len(op.inputs) > 2 else None
            bscale = float(in_t.quant.scale[0]) * wt.quant.scale.astype(np.float64)
            b0 = np.zeros(bscale.size) if b_name is None else q.tensors[b_name].data.astype(np.float64) * bscale
            rec["bscale"] = bscale
            rec["b"] = torch.tensor(b0, dtype=torch.float32, requires_grad=True)
            self.params_b.append(rec["b"])
            if wt.dtype == "int4" and tune_weights:
                try:
                    wf = float_weights(wgraph, op)[0].astype(np.float64)
                except KeyError:
                    wf = wi
                u = wf / s
                base = np.floor(u)
                up = wi == base + 1
                base = np.where(up | (wi == base), base, wi)  # choices outside {floor, floor + 1}: from wi
                h0 = np.where(up, 1 - init_margin, init_margin)
                p = (h0 - _GAMMA) / (_ZETA - _GAMMA)
                v0 = np.log(p / (1 - p))
                rec["base"] = torch.tensor(base, dtype=torch.float32)
                rec["V"] = torch.tensor(v0, dtype=torch.float32, requires_grad=True)
                self.params_v.append(rec["V"])
            else:
                rec["w"] = torch.tensor(wi * s, dtype=torch.float32)
            self.layers[i] = rec

    # pieces ------------------------------------------------------------------------------------------------
    def h(self, v):
        t = self.torch
        return t.clamp(t.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0, 1)

    def weight(self, rec, hard: bool):
        if "V" not in rec:
            return rec["w"]
        h = self.h(rec["V"])
        if hard:
            h = (h >= 0.5).float()
        return self.torch.clamp(rec["base"] + h, -7, 7) * rec["s"]

    def fq(self, x, name):
        t = self.q.tensors[name]
        if t.dtype in ("float32",) or t.quant is None:
            return x
        info = np.iinfo(t.dtype)
        s, zp = float(t.quant.scale[0]), float(t.quant.zero_point[0])
        v = x / s
        v = v + (self.torch.round(v) - v).detach()  # straight-through rounding
        return (self.torch.clamp(v + zp, info.min, info.max) - zp) * s

    def act(self, x, op):
        f = op.options.get("fused_activation_function", "NONE")
        t = self.torch
        if f == "RELU":
            return t.relu(x)
        if f == "RELU6":
            return t.clamp(x, 0, 6)
        if f == "RELU_N1_TO_1":
            return t.clamp(x, -1, 1)
        if f == "NONE":
            return x
        raise EdgeqError(f"--recover tune: {op} has fused activation {f}, not simulated")

    @staticmethod
    def _same(n, k, s, d=1):
        out = (n + s - 1) // s
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        return total // 2, total - total // 2

    def _pad2d(self, x, op, kh, kw, dh=1, dw=1):
        """x NCHW padded as TFLite's SAME does (more after than before)."""
        if op.options.get("padding", "VALID") != "SAME":
            return x, False
        t, b = self._same(x.shape[2], kh, op.options.get("stride_h", 1), dh)
        left, r = self._same(x.shape[3], kw, op.options.get("stride_w", 1), dw)
        if t == b == left == r == 0:
            return x, False
        return self.torch.nn.functional.pad(x, (left, r, t, b)), True

    # forward -----------------------------------------------------------------------------------------------
    def forward(self, inputs: list, hard: bool = False):
        torch, F, q = self.torch, self.torch.nn.functional, self.q
        vals = dict(zip(q.inputs, inputs))

        def get(n):
            if n in vals:
                return vals[n]
            t = q.tensors[n]
            if t.data is None:
                raise EdgeqError(f"--recover tune: tensor {n!r} used before it is produced")
            d = t.data.astype(np.float64)
            if t.quant is not None and t.dtype != "float32":
                d = (d - t.quant.zero_point[0]) * t.quant.scale[0]
            return torch.tensor(d, dtype=torch.float32)

        n_batch = inputs[0].shape[0]
        for i, op in enumerate(q.ops):
            o = op.outputs[0]
            ty = op.type
            x = get(op.inputs[0])
            if ty in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                rec = self.layers.get(i)
                w = self.weight(rec, hard) if rec else get(op.inputs[1])
                b = rec["b"] if rec else (get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else None)
                dh, dw = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
                xn = x.permute(0, 3, 1, 2)
                if ty == "CONV_2D":
                    wk = w.permute(0, 3, 1, 2)
                    groups = 1
                else:
                    wk = w.permute(3, 0, 1, 2)  # [1, H, W, C*M] -> [C*M, 1, H, W]
                    groups = xn.shape[1]
                xn, _ = self._pad2d(xn, op, wk.shape[2], wk.shape[3], dh, dw)
                y = F.conv2d(xn, wk, b, stride=(op.options.get("stride_h", 1), op.options.get("stride_w", 1)),
                             dilation=(dh, dw), groups=groups).permute(0, 2, 3, 1)
                y = self.act(y, op)
            elif ty == "FULLY_CONNECTED":
                rec = self.layers.get(i)
                w = self.weight(rec, hard) if rec else get(op.inputs[1])
                b = rec["b"] if rec else (get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else None)
                y = F.linear(x.reshape(-1, w.shape[1]), w, b)
                y = self.act(y, op)
                shape = q.tensors[o].shape
                y = y.reshape(n_batch, *shape[1:]) if len(shape) > 1 else y
            elif ty in ("ADD", "MUL"):
                z = get(op.inputs[1])
                y = self.act(x + z if ty == "ADD" else x * z, op)
            elif ty in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                kh, kw = op.options["filter_height"], op.options["filter_width"]
                st = (op.options.get("stride_h", 1), op.options.get("stride_w", 1))
                xn = x.permute(0, 3, 1, 2)
                if ty == "MAX_POOL_2D":
                    xp = xn
                    if op.options.get("padding", "VALID") == "SAME":  # padding never wins a max
                        xp = F.pad(xn, self._pads(xn, op, kh, kw), value=-1e30)
                    y = F.max_pool2d(xp, (kh, kw), st)
                else:
                    xp, padded = self._pad2d(xn, op, kh, kw)
                    y = F.avg_pool2d(xp, (kh, kw), st)
                    if padded:  # TFLite divides by the count of real (unpadded) cells
                        ones = self._pad2d(torch.ones_like(xn[:1, :1]), op, kh, kw)[0]
                        y = y / F.avg_pool2d(ones, (kh, kw), st)
                y = self.act(y.permute(0, 2, 3, 1), op)
            elif ty == "MEAN":
                axes = [int(a) % x.dim() for a in np.atleast_1d(q.tensors[op.inputs[1]].data)]
                y = x.mean(dim=axes, keepdim=bool(op.options.get("keep_dims", False)))
            elif ty == "RESHAPE":
                y = x.reshape(n_batch, *q.tensors[o].shape[1:])
            elif ty == "SOFTMAX":
                if o in q.outputs or any(p.type == "DEQUANTIZE" and o in p.inputs and p.outputs[0] in q.outputs
                                         for p in q.ops):
                    vals[o] = y = torch.softmax(x * op.options.get("beta", 1.0), dim=-1)
                    continue
                y = torch.softmax(x * op.options.get("beta", 1.0), dim=-1)
            elif ty == "PAD":
                pads = np.asarray(q.tensors[op.inputs[1]].data).reshape(-1, 2)[::-1].ravel().tolist()
                y = F.pad(x, [int(p) for p in pads])
            elif ty == "CONCATENATION":
                y = self.act(torch.cat([get(n) for n in op.inputs], dim=int(op.options.get("axis", 0)) % x.dim()), op)
            else:  # QUANTIZE / DEQUANTIZE: the value is already real; QUANTIZE re-rounds on its scale
                y = x
            vals[o] = self.fq(y, o)
        return vals[self.target]

    def _pads(self, xn, op, kh, kw):
        t, b = self._same(xn.shape[2], kh, op.options.get("stride_h", 1))
        left, r = self._same(xn.shape[3], kw, op.options.get("stride_w", 1))
        return (left, r, t, b)

    def reg(self, beta):
        t = self.torch
        tot = sum((1 - t.abs(2 * self.h(v) - 1) ** beta).sum() for v in self.params_v)
        n = sum(v.numel() for v in self.params_v)
        return tot / max(n, 1)

    def write(self, q: Graph) -> Graph:
        """A copy of ``q`` with the hard roundings and the biases (int32 at S_in · S_w, int64 kept) written in."""
        out = q.copy()
        from edgeq.quantize.qparams import bias_qparams

        for i, rec in self.layers.items():
            op = out.ops[i]
            wt = out.tensors[op.inputs[1]]
            if "V" in rec:
                h = (self.h(rec["V"]).detach().numpy() >= 0.5).astype(np.float64)
                wt.data = np.clip(rec["base"].numpy() + h, -7, 7).astype(np.int8)
            b = rec["b"].detach().numpy().astype(np.float64)
            data = np.round(b / rec["bscale"])
            b_name = op.inputs[2] if len(op.inputs) > 2 else None
            if b_name is None or sum(1 for o in out.ops if b_name in o.inputs) != 1:
                if not np.any(data):
                    continue
                bq = bias_qparams(float(out.tensors[op.inputs[0]].quant.scale[0]), wt.quant)
                t = out.add_const(f"{op.inputs[1]}_bias_t", np.zeros(data.size, np.int32), bq)
                op.inputs = list(op.inputs) + [None] * (3 - len(op.inputs))
                op.inputs[2] = b_name = t.name
            bt = out.tensors[b_name]
            dt = bt.dtype if bt.dtype in ("int32", "int64") else "int32"
            lim = np.iinfo(dt)
            bt.data = np.clip(data, lim.min, lim.max).astype(dt)
            bt.dtype, bt.shape = dt, bt.data.shape
        out.validate()
        return out


def _objective(q: Graph, samples, target: np.ndarray, name: str) -> float:
    """Mean squared error of the exact integer model's ``name`` tensor (dequantized) against ``target``."""
    from edgeq.quantize.mixed import model_inputs
    from edgeq.reference.int_exec import run_int

    vals = run_int(q, model_inputs(q, samples), capture=True)
    y = vals[name].astype(np.float64)
    t = q.tensors[name]
    if t.quant is not None and t.dtype != "float32":
        y = (y - float(t.quant.zero_point[0])) * float(t.quant.scale[0])
    return float(np.mean((y.reshape(target.shape) - target) ** 2))


def tune(float_graph: Graph, weight_graph: Graph, qgraph: Graph, samples, *, steps: int = 200, lr: float = 0.05,
         bias_lr: float = 1e-3, lam: float = 0.05, warmup: float = 0.2, beta=(20.0, 2.0), init_margin: float = 0.05,
         holdback: float = 0.2, seed: int = 0, tune_weights: bool = True, check: int = 20) -> tuple[Graph, dict]:
    """Fit ``qgraph``'s INT4 roundings and biases to ``float_graph``'s output on ``samples`` (float, graph
    layout, one array per input). ``weight_graph`` holds the float weights the roundings round (the
    equalized graph after CLE). Returns (the tuned graph, or ``qgraph`` itself when tuning did not improve
    the integer model on both the fitted samples and the held-back ``holdback`` fraction; a dict of figures)."""
    torch = _torch()
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster than two contending for a busy machine
    try:
        return _tune(torch, t0, float_graph, weight_graph, qgraph, samples, steps, lr, bias_lr, lam, warmup, beta,
                     init_margin, holdback, seed, tune_weights, check)
    finally:
        torch.set_num_threads(threads)


def _tune(torch, t0, float_graph, weight_graph, qgraph, samples, steps, lr, bias_lr, lam, warmup, beta, init_margin,
          holdback, seed, tune_weights, check):
    from edgeq.quantize.mixed import model_inputs
    from edgeq.reference.float_exec import run_float

    torch.manual_seed(seed)
    n = samples[0].shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_back = int(round(n * holdback)) if n >= 10 else 0
    back, fit = np.sort(order[:n_back]), np.sort(order[n_back:])
    sim = _Sim(qgraph, weight_graph, tune_weights, init_margin)
    f_name = logits_tensor(float_graph, float_graph.outputs[0])
    ref = run_float(float_graph, samples, capture=True)[f_name].astype(np.float64)
    ref = ref.reshape(n, -1)
    q_name = sim.target

    def real_inputs(idx):
        xs = []
        for name, x in zip(qgraph.inputs, model_inputs(qgraph, [s[idx] for s in samples])):
            t = qgraph.tensors[name]
            x = x.astype(np.float64)
            if t.quant is not None and t.dtype != "float32":
                x = (x - float(t.quant.zero_point[0])) * float(t.quant.scale[0])
            xs.append(torch.tensor(x, dtype=torch.float32))
        return xs

    xin, xback = real_inputs(fit), real_inputs(back) if n_back else None
    tgt = torch.tensor(ref[fit], dtype=torch.float32)
    tback = torch.tensor(ref[back], dtype=torch.float32) if n_back else None
    groups = [{"params": sim.params_b, "lr": bias_lr}]
    if sim.params_v:
        groups.append({"params": sim.params_v, "lr": lr})
    opt = torch.optim.Adam(groups)

    def hard_loss():
        with torch.no_grad():
            a = float(((sim.forward(xin, hard=True).reshape(tgt.shape) - tgt) ** 2).mean())
            b = float(((sim.forward(xback, hard=True).reshape(tback.shape) - tback) ** 2).mean()) if n_back else a
        return a, b

    def snapshot():
        return [p.detach().clone() for p in sim.params_v + sim.params_b]

    base_fit, base_back = hard_loss()
    norm = max(base_fit, 1e-12)
    best = (base_back, base_fit, snapshot(), 0)  # the hard model checked every ``check`` steps: best held-back
    start = int(warmup * steps)
    for k in range(steps):
        opt.zero_grad()
        y = sim.forward(xin).reshape(tgt.shape)
        loss = ((y - tgt) ** 2).mean() / norm
        if sim.params_v and k >= start:
            frac = (k - start) / max(steps - start, 1)
            b = beta[1] + 0.5 * (beta[0] - beta[1]) * (1 + math.cos(math.pi * frac))
            loss = loss + lam * sim.reg(b)
        loss.backward()
        opt.step()
        if (k + 1) % check == 0 or k + 1 == steps:
            a, b = hard_loss()
            if b < best[0] and a < base_fit:
                best = (b, a, snapshot(), k + 1)
    with torch.no_grad():
        for p, v in zip(sim.params_v + sim.params_b, best[2]):
            p.copy_(v)
    cand = sim.write(qgraph)
    fit_s, back_s = [s[fit] for s in samples], [s[back] for s in samples]
    before = (_objective(qgraph, fit_s, ref[fit], q_name), _objective(qgraph, back_s, ref[back], q_name) if n_back else 0.0)
    after = (_objective(cand, fit_s, ref[fit], q_name), _objective(cand, back_s, ref[back], q_name) if n_back else 0.0)
    kept = after[0] < before[0] and (not n_back or after[1] < before[1])
    flips = 0
    for i, rec in sim.layers.items():
        if "V" in rec:
            flips += int(np.sum(cand.tensors[cand.ops[i].inputs[1]].data != qgraph.tensors[qgraph.ops[i].inputs[1]].data))
    info = {"kept": kept, "objective_before": before[0], "objective_after": after[0],
            "holdback_before": before[1], "holdback_after": after[1], "flipped": flips, "steps": steps, "best_step": best[3],
            "seconds": time.perf_counter() - t0}
    return (cand if kept else qgraph), info
