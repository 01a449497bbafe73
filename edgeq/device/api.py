"""What the board verbs do, as plain functions (the CLI is a thin layer over these).

    flash("model_int8.tflite", "qemu-an386")                        -> FlashResult (uploads only if the CRC differs)
    run("model_int8.tflite", "qemu-an547", [x])                     -> [y, ...]  (x may stack N samples)
    profile("model_int8.tflite", "qemu-an386")                       -> Profile (.to_json())
    validate("model_int8.tflite", "qemu-an386", samples)             -> ValidationResult (first diverging layer)

`board` is a name from boards/ or a Board. An emulated board is started in the background on first use and
keeps running (edgeq.device.qemu); a real one is reached on `port` (a path or pyserial URL, "auto" for its
USB id, default $EDGEQ_PORT). `port` also overrides where an emulated board is reached.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DeviceError, ModelError
from . import frame as F
from .boards import Board, get_board
from .client import ALL_OPS, Client, DeviceInfo, ModelInfo, tensor_dtype
from .transport import open_port, resolve_port

Progress = Callable[[int, int], None]


def _model_bytes(model) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "<model bytes>"
    try:
        return Path(model).read_bytes(), str(model)
    except OSError as e:
        raise ModelError(f"{model}: cannot read model ({e.strerror})") from None


@contextmanager
def session(board, port: str | None = None, **client_options):
    """A connected Client for the board (HELLO + INFO done, board name checked)."""
    b = get_board(board)
    if port is None and b.emulated:
        from .qemu import ensure_running

        url = ensure_running(b).url
    else:
        url = resolve_port(port, b)
    client = Client(open_port(url), board=b.name, **client_options)
    try:
        info = client.connect()
        if info.board != b.name:
            raise DeviceError(f"{url} is a {info.board!r} board, not {b.name!r}")
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------------
# flash
@dataclass
class FlashResult:
    board: str
    model: str
    size: int
    crc32: int
    uploaded: bool          # False: the board already had this model (same size and CRC-32)
    generation: int
    slot: int
    seconds: float
    arena_used: int
    info: DeviceInfo | None = None


def ensure_model(client: Client, data: bytes, progress: Progress | None = None) -> tuple[ModelInfo, bool]:
    """Uploads `data` unless the board's active model already has its size and CRC-32."""
    mi = client.model_info()
    if mi.has_model and mi.size == len(data) and mi.crc32 == F.crc32(data):
        return mi, False
    return client.upload(data, progress=progress), True


def flash_firmware(board, port: str | None = None, elf: str | Path | None = None, runner=subprocess.run) -> list[str]:
    """Programs the firmware image through the board's flasher (pyocd, openocd, picotool, esptool); returns
    the command run. An emulated board needs none (QEMU loads the .elf when it starts)."""
    b = get_board(board)
    if b.flasher == "qemu":
        return []
    if elf is None:
        from .build import build_firmware

        elf = build_firmware(b.name)
    elf = Path(elf)
    tool = {"pyocd": "pyocd", "openocd": "openocd", "picotool": "picotool", "esptool": "esptool.py"}[b.flasher]
    if shutil.which(tool) is None:
        raise DeviceError(f"{b.name}: flashing its firmware needs {tool}, which is not on PATH")
    subst = {"elf": str(elf), "bin": str(elf.with_suffix(".bin")), "port": port or ""}
    cmd = [tool, *(a.format(**subst) for a in b.flasher_args)]
    r = runner(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout or "").strip().splitlines()[-3:])
        raise DeviceError(f"{b.name}: {tool} failed with exit code {r.returncode}: {tail}")
    return cmd


