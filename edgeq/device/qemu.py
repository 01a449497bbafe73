"""Emulated boards: qemu-system-arm in the background, so an emulated board behaves like a plugged-in one.

    p = ensure_running(board)      # starts it (or reuses the running one); p.url = "socket://127.0.0.1:PORT"
    system_reset(board.name)       # through the QEMU monitor: CPU and devices reset, RAM (model slots) kept
    stop(board.name)               # `edgeq boards stop NAME`

QEMU gets the board's machine and args (instruction counting: `-icount shift=0`), the firmware .elf from
edgeq.device.build, `-display none`, UART0 on a loopback TCP server (`wait=on`: the guest starts when the
launcher first connects, so no early output is lost; behind a mux chardev, see _command) and the monitor on
another loopback socket. A state
file per board (pid, ports, firmware hash) lives in $EDGEQ_STATE_DIR, else $XDG_RUNTIME_DIR/edgeq/boards,
else ~/.cache/edgeq/boards. A board is started again when its process died or the firmware changed.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DeviceError
from .boards import Board, get_board

QEMU = os.environ.get("EDGEQ_QEMU", "qemu-system-arm")
START_TIMEOUT = 15.0


def state_dir() -> Path:
    if os.environ.get("EDGEQ_STATE_DIR"):
        d = Path(os.environ["EDGEQ_STATE_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        d = Path(os.environ["XDG_RUNTIME_DIR"]) / "edgeq" / "boards"
    else:
        d = Path.home() / ".cache" / "edgeq" / "boards"
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class Running:
    board: str
    pid: int
    serial_port: int
    monitor_port: int
    firmware: str
    firmware_sha256: str
    started: float

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.serial_port}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """The pid is a live qemu-system process (not a reused pid of something else)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return b"qemu-system" in cmd and stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def _locked(name: str):
    with open(state_dir() / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _state_path(name: str) -> Path:
    return state_dir() / f"{name}.json"


def status(name: str) -> Running | None:
    """The running instance of board `name`, or None (a stale state file is removed)."""
    p = _state_path(name)
    try:
        r = Running(**json.loads(p.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(r.pid):
        p.unlink(missing_ok=True)
        return None
    return r


def _firmware_for(board: Board, firmware: str | Path | None) -> Path:
    if firmware is not None:
        return Path(firmware)
    try:
        from .build import build_firmware
    except ImportError as e:
        raise DeviceError(f"{board.name}: the firmware builder is not available ({e})") from None
    return Path(build_firmware(board.name))


def _command(board: Board, elf: Path, serial_port: int, monitor_port: int) -> list[str]:
    # UART0 through a mux chardev: the mux reads ahead up to 32 bytes and hands the next one to the UART
    # inside the guest's read of DATA, where a plain socket chardev waits for another main-loop turn per byte
    # (uploads 4 -> ~40 KB/s with the firmware sleeping between bytes). -echr 256 turns the mux's Ctrl-A
    # escape off: no byte equals 256, so binary frames pass through untouched.
    return [QEMU, "-M", board.qemu_machine, *board.qemu_args, "-kernel", str(elf), "-display", "none",
            "-chardev", f"socket,id=uart0,host=127.0.0.1,port={serial_port},server=on,wait=on,nodelay=on,mux=on",
            "-serial", "chardev:uart0", "-echr", "256",
            "-monitor", f"tcp:127.0.0.1:{monitor_port},server=on,wait=off"]


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, board: str) -> None:
    """Connects once to QEMU's UART server (which lets the guest start); raises with QEMU's log if it died."""
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise DeviceError(f"{board}: QEMU exited with code {proc.returncode} at start: {' | '.join(tail)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DeviceError(f"{board}: QEMU did not open its UART port {port} within {START_TIMEOUT:g} s")


def _start(board: Board, elf: Path) -> Running:
    if not elf.is_file():
        raise DeviceError(f"{board.name}: firmware {elf} not found")
    log = state_dir() / f"{board.name}.log"
    last: DeviceError | None = None
    for _ in range(3):  # a port taken between choosing and binding: choose again
        sp, mp = _free_port(), _free_port()
        if sp == mp:
            continue
        with open(log, "w") as out:
            try:
                proc = subprocess.Popen(_command(board, elf, sp, mp), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise DeviceError(f"{board.name}: cannot start {QEMU}: {e.strerror}") from None
        try:
            _wait_listening(proc, sp, log, board.name)
        except DeviceError as e:
            last = e
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            continue
        r = Running(board.name, proc.pid, sp, mp, str(elf), _sha256(elf), time.time())
        _state_path(board.name).write_text(json.dumps(asdict(r)))
        return r
    raise last or DeviceError(f"{board.name}: could not start QEMU")


def ensure_running(board: str | Board, firmware: str | Path | None = None) -> Running:
    """The board's QEMU instance, started when none runs, or restarted when its firmware changed."""
    board = get_board(board)
    if not board.emulated:
        raise DeviceError(f"{board.name} is a real board: connect it and give --port (or EDGEQ_PORT)")
    elf = _firmware_for(board, firmware)
    digest = _sha256(elf)
    with _locked(board.name):
        r = status(board.name)
        if r is not None and r.firmware_sha256 == digest:
            return r
        if r is not None:
            _kill(r)
        return _start(board, elf)


def _kill(r: Running) -> None:
    if not _alive(r.pid):
        return
    os.kill(r.pid, signal.SIGTERM)
    end = time.monotonic() + 3
    while _alive(r.pid) and time.monotonic() < end:
        time.sleep(0.02)
    if _alive(r.pid):
        os.kill(r.pid, signal.SIGKILL)
    _state_path(r.board).unlink(missing_ok=True)


def stop(name: str) -> bool:
    """Stops the board's QEMU; False when it was not running."""
    with _locked(name):
        r = status(name)
        if r is None:
            return False
        _kill(r)
        _state_path(name).unlink(missing_ok=True)
        return True


def monitor(name: str, command: str, timeout: float = 5.0) -> str:
    """Sends one command to the running board's QEMU monitor; returns what the monitor printed."""
    r = status(name)
    if r is None:
        raise DeviceError(f"{name}: not running")
    try:
        with socket.create_connection(("127.0.0.1", r.monitor_port), timeout=timeout) as s:
            out = _until_prompt(s, timeout)
            s.sendall(command.encode() + b"\n")
            out = _until_prompt(s, timeout)
    except OSError as e:
        raise DeviceError(f"{name}: QEMU monitor on port {r.monitor_port}: {e}") from None
    return out.decode(errors="replace")


def _until_prompt(s: socket.socket, timeout: float) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while not buf.rstrip().endswith(b"(qemu)") and time.monotonic() < end:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def system_reset(name: str) -> None:
    """Resets the emulated CPU and devices; RAM (and so the model slots) keeps its contents."""
    monitor(name, "system_reset")
