"""`edgeq convert` with the low-bit options: runs convert_lowbit, writes the model atomically, the report
(.html or .json by suffix) and prints a summary (sizes, SQNR, recovery passes, mixed plan)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from edgeq.errors import EdgeqError


def wanted(weights: str, activations: str, dynamic: bool, recover: str | None, mixed: bool, budget: str | None,
           target_sqnr: float | None, report: Path | None) -> bool:
    """Whether the low-bit pipeline is asked for (any low-bit option, or an HTML report)."""
    html = report is not None and report.suffix.lower() in (".html", ".htm")
    return (weights != "int8" or activations != "int8" or dynamic or bool(recover) or mixed or budget is not None
            or target_sqnr is not None or html)


def run(src: Path, output: Path, *, calib, method: str, io: str, preprocess, weight_clip: bool, report: Path | None,
        weights: str, activations: str, dynamic: bool, recover: str | None, mixed: bool, budget: str | None,
        target_sqnr: float | None, console, progress: bool = False) -> None:
    from edgeq.fileio import write_atomic
    from edgeq.quantize.lowbit import convert_lowbit, parse_budget, parse_recover
    from edgeq.quantize.report_html import write_report

    flash, ram = parse_budget(budget)
    if (flash is not None or ram is not None or target_sqnr is not None) and not mixed:
        raise EdgeqError("--budget and --target-sqnr choose per-layer precisions: add --mixed")
    if calib is None and not dynamic:
        raise EdgeqError("--calib is required (only --dynamic converts without calibration data)")
    r = convert_lowbit(src, calib=calib, method=method, io=io, preprocess=preprocess, weights=weights,
                       activations=activations, dynamic=dynamic, recover=parse_recover(recover), mixed=mixed,
                       flash=flash, ram=ram, target_sqnr=target_sqnr, weight_clip="mse" if weight_clip else None,
                       progress=progress)
    from edgeq.quantize.report_sizes import add_sizes

    d = add_sizes(r.to_dict() | {"src": str(src), "dst": str(output)}, r.graph, r.model)
    write_atomic(output, r.model)
    if report is not None:
        write_report(d, report)
    print_summary(r, d, src, output, console)


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def layer_table(d: dict):
    """The per-layer rows as a rich table: SQNR against float, precision, weight bytes."""
    from rich.table import Table

    from edgeq.quantize.report import short_name

    t = Table(title="per layer (held-out samples)", title_justify="left")
    for col, just in (("layer", "left"), ("op", "left"), ("precision", "left"), ("SQNR dB", "right"),
                      ("weight B", "right")):
        t.add_column(col, justify=just)
    for row in d.get("layers", []):
        sq = row.get("sqnr_db")
        t.add_row(short_name(row["tensor"]), row["op"], str(row.get("precision")), "–" if sq is None else f"{sq:.2f}",
                  f"{row.get('weight_bytes', 0):,}")
    return t


def print_summary(r, d: dict, src, output, console) -> None:
    o = r.options
    if o["dynamic"]:
        kind = "dynamic range (int8 weights, float activations)"
    elif r.plan is not None:  # the layers' own precisions, not the --weights default the plan started from
        counts = Counter(r.plan.precisions.values())
        kind = "mixed precision (" + ", ".join(f"{n} x {p}" for p, n in sorted(counts.items())) + " layers)"
    else:
        kind = f"weights {o['weights']}, activations {o['activations']}"
    console.print(f"[bold]{src}[/] -> [bold]{output}[/]  ({kind}, {r.seconds:.1f} s)")
    arena = d.get("sizes", {}).get("arena")
    console.print(f"size: {_kb(r.float_bytes)} float -> {_kb(len(r.model))}" +
                  (f"; runtime_c arena {_kb(arena)} (MCU build)" if arena is not None else ""))
    if d.get("layers"):
        console.print(layer_table(d))
    if r.holdout_samples:
        top1 = f", top-1 agreement {r.top1:.3f}" if r.top1 is not None else ""
        console.print(f"output SQNR {r.sqnr_db:.2f} dB on {r.holdout_samples} held-out samples{top1}")
    if len(r.passes) > 1:
        console.print("recovery passes" + (" (on the all-int8 model the mixed plan starts from)" if r.plan else "") + ":")
    for p in r.passes if len(r.passes) > 1 else []:
        console.print(f"  after {p['pass']}: {p['sqnr_db']:.2f} dB")
    if r.plan is not None:
        counts: dict[str, int] = {}
        for p in r.plan.precisions.values():
            counts[p] = counts.get(p, 0) + 1
        console.print(f"mixed plan: {', '.join(f'{n} x {p}' for p, n in sorted(counts.items()))}; flash "
                      f"{_kb(r.plan.flash)}" + (f" (budget {_kb(o['flash'])})" if o["flash"] else "") +
                      f", activations RAM estimate {_kb(r.plan.ram)}" +
                      (f" (budget {_kb(o['ram'])})" if o["ram"] else ""))
        from edgeq.quantize.report import short_name

        for name, p in r.plan.precisions.items():
            console.print(f"  {p:>5}  {short_name(name)}")
    for n in r.notes:
        console.print(f"note: {n}")