def flash(model, board, port: str | None = None, firmware: bool = False, progress: Progress | None = None,
          **client_options) -> FlashResult:
    """Puts the model on the board (only when its copy differs by CRC-32), then loads it to check it runs.

    firmware=True first programs the firmware image with the board's flasher (real boards)."""
    data, label = _model_bytes(model)
    b = get_board(board)
    if firmware and not b.emulated:
        flash_firmware(b, port=resolve_port(port, b) if port != "auto" else None)
    with session(b, port, **client_options) as c:
        info = c._info
        if info.slot_capacity and len(data) > info.slot_capacity:
            raise DeviceError(f"{b.name}: {label} is {len(data):,} bytes; the board's model slot holds "
                              f"{info.slot_capacity:,}")
        t0 = time.monotonic()
        mi, uploaded = ensure_model(c, data, progress)
        seconds = time.monotonic() - t0
        li = c.load()
    return FlashResult(b.name, label, len(data), F.crc32(data), uploaded, mi.generation, mi.slot,
                       seconds, li.arena_used, info)


# ---------------------------------------------------------------------------------------------------------
# run
@dataclass(frozen=True)
class IoSpec:
    shape: tuple[int, ...]
    dtype: np.dtype
    bytes: int
    scale: float
    zero_point: int


class Loaded:
    """A model loaded on a connected board: its inputs and outputs, and one-sample runs."""

    def __init__(self, client: Client, data: bytes, progress: Progress | None = None):
        self.client = client
        self.model_info, self.uploaded = ensure_model(client, data, progress)
        self.load = client.load()
        self.inputs = [self._spec(0, i) for i in range(self.load.n_inputs)]
        self.outputs = [self._spec(1, i) for i in range(self.load.n_outputs)]

    def _spec(self, kind: int, i: int) -> IoSpec:
        d = self.client.tensor_info(kind, i)
        return IoSpec(d.shape, tensor_dtype(d.type), d.bytes, d.scale, d.zero_point)

    def run_one(self, xs: list[np.ndarray], stop_after: int = ALL_OPS) -> int:
        """Writes one sample's inputs and invokes; returns the board's count."""
        for k, (x, s) in enumerate(zip(xs, self.inputs)):
            a = np.ascontiguousarray(x, dtype=s.dtype)
            if a.nbytes != s.bytes:
                raise DeviceError(f"{self.client.board}: input {k} needs {s.bytes} bytes {list(s.shape)}, "
                                  f"got {list(a.shape)}")
            self.client.write_input(k, a.tobytes())
        return self.client.invoke(stop_after)

    def read_outputs(self) -> list[np.ndarray]:
        return [np.frombuffer(self.client.read_output(k, s.bytes), dtype=s.dtype).reshape(s.shape).copy()
                for k, s in enumerate(self.outputs)]


def _as_samples(inputs, specs: list[IoSpec]) -> tuple[list[list[np.ndarray]], bool]:
    """One array per model input (of the input's shape, or stacked [N, ...]) -> samples, batched?"""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    inputs = list(inputs)
    if len(inputs) != len(specs):
        raise DeviceError(f"the model takes {len(specs)} input(s), got {len(inputs)}")
    arrays, batched = [], False
    for k, (a, s) in enumerate(zip(inputs, specs)):
        a = np.asarray(a)
        if tuple(a.shape) == s.shape:
            a = a[None]
        elif tuple(a.shape[1:]) == s.shape[1:] or tuple(a.shape[1:]) == s.shape:
            batched = True
        else:
            raise DeviceError(f"input {k}: array of shape {list(a.shape)} does not fit the model's {list(s.shape)}")
        if np.issubdtype(a.dtype, np.floating) and np.issubdtype(s.dtype, np.integer):
            info = np.iinfo(s.dtype)
            a = np.clip(np.round(a / s.scale) + s.zero_point, info.min, info.max)
        arrays.append(a.astype(s.dtype).reshape((a.shape[0], *s.shape)))
    n = {a.shape[0] for a in arrays}
    if len(n) > 1:
        raise DeviceError("the inputs have different sample counts")
    return [[a[i] for a in arrays] for i in range(n.pop())], batched


