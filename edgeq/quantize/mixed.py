"""Mixed precision per weighted layer (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED) of an int8 model:
"int4" (INT4 weights), "int8", "int16" (the layer in 16x8: its input requantized to int16 by a QUANTIZE op,
int64 bias, its output requantized back to int8) or "float" (DEQUANTIZE → float op with the float weights
→ QUANTIZE). The converter ops where precisions meet are in the graph, so their cost is in the measured
size and in the sensitivity.

Sensitivity: the output SQNR (against the float model) when only that layer changes precision. The search
starts from all-int8, then (greedy) demotes to INT4 the layers with the least estimated SQNR loss per byte
saved until the flash budget is met, then spends what is left of the budget (flash and RAM) on promotions
with the best gain per byte, and with a target SQNR stops demoting / keeps promoting at the target.
Estimated noise adds: N(plan) ≈ N(int8) + sum over changed layers of (N(layer alone) - N(int8)). The final
plan is built and measured; while the real size exceeds the budget the next demotion is applied.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.model.ir import Graph, Op, QuantParams, Tensor
from edgeq.quantize import ptq
from edgeq.quantize.int4 import apply_int4, float_weights
from edgeq.quantize.int16 import symmetric_qparams

PRECISIONS = ("int4", "int8", "int16", "float")
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def layer_names(qgraph: Graph) -> list[str]:
    """Weighted layers (by output tensor name) of a quantized graph, in execution order."""
    return [op.outputs[0] for op in qgraph.ops if op.type in WEIGHTED and qgraph.tensors[op.inputs[1]].is_const]


def _producer_index(g: Graph, out: str) -> int:
    for k, op in enumerate(g.ops):
        if out in op.outputs:
            return k
    raise KeyError(out)


def _splice_int16(g: Graph, op: Op, ranges: dict, float_graph: Graph) -> None:
    """Run ``op`` in 16x8 between int8 neighbours."""
    k = g.ops.index(op)
    x_name, out_name = op.inputs[0], op.outputs[0]
    fw, fb, fop = float_weights(float_graph, op)
    qin = symmetric_qparams(*ranges[fop.inputs[0]])
    qout = symmetric_qparams(*ranges[fop.outputs[0]])
    x16 = g.add_tensor(Tensor(f"{x_name}_to16", g.tensors[x_name].shape, "int16", None, qin))
    y16 = g.add_tensor(Tensor(f"{out_name}_16", g.tensors[out_name].shape, "int16", None, qout))
    w = g.tensors[op.inputs[1]]
    wq = w.quant
    if w.dtype == "int4":
        raise EdgeqError(f"{op}: a layer cannot be int4 and int16 at once")
    bq = QuantParams(np.float32(qin.scale[0]) * wq.scale.astype(np.float32), 0)
    bias = np.round(fb.astype(np.float64) / bq.scale.astype(np.float64)).astype(np.int64)
    b = g.add_const(f"{op.inputs[1]}_bias16", bias, bq)
    op.inputs = [x16.name, op.inputs[1], b.name]
    op.outputs = [y16.name]
    if op.type == "FULLY_CONNECTED":
        op.options["quantized_bias_type"] = "INT64"
    g.ops.insert(k, Op("QUANTIZE", [x_name], [x16.name], {}, name=f"to int16 {x_name}"))
    g.ops.insert(k + 2, Op("QUANTIZE", [y16.name], [out_name], {}, name=f"to int8 {out_name}"))


def _splice_float(g: Graph, op: Op, float_graph: Graph) -> None:
    """Run ``op`` in float with its float weights between int8 neighbours."""
    k = g.ops.index(op)
    x_name, out_name = op.inputs[0], op.outputs[0]
    fw, fb, fop = float_weights(float_graph, op)
    xf = g.add_tensor(Tensor(f"{x_name}_float", g.tensors[x_name].shape, "float32"))
    yf = g.add_tensor(Tensor(f"{out_name}_float", g.tensors[out_name].shape, "float32"))
    w = g.add_const(f"{op.inputs[1]}_float", fw)
    b = g.add_const(f"{op.inputs[1]}_float_bias", fb)
    opts = {k2: v for k2, v in op.options.items() if k2 != "quantized_bias_type"}
    g.ops[k] = Op(op.type, [xf.name, w.name, b.name], [yf.name], opts, op.name)
    g.ops.insert(k, Op("DEQUANTIZE", [x_name], [xf.name], {}, name=f"to float {x_name}"))
    g.ops.insert(k + 2, Op("QUANTIZE", [yf.name], [out_name], {}, name=f"to int8 {out_name}"))


def _drop_unused(g: Graph) -> None:
    used = {n for op in g.ops for n in op.inputs + op.outputs if n} | set(g.inputs) | set(g.outputs)
    for n in [n for n in g.tensors if n not in used]:
        del g.tensors[n]


def build_mixed(float_graph: Graph, base: Graph, plan: dict[str, str], ranges: dict, *, means=None,
                clip: str = "mse", rounding_for=None) -> Graph:
    """A copy of the int8 graph ``base`` (quantized from ``float_graph`` with ``ranges``) with each layer named
    in ``plan`` (output tensor -> precision) changed to that precision. INT4 layers round to nearest, or
    with the rounding ``rounding_for(graph)`` returns given the copy being built (a sequential AdaRound fits
    each layer to the inputs that copy's earlier layers give it)."""
    bad = {p for p in plan.values() if p not in PRECISIONS}
    if bad:
        raise EdgeqError(f"unknown precision(s) {', '.join(sorted(bad))} (choose from {', '.join(PRECISIONS)})")
    g = ptq._working_copy(base)
    four = {n for n, p in plan.items() if p == "int4"}
    if four:
        rounding = rounding_for(g) if rounding_for is not None else None
        apply_int4(float_graph, g, layers=four, clip=clip, means=means, rounding=rounding)
    for name, p in plan.items():
        if p not in ("int16", "float"):
            continue
        op = g.ops[_producer_index(g, name)]
        if g.tensors[op.inputs[0]].dtype != "int8":
            raise EdgeqError(f"layer {name!r}: int16/float islands need int8 neighbours")
        if p == "int16":
            _splice_int16(g, op, ranges, float_graph)
        else:
            _splice_float(g, op, float_graph)
    _drop_unused(g)
    g.validate()
    return g


# evaluation -------------------------------------------------------------------------------------------------
def model_inputs(qgraph: Graph, samples: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Float samples in the quantized graph's input types (quantized where the inputs are integer)."""
    xs = []
    for name, x in zip(qgraph.inputs, samples):
        t = qgraph.tensors[name]
        if t.dtype not in ("float32",):
            lo, hi = np.iinfo(t.dtype).min, np.iinfo(t.dtype).max
            x = np.clip(np.round(np.asarray(x, np.float64) / t.quant.scale[0]) + t.quant.zero_point[0], lo, hi)
            x = x.astype(t.dtype)
        xs.append(x)
    return xs


def dequantized_outputs(qgraph: Graph, outs: list[np.ndarray]) -> list[np.ndarray]:
    res = []
    for name, y in zip(qgraph.outputs, outs):
        t = qgraph.tensors[name]
        if t.dtype != "float32" and t.quant is not None:
            y = (y.astype(np.float64) - float(t.quant.zero_point[0])) * float(t.quant.scale[0])
        res.append(np.asarray(y, np.float32))
    return res


def output_sqnr(qgraph: Graph, samples: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Lowest output SQNR (dB) of the quantized graph (run by the integer reference) against float outputs."""
    from edgeq.quantize.report import sqnr_db
    from edgeq.reference.int_exec import run_int

    ys = dequantized_outputs(qgraph, run_int(qgraph, model_inputs(qgraph, samples)))
    return min(sqnr_db(r, y.reshape(r.shape)) for r, y in zip(reference, ys))


def flash_bytes(g: Graph) -> int:
    from edgeq.model.tflite_io import write_tflite

    return len(write_tflite(g))


def ram_estimate(g: Graph) -> int:
    """Peak over ops of the bytes of the activations live across it (inputs, outputs and those still needed
    later): the arena's lower bound without kernel scratch. Used to compare plans, not as the arena."""
    last: dict[str, int] = {}
    for k, op in enumerate(g.ops):
        for n in op.inputs:
            if n is not None and not g.tensors[n].is_const:
                last[n] = k
    for n in g.outputs:
        last[n] = len(g.ops)
    live = {n: g.tensors[n].nbytes for n in g.inputs}
    peak = sum(live.values())
    for k, op in enumerate(g.ops):
        for o in op.outputs:
            live[o] = g.tensors[o].nbytes
        peak = max(peak, sum(live.values()))
        for n in list(live):
            if last.get(n, -1) <= k:
                del live[n]
    return peak


@dataclass
class Plan:
    precisions: dict[str, str]
    sqnr_db: float
    flash: int
    ram: int
    sensitivity: dict[str, dict[str, float]] = field(default_factory=dict)
    base_sqnr_db: float = math.nan
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {"precisions": self.precisions, "sqnr_db": clean(self.sqnr_db), "flash_bytes": self.flash,
                "ram_bytes": self.ram, "base_sqnr_db": clean(self.base_sqnr_db), "notes": self.notes,
                "sensitivity": {k: {p: clean(v) for p, v in d.items()} for k, d in self.sensitivity.items()}}


def _noise(sqnr: float) -> float:
    """Noise power relative to a unit signal."""
    return 10.0 ** (-sqnr / 10.0) if math.isfinite(sqnr) else 0.0


def _sqnr(noise: float) -> float:
    return -10.0 * math.log10(noise) if noise > 0 else math.inf


def _cheapest_cover(names: list[str], costs: dict[str, tuple[float, int, int]], need: int) -> list[str]:
    """Subset of ``names`` whose bytes saved (-d_flash) total at least ``need`` with the least summed
    noise increase (negative increases count as zero: a demotion that helps is free)."""
    unit = 16
    need_u = -(-need // unit)
    best = {0: (0.0, [])}  # bytes saved (capped at need) -> (noise, chosen)
    for n in names:
        dn, df, _ = costs[n]
        gain = min(need_u, -df // unit)
        w = max(dn, 0.0)
        for saved, (noise, chosen) in list(best.items()):
            k = min(need_u, saved + gain)
            if k not in best or noise + w < best[k][0]:
                best[k] = (noise + w, chosen + [n])
    if need_u in best:
        return best[need_u][1]
    return max(best.items())[1][1]  # cannot save enough: all it can (the caller reports the shortfall)


def search(float_graph: Graph, base: Graph, ranges: dict, samples: Sequence[np.ndarray], reference: Sequence[np.ndarray],
           *, flash: int | None = None, ram: int | None = None, target_sqnr: float | None = None,
           options: Sequence[str] = ("int4", "int16", "float"), allowed: Sequence[str] = ("int4", "int8"),
           means=None, clip: str = "mse", progress=None) -> Plan:
    """The plan meeting the budgets (bytes; None = unbounded) at the best estimated fidelity.

    Sensitivity is measured for every precision in ``options``; the plan uses only those in ``allowed``
    (by default int4/int8, which runtime_c runs today; int16 and float islands need its int16 QUANTIZE and
    float kernels).

    INT4 sensitivity rounds to nearest even when the final plan's INT4 layers are AdaRound'd: measured on
    the calibration samples, an AdaRound'd layer looks better than it does on other inputs (most of all the
    layers with few rows per weight, such as a classifier head), so ranking by it picked worse plans (seed
    0, held out: VWW halfway 29.00 -> 28.38 dB, ResNet-8 halfway 16.47 -> 14.85 dB, AD 41.24 -> 40.32 dB)."""
    layers = layer_names(base)
    base_sqnr = output_sqnr(base, samples, reference)
    n0 = _noise(base_sqnr)
    size0, ram0 = flash_bytes(base), ram_estimate(base)
    sens: dict[str, dict[str, float]] = {}
    cost: dict[tuple[str, str], tuple[float, int, int]] = {}  # (layer, p) -> (d_noise, d_flash, d_ram)
    for i, name in enumerate(layers):
        sens[name] = {"int8": base_sqnr}
        for p in options:
            g = build_mixed(float_graph, base, {name: p}, ranges, means=means, clip=clip)
            s = output_sqnr(g, samples, reference)
            sens[name][p] = s
            cost[(name, p)] = (_noise(s) - n0, flash_bytes(g) - size0, ram_estimate(g) - ram0)
        if progress:
            progress(i + 1, len(layers))
    plan = {n: "int8" for n in layers}
    est_noise, est_flash, est_ram = n0, size0, ram0

    def apply(name, p):
        nonlocal est_noise, est_flash, est_ram
        old = plan[name]
        if old != "int8":
            dn, df, dr = cost[(name, old)]
            est_noise, est_flash, est_ram = est_noise - dn, est_flash - df, est_ram - dr
        if p != "int8":
            dn, df, dr = cost[(name, p)]
            est_noise, est_flash, est_ram = est_noise + dn, est_flash + df, est_ram + dr
        plan[name] = p

    candidates = [n for n in layers if "int4" in allowed and (n, "int4") in cost and cost[(n, "int4")][1] < 0]
    # 1. meet the flash budget: the set of int4 demotions with the least added noise that saves enough
    #    (0/1 knapsack over the bytes saved, in 16-byte units)
    if flash is not None and est_flash > flash:
        for n in _cheapest_cover(candidates, {n: cost[(n, "int4")] for n in candidates}, est_flash - flash):
            apply(n, "int4")
    pending = sorted((n for n in candidates if plan[n] == "int8"),
                     key=lambda n: max(cost[(n, "int4")][0], 0.0) / -cost[(n, "int4")][1])
    # 2. with no flash pressure, a target SQNR allows demotions as long as it holds
    for_target: list[str] = []  # demoted for size alone: undone below while the measured SQNR misses the target
    if target_sqnr is not None:
        while pending:
            n = pending[0]
            dn = cost[(n, "int4")][0]
            if _sqnr(est_noise + dn) < target_sqnr:
                break
            apply(pending.pop(0), "int4")
            for_target.append(n)
    # 3. promotions (int16 / float) with the best noise reduction per byte, within both budgets
    ups = []
    for n in layers:
        if plan[n] != "int8":
            continue
        for p in ("int16", "float"):
            if p in allowed and (n, p) in cost and cost[(n, p)][0] < 0:
                dn, df, dr = cost[(n, p)]
                ups.append((dn / max(df + dr, 1), n, p))
    for _, n, p in sorted(ups):
        if plan[n] != "int8":
            continue
        if target_sqnr is not None and _sqnr(est_noise) >= target_sqnr and flash is None and ram is None:
            break
        dn, df, dr = cost[(n, p)]
        if flash is not None and est_flash + df > flash:
            continue
        if ram is not None and est_ram + dr > ram:
            continue
        if flash is None and ram is None and target_sqnr is None:
            break  # no budget at all: stay at int8
        apply(n, p)
    # build and measure; tighten while the real size is over the budget, and (the per-layer noise adds up
    # only roughly) undo target-driven demotions while the measured SQNR is under the target
    from edgeq.model.tflite_io import write_tflite
    from edgeq.quantize.report_sizes import runtime_arena

    sq = math.nan
    while True:
        g = build_mixed(float_graph, base, {k: v for k, v in plan.items() if v != "int8"}, ranges, means=means,
                        clip=clip)
        written = write_tflite(g)
        real_flash, real_ram = len(written), ram_estimate(g)
        arena = None
        if ram is not None:  # the budget is checked on runtime_c's own arena when it can load the model
            arena = runtime_arena(written)
            real_ram = arena if arena is not None else real_ram
        over = (flash is not None and real_flash > flash) or (ram is not None and real_ram > ram)
        if not over:
            sq = output_sqnr(g, samples, reference)
            if target_sqnr is not None and sq < target_sqnr and for_target:
                apply(for_target.pop(), "int8")
                continue
            break
        promoted = [n for n in layers if plan[n] in ("int16", "float")]
        if promoted:
            plan[promoted[-1]] = "int8"
        elif pending and (flash is not None and real_flash > flash):
            apply(pending.pop(0), "int4")
        else:
            what = "flash" if flash is not None and real_flash > flash else "ram"
            raise EdgeqError(f"the {what} budget cannot be met: the smallest plan found needs flash {real_flash} B, "
                             f"ram {real_ram} B (budget flash {flash}, ram {ram}; INT4 weights do not shrink "
                             f"activation memory)")
    notes = []
    if ram is not None:
        notes.append("RAM: runtime_c's reference arena" if arena is not None else
                     "RAM: estimated from live activations (runtime_c cannot load this plan)")
    return Plan(plan, sq, real_flash, real_ram, sens, base_sqnr, notes)
