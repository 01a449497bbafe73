"""The low-bit conversion report: report.json (LowbitResult.to_dict()) or a self-contained report.html
(no external assets: inline CSS and an inline SVG bar chart of per-layer SQNR coloured by precision,
tables of the recovery passes, the mixed-precision plan with each layer's sensitivity, and sizes)."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

# weighted layers in strong colours; ops without weights in a pale version of their activation type's
COLORS = {"w4a8": "#d9534f", "w4a16": "#f0ad4e", "w8a8": "#337ab7", "w8a16": "#5cb85c", "hybrid int8": "#8e6cc0",
          "hybrid int4": "#c05c9e", "int8": "#a9c6e4", "int16": "#b4dcb4", "float": "#777777"}


def _fmt(v, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _kb(n) -> str:
    return "–" if n is None else f"{n / 1024:.1f} KiB ({n} B)"


def svg_chart(layers: list[dict], width: int = 900, bar_h: int = 14) -> str:
    """Horizontal bars: one per layer, length = SQNR dB (0..max), colour = precision."""
    rows = [r for r in layers if r.get("sqnr_db") is not None and math.isfinite(r["sqnr_db"])]
    if not rows:
        return "<p>no per-layer figures</p>"
    top = max(10.0, max(r["sqnr_db"] for r in rows))
    left, right = 260, 60
    scale = (width - left - right) / top
    h = bar_h * len(rows) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="sans-serif" font-size="11">']
    for k in range(0, int(top) + 1, 10):
        x = left + k * scale
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h - 20}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{h - 6}" text-anchor="middle">{k} dB</text>')
    for i, r in enumerate(rows):
        y = i * bar_h
        v = max(r["sqnr_db"], 0.0)
        color = COLORS.get(r.get("precision", ""), "#999")
        name = html.escape(r["tensor"] if len(r["tensor"]) <= 40 else "…" + r["tensor"][-39:])
        out.append(f'<text x="{left - 6}" y="{y + bar_h - 3}" text-anchor="end">{name}</text>')
        out.append(f'<rect x="{left}" y="{y + 1}" width="{v * scale:.1f}" height="{bar_h - 2}" fill="{color}">'
                   f'<title>{html.escape(r["tensor"])}: {r["sqnr_db"]:.2f} dB ({html.escape(str(r.get("precision")))})'
                   f'</title></rect>')
        out.append(f'<text x="{left + v * scale + 4:.1f}" y="{y + bar_h - 3}">{r["sqnr_db"]:.1f}</text>')
    out.append("</svg>")
    return "".join(out)


def render_html(d: dict, title: str = "edgeq low-bit conversion") -> str:
    o = d.get("options", {})
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#f4f4f4}"
             ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    opt_txt = ", ".join(f"{k}={v}" for k, v in o.items() if v not in (None, False, [], ()))
    parts.append(f"<p>{html.escape(opt_txt)}</p>")
    parts.append("<h2>Summary</h2><table>")
    rows = [("output SQNR (held-out)", _fmt(d.get("output_sqnr_db")) + " dB"),
            ("top-1 agreement", _fmt(d.get("top1_agreement"), 3)),
            ("float model", _kb(d.get("float_bytes"))), ("this model", _kb(d.get("model_bytes"))),
            ("calibration / held-out samples", f"{d.get('calib_samples')} / {d.get('holdout_samples')}"),
            ("conversion time", _fmt(d.get("seconds"), 1) + " s")]
    sizes = d.get("sizes") or {}
    for k, label in (("flash_budget", "flash budget"), ("ram_budget", "RAM budget"),
                     ("ram_estimate", "activations RAM estimate"), ("arena", "runtime_c arena (MCU build)")):
        if sizes.get(k) is not None:
            rows.append((label, _kb(sizes[k])))
    parts += [f"<tr><th>{html.escape(a)}</th><td>{b}</td></tr>" for a, b in rows]
    parts.append("</table>")
    if d.get("passes"):
        where = " (on the all-int8 model the mixed plan starts from)" if d.get("plan") else ""
        parts.append(f"<h2>Recovery passes</h2><p>Output SQNR on the held-out samples as each pass is added{where}.</p>"
                     "<table><tr><th>passes applied</th><th>output SQNR dB</th><th>gain dB</th><th>top-1</th></tr>")
        prev = None
        for p in d["passes"]:
            gain = "–" if prev is None or p["sqnr_db"] is None else _fmt(p["sqnr_db"] - prev)
            parts.append(f"<tr><td>{html.escape(p['pass'])}</td><td>{_fmt(p['sqnr_db'])}</td><td>{gain}</td>"
                         f"<td>{_fmt(p.get('top1'), 3)}</td></tr>")
            prev = p["sqnr_db"]
        parts.append("</table>")
    present = {r.get("precision") for r in d.get("layers", [])}
    parts.append("<h2>Per-layer SQNR</h2><p>Each layer's output against the float model's, on the held-out "
                 "samples.</p><div class='legend'>" + "".join(
                     f"<span style='background:{c}'></span>{k}" for k, c in COLORS.items() if k in present) + "</div>")
    parts.append(svg_chart(d.get("layers", [])))
    plan = d.get("plan")
    if plan:
        parts.append(f"<h2>Mixed-precision plan</h2><p>flash {_kb(plan.get('flash_bytes'))}, RAM estimate "
                     f"{_kb(plan.get('ram_bytes'))}, SQNR {_fmt(plan.get('sqnr_db'))} dB (all-int8: "
                     f"{_fmt(plan.get('base_sqnr_db'))} dB, on the calibration subset)</p>")
        sens = plan.get("sensitivity", {})
        precs = sorted({p for v in sens.values() for p in v}, key=lambda p: ["int4", "int8", "int16", "float"].index(p)
                       if p in ("int4", "int8", "int16", "float") else 9)
        parts.append("<table><tr><th>layer</th><th>chosen</th>" +
                     "".join(f"<th>SQNR if {html.escape(p)} alone</th>" for p in precs) + "</tr>")
        for name, p in plan.get("precisions", {}).items():
            cells = "".join(f"<td>{_fmt(sens.get(name, {}).get(q))}</td>" for q in precs)
            parts.append(f"<tr><td>{html.escape(name)}</td><td><b>{html.escape(p)}</b></td>{cells}</tr>")
        parts.append("</table>")
    parts.append("<h2>Layers</h2><table><tr><th>tensor</th><th>op</th><th>precision</th><th>SQNR dB</th>"
                 "<th>weight bytes</th></tr>")
    for r in d.get("layers", []):
        wb = r.get("weight_bytes")
        parts.append(f"<tr><td>{html.escape(r['tensor'])}</td><td>{html.escape(r['op'])}</td>"
                     f"<td>{html.escape(str(r.get('precision')))}</td><td>{_fmt(r.get('sqnr_db'))}</td>"
                     f"<td>{'–' if wb is None else f'{wb:,}'}</td></tr>")
    parts.append("</table>")
    for n in d.get("notes", []):
        parts.append(f"<p>note: {html.escape(n)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(d: dict, path: str | Path) -> Path:
    """report.html (self-contained) or, for any other suffix, JSON."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        title = f"edgeq report: {Path(d['src']).name} → {Path(d['dst']).name}" if d.get("src") and d.get("dst") \
            else f"edgeq report: {path.stem}"
        path.write_text(render_html(d, title), encoding="utf-8")
    else:
        path.write_text(json.dumps(d, indent=2) + "\n")
    return path
