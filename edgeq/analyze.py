"""What an INT8 .tflite costs on runtime_c: exact arena, weight bytes, and MACs and scratch per op.

    a = analyze("model_int8.tflite")
    a.ref.arena_bytes     # what firmware reserves (reference kernels, as a microcontroller build runs)
    a.host.arena_bytes    # what this machine's build needs (its SIMD kernels ask for more scratch)
    a.ops[3].macs, a.ops[3].scratch_ref, a.ref.planned_peak, a.ref.lower_bound
    a = analyze("model_int8.tflite", board="qemu-an386")
    a.board.arena_bytes   # exact on that board's 32-bit CPU (edgeq.device.probe); a.board.fits

Every memory figure comes from runtime_c itself (an exactly sized eq_init of each build, read back
through edgeq_introspect.h), so it equals what the runtime then uses. MACs are computed from shapes:
CONV_2D out * kh * kw * cin_per_group; DEPTHWISE_CONV_2D out * kh * kw; FULLY_CONNECTED out * in_depth;
pools out * window; MEAN one per input element; elementwise ops (incl. activations, QUANTIZE, SOFTMAX)
one per output element; layout ops (RESHAPE, PAD, CONCATENATION, ...) none.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError
from .introspect import RuntimeView

ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # the planner lets these share their input's buffer
LAYOUT_OPS = ALIAS_OPS | {"PAD", "PADV2", "CONCATENATION", "STRIDED_SLICE", "TRANSPOSE"}
POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D"}


def _align(n: int) -> int:
    return (n + 15) & ~15


@dataclass
class OpCost:
    index: int
    op: str
    output_shape: list[int]
    macs: int
    scratch_ref: int     # scratch bytes the reference kernel asks for
    scratch_host: int    # scratch bytes this host's kernel variant asks for
    live_ref: int        # activation + scratch bytes that must coexist while the op runs (ref build)


@dataclass
class ArenaFigures:
    """One build's arena: the total eq_init needs, its split, and how close the plan is to the bound."""
    isa: str
    arena_bytes: int
    planned_peak: int    # activations + scratch as placed by the planner
    head: int            # planned region (at least the planner's temporaries)
    persistent: int      # interpreter tables and op constants
    lower_bound: int     # max over ops of live activation + scratch bytes: no plan can go below it
    lower_bound_op: int

    @property
    def plan_overhead(self) -> float:
        """planned_peak / lower_bound - 1 (0 means the plan is optimal)."""
        return self.planned_peak / self.lower_bound - 1.0 if self.lower_bound else 0.0


@dataclass
class BoardArena:
    """The arena on a Cortex-M board, measured there (the host's 64-bit figures are an upper bound), and
    whether the runner firmware leaves room for it."""
    board: str
    emulator: str        # the emulated board the probe ran on (the board itself when emulated)
    arena_bytes: int     # exact: eq_init succeeds with it and fails with one byte less on the MCU
    capacity: int        # RAM the runner firmware leaves for the arena (after .data, .bss and the stack)
    ram_size: int
    probe_stack_bytes: int

    @property
    def fits(self) -> bool:
        return self.arena_bytes <= self.capacity


@dataclass
class Analysis:
    model: str
    model_bytes: int
    weight_bytes: int
    macs: int
    ref: ArenaFigures
    host: ArenaFigures
    ops: list[OpCost] = field(default_factory=list)
    board: BoardArena | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("ref", "host"):
            d[k]["plan_overhead"] = round(getattr(self, k).plan_overhead, 4)
        if self.board is not None:
            d["board"]["fits"] = self.board.fits
        return d


def _live_bytes(v: RuntimeView) -> list[int]:
    """Per op: bytes of every activation buffer alive during it (planner's lifetimes and aliasing, each
    buffer 16-byte aligned as placed) plus the op's scratch."""
    n = v.n_ops
    tensors: dict[int, object] = {}

    def t(i):
        return tensors.get(i) or tensors.setdefault(i, v.tensor(i))

    root: dict[int, int] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(r: int, i: int) -> None:
        first[r] = min(first.get(r, i), i)
        last[r] = max(last.get(r, i), i)

    for i in v.inputs:
        if not t(i).is_const:
            root[i] = i
            touch(i, 0)
    for op in range(n):
        ins, outs = v.op_io(op)
        for i in ins:
            if i >= 0 and not t(i).is_const:
                touch(root.setdefault(i, i), op)
        for o in outs:
            root[o] = o
        if (v.op_name(op) in ALIAS_OPS and ins and ins[0] >= 0 and len(outs) == 1
                and not t(ins[0]).is_const and t(ins[0]).bytes == t(outs[0]).bytes):
            root[outs[0]] = root.setdefault(ins[0], ins[0])
        for o in outs:
            touch(root[o], op)
    for o in v.outputs:
        if not t(o).is_const:
            touch(root.setdefault(o, o), max(n - 1, 0))
    size: dict[int, int] = {}
    for i, r in root.items():
        size[r] = max(size.get(r, 0), _align(t(i).bytes))
    live = [_align(v.op_scratch(op)) for op in range(n)]
    for r, s in size.items():
        if r in first:
            for op in range(first[r], last[r] + 1):
                live[op] += s
    return live


def _figures(v: RuntimeView, live: list[int]) -> ArenaFigures:
    lay = v.layout()
    lb_op = int(np.argmax(live)) if live else -1
    return ArenaFigures(v.isa, v.arena_bytes, lay.planned_peak, lay.head, lay.persistent,
                        live[lb_op] if live else 0, lb_op)


