"""Board descriptions: boards/<name>/board.toml (keys defined in boards/README.md) as Board objects.

    list_boards() -> [Board, ...]          sorted by name
    get_board("qemu-an386") -> Board       DeviceError listing the known names otherwise

$EDGEQ_BOARDS_DIR points at another boards folder (tests, out-of-tree boards).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeviceError

BOARDS_DIR = Path(__file__).resolve().parents[2] / "boards"
FLASHERS = ("qemu", "pyocd", "openocd", "picotool", "esptool")


def boards_dir() -> Path:
    return Path(os.environ.get("EDGEQ_BOARDS_DIR") or BOARDS_DIR)


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    emulated: bool
    cpu: str
    clock_hz: int
    simd: str
    flash_size: int
    ram_size: int
    slot_size: int
    counter: str                      # "instructions" or "cycles"
    flasher: str                      # one of FLASHERS
    flasher_args: tuple[str, ...] = ()
    usb_ids: tuple[tuple[int, int], ...] = ()
    qemu_machine: str | None = None
    qemu_args: tuple[str, ...] = ()
    path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def max_model_bytes(self) -> int:
        return max(0, self.slot_size - 256)  # each slot starts with a 256-byte header page


def _need(d: dict, key: str, where: str, kind=None):
    if key not in d:
        raise DeviceError(f"{where}: missing key {key!r} (see boards/README.md)")
    v = d[key]
    if kind is not None and not isinstance(v, kind):
        raise DeviceError(f"{where}: key {key!r} should be {kind.__name__ if isinstance(kind, type) else kind}")
    return v


def load_board(path: Path) -> Board:
    """One board.toml; DeviceError naming the file and key when it is malformed."""
    where = str(path)
    try:
        d = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DeviceError(f"{where}: cannot read board description ({e})") from None
    mem, slots = d.get("memory", {}), d.get("slots", {})
    flasher = d.get("flasher", {})
    kind = _need(flasher, "kind", f"{where} [flasher]", str)
    if kind not in FLASHERS:
        raise DeviceError(f"{where}: flasher {kind!r} unknown (choose from {', '.join(FLASHERS)})")
    usb = d.get("usb", {})
    pids = usb.get("pid", [])
    pids = pids if isinstance(pids, list) else [pids]
    ids = tuple((int(usb["vid"]), int(p)) for p in pids) if "vid" in usb else ()
    q = d.get("qemu", {})
    emulated = bool(d.get("emulated", False))
    if emulated and "machine" not in q:
        raise DeviceError(f"{where}: emulated board without [qemu] machine")
    return Board(
        name=_need(d, "name", where, str), description=d.get("description", ""), emulated=emulated,
        cpu=d.get("cpu", d.get("mcpu", "?")), clock_hz=int(_need(d, "clock_hz", where, int)),
        simd=d.get("simd", "none"), flash_size=int(mem.get("flash_size", 0)), ram_size=int(mem.get("ram_size", 0)),
        slot_size=int(slots.get("size", 0)), counter=d.get("counter", {}).get("unit", "cycles"), flasher=kind,
        flasher_args=tuple(str(a) for a in flasher.get("args", [])), usb_ids=ids, qemu_machine=q.get("machine"),
        qemu_args=tuple(str(a) for a in q.get("args", [])), path=path.parent, raw=d)


def list_boards() -> list[Board]:
    root = boards_dir()
    return [load_board(p) for p in sorted(root.glob("*/board.toml"))]


def get_board(name) -> Board:
    """The board called `name` (a Board passes through)."""
    if isinstance(name, Board):
        return name
    p = boards_dir() / str(name) / "board.toml"
    if p.is_file():
        return load_board(p)
    known = ", ".join(b.name for b in list_boards()) or "none"
    raise DeviceError(f"unknown board {name!r} (known boards: {known})")