def run(model, board, inputs, port: str | None = None, progress: Progress | None = None,
        counts: list | None = None, **client_options) -> list[np.ndarray]:
    """Runs the model on the board: one array per input, of the input's shape (one run) or stacked
    [N, *shape[1:]] / [N, *shape] (N runs, outputs stacked the same way). Float data given to an integer
    input is quantized with its scale and zero point. `counts`, when a list, receives each run's count."""
    data, _ = _model_bytes(model)
    with session(board, port, **client_options) as c:
        m = Loaded(c, data, progress)
        samples, batched = _as_samples(inputs, m.inputs)
        outs: list[list[np.ndarray]] = [[] for _ in m.outputs]
        for xs in samples:
            n = m.run_one(xs)
            if counts is not None:
                counts.append(n)
            for k, y in enumerate(m.read_outputs()):
                outs[k].append(y)
    if not batched:
        return [o[0] for o in outs]
    return [np.concatenate(o) if o[0].shape[:1] == (1,) else np.stack(o) for o in outs]


# ---------------------------------------------------------------------------------------------------------
# profile
@dataclass
class Layer:
    index: int
    op: str
    count: int
    output_shape: list[int]
    macs: int | None
    share: float            # of the total
    seconds: float          # count at the board's clock


@dataclass
class Profile:
    board: str
    model: str
    counter: str            # "cycles" or "instructions"
    clock_hz: int
    total: int              # INVOKE's own count (includes the interpreter loop between ops)
    arena_bytes: int
    arena_capacity: int
    stack_bytes: int
    stack_size: int
    code_bytes: int
    model_bytes: int
    layers: list[Layer] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.total / self.clock_hz if self.clock_hz else 0.0

    @property
    def macs(self) -> int | None:
        ms = [layer.macs for layer in self.layers]
        return None if any(m is None for m in ms) else sum(ms)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = self.seconds
        d["macs"] = self.macs
        return d

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)


def _op_names() -> dict[int, str]:
    from ..introspect import op_name

    cache: dict[int, str] = {}

    class Names(dict):
        def __missing__(self, builtin):
            try:
                cache[builtin] = op_name(builtin, "ref")
            except Exception:  # noqa: BLE001 - a name is a nicety; the number is still shown
                cache[builtin] = f"builtin {builtin}"
            return cache[builtin]

    return Names()


def _analysis(data: bytes, label: str):
    """Per-op output shapes and MACs from edgeq.analyze (None when it cannot analyse the model)."""
    try:
        from ..analyze import analyze

        return analyze(data, label)
    except Exception:  # noqa: BLE001 - the device figures stand on their own
        return None


def profile(model, board, inputs=None, port: str | None = None, progress: Progress | None = None,
            seed: int = 0, **client_options) -> Profile:
    """Runs one inference on the board and reads its per-op counts and memory figures. Without inputs a
    random sample (seeded) is used: the count does not depend on the data for these kernels."""
    data, label = _model_bytes(model)
    b = get_board(board)
    with session(b, port, **client_options) as c:
        info = c._info
        m = Loaded(c, data, progress)
        if inputs is None:
            rng = np.random.default_rng(seed)
            xs = [_random(rng, s) for s in m.inputs]
        else:
            xs = _as_samples(inputs, m.inputs)[0][0]
        total = m.run_one(xs)
        ops = c.op_counts(m.load.n_ops)
        mem = c.memory()
    a = _analysis(data, label)
    names = _op_names()
    layers = []
    for o in ops:
        cost = a.ops[o.index] if a is not None and o.index < len(a.ops) else None
        layers.append(Layer(o.index, cost.op if cost else names[o.builtin], o.count,
                            list(cost.output_shape) if cost else [], cost.macs if cost else None,
                            o.count / total if total else 0.0, o.count / info.clock_hz if info.clock_hz else 0.0))
    return Profile(b.name, label, info.counter, info.clock_hz, total, mem.arena_used, mem.arena_capacity,
                   mem.stack_used, mem.stack_size, mem.code_bytes, len(data), layers)