def _schema_ops(data: bytes, label: str):
    from ai_edge_litert import schema_py_generated as fb

    try:
        m = fb.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # noqa: BLE001 - any decoding failure is a malformed model
        raise ModelError(f"{label}: cannot read the flatbuffer ({e})") from None
    weight = 0
    seen = set()
    sg = m.subgraphs[0]
    for t in sg.tensors or []:
        b = m.buffers[t.buffer] if 0 < t.buffer < len(m.buffers or []) else None
        if b is None or t.buffer in seen:
            continue
        seen.add(t.buffer)
        weight += len(b.data) if b.data is not None else int(b.size or 0)
    return sg.operators or [], weight


def _macs(op: str, options, in_shapes: list[tuple[int, ...] | None], out_shape: tuple[int, ...]) -> int:
    out = int(np.prod(out_shape, dtype=np.int64)) if out_shape else 1
    w = in_shapes[1] if len(in_shapes) > 1 else None
    if op == "CONV_2D" and w and len(w) == 4:
        return out * w[1] * w[2] * w[3]
    if op == "DEPTHWISE_CONV_2D" and w and len(w) == 4:
        return out * w[1] * w[2]
    if op == "FULLY_CONNECTED" and w and len(w) == 2:
        return out * w[1]
    if op in POOL_OPS and options is not None:
        return out * int(options.filterHeight) * int(options.filterWidth)
    if op == "MEAN" and in_shapes and in_shapes[0] is not None:
        return int(np.prod(in_shapes[0], dtype=np.int64))
    if op in LAYOUT_OPS:
        return 0
    return out


def board_arena(data: bytes, board: str) -> BoardArena:
    """The probe's exact arena for `board` beside the RAM its runner firmware leaves (DeviceError when the
    Cortex-M toolchain or QEMU is missing)."""
    from .device.build import load_board
    from .device.probe import arena_capacity, probe

    p = probe(data, board)
    return BoardArena(board, p.emulator, p.arena_bytes, arena_capacity(board), int(load_board(board)["memory"]["ram_size"]),
                      p.stack_bytes)


def analyze(model: str | Path | bytes, label: str | None = None, board: str | None = None) -> Analysis:
    """Arena (reference and host builds), weight bytes and per-op MACs / scratch of an INT8 .tflite; with
    `board`, also the exact arena on that board (see BoardArena)."""
    if isinstance(model, (str, Path)):
        label = label or str(model)
        try:
            data = Path(model).read_bytes()
        except OSError as e:
            raise ModelError(f"{model}: cannot read model ({e.strerror})") from None
    else:
        data, label = bytes(model), label or "<model bytes>"
    ref = RuntimeView(data, "ref", label)
    host = RuntimeView(data, "host", label)
    schema_ops, weight = _schema_ops(data, label)
    live_ref, live_host = _live_bytes(ref), _live_bytes(host)
    ops = []
    for i in range(ref.n_ops):
        ins, outs = ref.op_io(i)
        in_shapes = [ref.tensor(k).shape if k >= 0 else None for k in ins]
        out_shape = ref.tensor(outs[0]).shape if outs else ()
        name = ref.op_name(i)
        options = schema_ops[i].builtinOptions if i < len(schema_ops) else None
        ops.append(OpCost(i, name, list(out_shape), _macs(name, options, in_shapes, out_shape), ref.op_scratch(i),
                          host.op_scratch(i), live_ref[i]))
    return Analysis(label, len(data), weight, sum(o.macs for o in ops), _figures(ref, live_ref),
                    _figures(host, live_host), ops, board_arena(data, board) if board else None)


# ---------------------------------------------------------------------------------------------------------
# presentation
def _n(x: int) -> str:
    return f"{x:,}"


def render(a: Analysis, console) -> None:
    """Summary lines and the per-op table (rich)."""
    from rich.table import Table

    console.print(f"[bold]{a.model}[/]  {_n(a.model_bytes)} bytes, weights {_n(a.weight_bytes)} bytes, "
                  f"{len(a.ops)} ops, {_n(a.macs)} MACs")
    for tag, f in (("ref (microcontroller build)", a.ref), (f"host ({a.host.isa})", a.host)):
        console.print(f"arena {tag}: [bold]{_n(f.arena_bytes)}[/] bytes = planned {_n(f.head)} + persistent "
                      f"{_n(f.persistent)}")
        console.print(f"  plan peak {_n(f.planned_peak)} vs lower bound {_n(f.lower_bound)} at op {f.lower_bound_op} "
                      f"(+{100 * f.plan_overhead:.1f}%)")
    if a.board is not None:
        b = a.board
        where = b.board if b.emulator == b.board else f"{b.board}, measured on {b.emulator}"
        verdict = (f"[green]fits[/] ({_n(b.capacity - b.arena_bytes)} bytes to spare)" if b.fits else
                   f"[red]does not fit[/] (short by {_n(b.arena_bytes - b.capacity)} bytes)")
        console.print(f"arena on {where} (32-bit, exact): [bold]{_n(b.arena_bytes)}[/] bytes; the runner firmware "
                      f"leaves {_n(b.capacity)} of {_n(b.ram_size)} bytes of RAM for it: {verdict}")
    t = Table(show_edge=False, pad_edge=False)
    for col, just in (("#", "right"), ("op", "left"), ("output", "left"), ("MACs", "right"),
                      ("scratch ref", "right"), (f"scratch {a.host.isa}", "right"), ("live ref", "right")):
        t.add_column(col, justify=just)
    for o in a.ops:
        t.add_row(str(o.index), o.op, "x".join(map(str, o.output_shape)) or "scalar", _n(o.macs),
                  _n(o.scratch_ref), _n(o.scratch_host), _n(o.live_ref))
    console.print(t)
    console.print("live ref: activation and scratch bytes that must coexist while the op runs; its maximum is "
                  "the lower bound any memory plan needs.")
