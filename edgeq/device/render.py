"""How the board verbs print: the boards table, upload progress, profile and validation reports (rich)."""
from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.table import Table


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} B"


def _count(n: float) -> str:
    return f"{n / 1e6:.3f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e4 else f"{n:,.0f}"


def _time(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"


def boards_table(boards, running: dict, console: Console) -> None:
    t = Table(title="boards", caption="emulated boards start on first use and keep running until "
                                      "`edgeq boards stop NAME`; real boards take --port PATH|URL|auto")
    for col in ("name", "CPU", "clock", "flash", "RAM", "model slot", "flasher", "emulated"):
        t.add_column(col, justify="right" if col in ("clock", "flash", "RAM", "model slot") else "left")
    for b in boards:
        emu = ("yes" + (f" (running, pid {running[b.name].pid})" if b.name in running else "")) if b.emulated else "no"
        t.add_row(b.name, b.cpu, f"{b.clock_hz / 1e6:g} MHz", _size(b.flash_size), _size(b.ram_size),
                  _size(b.max_model_bytes), b.flasher, emu)
    console.print(t)


@contextmanager
def upload_progress(console: Console, label: str, enabled: bool = True):
    """A progress callback (done, total) drawing a bar while a model uploads."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as p:
        task = p.add_task(label, total=None)

        def cb(done: int, total: int) -> None:
            p.update(task, completed=done, total=total)

        yield cb


def flash_result(r, console: Console) -> None:
    i = r.info
    if i is not None:
        console.print(f"Connected to {r.board} ({i.runtime_version}), {i.clock_hz / 1e6:g} MHz, "
                      f"arena {i.arena_capacity:,} bytes, model slot {i.slot_capacity:,} bytes")
    if r.uploaded:
        console.print(f"Wrote {r.size:,} bytes (crc32 {r.crc32:08x}) to slot {r.slot} in {r.seconds:.2f} s; "
                      f"generation {r.generation}")
    else:
        console.print(f"Model already on the board (crc32 {r.crc32:08x}, slot {r.slot}, generation "
                      f"{r.generation}): nothing to write")
    console.print(f"Verified: model loads, arena {r.arena_used:,} bytes used")


def profile_table(p, console: Console) -> None:
    unit = "cycles" if p.counter == "cycles" else "instr."
    t = Table(title=f"{p.model} on {p.board} ({p.counter} per op, latency at {p.clock_hz / 1e6:g} MHz)")
    for col, right in (("#", True), ("op", False), ("output", False), ("MACs", True), (unit, True),
                       ("share", True), ("latency", True)):
        t.add_column(col, justify="right" if right else "left")
    for layer in p.layers:
        t.add_row(str(layer.index), layer.op, "x".join(map(str, layer.output_shape)) or "-",
                  f"{layer.macs:,}" if layer.macs is not None else "-", f"{layer.count:,}",
                  f"{100 * layer.share:.1f}%", _time(layer.seconds))
    ops_sum = sum(layer.count for layer in p.layers)
    t.add_section()
    macs = p.macs
    t.add_row("", "total", "", f"{macs:,}" if macs is not None else "-", f"{p.total:,}", "100%", _time(p.seconds))
    console.print(t)
    if p.total and ops_sum != p.total:
        console.print(f"interpreter loop between ops: {p.total - ops_sum:,} {p.counter}")
    if macs:
        console.print(f"{_count(p.total)} {p.counter} per inference, {p.total / macs:.2f} per MAC")
    console.print(f"memory: arena {p.arena_bytes:,} / {p.arena_capacity:,} bytes, stack {p.stack_bytes:,} / "
                  f"{p.stack_size:,} bytes, code {p.code_bytes:,} bytes, model {p.model_bytes:,} bytes")


def validation(r, console: Console) -> None:
    status = "[green]byte-identical[/]" if r.ok else "[red]DIFFERENT[/]"
    console.print(f"{r.model} on {r.board} vs host runtime_c: {r.exact}/{r.samples} samples {status}")
    if r.counts:
        lo, hi = min(r.counts), max(r.counts)
        console.print(f"counts per inference: {lo:,}" + (f" .. {hi:,}" if hi != lo else ""))
    d = r.divergence
    if d is not None:
        console.print(f"first diverging layer (sample {d.sample}): op {d.op} {d.op_name} output {d.output} "
                      f"{d.tensor!r} {list(d.shape)}: {d.differing}/{d.elements} elements differ, "
                      f"max |diff| {d.max_abs_diff:g}")