def _random(rng, s: IoSpec) -> np.ndarray:
    if np.issubdtype(s.dtype, np.integer):
        i = np.iinfo(s.dtype)
        return rng.integers(i.min, i.max, s.shape, endpoint=True).astype(s.dtype)
    return rng.standard_normal(s.shape).astype(s.dtype)


# ---------------------------------------------------------------------------------------------------------
# validate
@dataclass
class Divergence:
    sample: int
    op: int
    op_name: str
    output: int             # which output of the op
    tensor: str
    shape: list[int]
    differing: int          # elements
    elements: int
    max_abs_diff: float


@dataclass
class ValidationResult:
    board: str
    model: str
    samples: int
    exact: int              # samples whose every output is byte-identical with the host runtime
    counts: list[int] = field(default_factory=list)
    divergence: Divergence | None = None

    @property
    def ok(self) -> bool:
        return self.samples > 0 and self.exact == self.samples

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _first_divergence(m: Loaded, data: bytes, label: str, xs, sample: int) -> Divergence | None:
    """Re-runs the sample on both sides: the lowest op whose output differs (INVOKE stop_after=op and
    GET_OP_OUTPUT on the board, the op hook's captures on the host)."""
    from ..introspect import RuntimeView

    view = RuntimeView(data, "host", label)
    _, ours = view.run_capture(xs)
    for op in range(view.n_ops):
        m.run_one(xs, stop_after=op)
        for k, idx in enumerate(view.op_io(op)[1]):
            if idx not in ours:
                continue
            d = m.client.tensor_info(2, op, k)
            dev = np.frombuffer(m.client.read_op_output(op, k, d.bytes), dtype=tensor_dtype(d.type))
            host = ours[idx].reshape(-1)
            if dev.shape != host.shape or dev.tobytes() != host.tobytes():
                t = view.tensor(idx)
                n = int((dev != host).sum()) if dev.shape == host.shape else max(dev.size, host.size)
                diff = (float(np.abs(dev.astype(np.int64) - host.astype(np.int64)).max())
                        if dev.shape == host.shape and dev.dtype.kind in "iu" else float("nan"))
                return Divergence(sample, op, view.op_name(op), k, t.name, list(t.shape), n, host.size, diff)
    return None


def validate(model, board, inputs=None, port: str | None = None, random: int = 10, seed: int = 0,
             progress: Progress | None = None, **client_options) -> ValidationResult:
    """Runs samples on the board and on the host runtime (runtime_c through cffi) and compares every output
    byte for byte. `inputs`: one array per model input (stacked [N, ...] for N samples), a .npy/.npz file or
    a folder (edgeq.compare.load_inputs); None: `random` seeded random samples. On the first sample that
    differs, locates the first op whose output differs."""
    from ..runtime import Interpreter

    data, label = _model_bytes(model)
    host = Interpreter(data)
    host.source = label
    b = get_board(board)
    with session(b, port, **client_options) as c:
        m = Loaded(c, data, progress)
        if inputs is None:
            rng = np.random.default_rng(seed)
            samples = [[_random(rng, s) for s in m.inputs] for _ in range(random)]
        elif isinstance(inputs, (str, Path)):
            from ..compare import load_inputs

            samples = load_inputs(inputs, host.inputs)
        else:
            samples = _as_samples(inputs, m.inputs)[0]
        result = ValidationResult(b.name, label, 0, 0)
        for s, xs in enumerate(samples):
            result.counts.append(m.run_one(xs))
            dev = m.read_outputs()
            ref = host.run([np.asarray(x).reshape(t.shape) for x, t in zip(xs, host.inputs)])
            same = all(d.tobytes() == r.tobytes() for d, r in zip(dev, ref))
            result.samples += 1
            result.exact += same
            if not same and result.divergence is None:
                result.divergence = _first_divergence(m, data, label, xs, s)
    return result
