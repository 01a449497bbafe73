"""The runner firmware: every board compiles and links; on the emulated qemu-an386 (Cortex-M4F) and qemu-an547
(Cortex-M55) it boots under QEMU and serves boards/PROTOCOL.md, spoken here by a minimal raw-socket client (on
purpose independent of edgeq.device's client): the device's outputs and every intermediate op output equal
runtime_c on the host byte for byte, profiles repeat exactly, and the A/B slots survive a reset mid-upload."""
from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeq.device.build import board_names, build_firmware, firmware_size, load_board

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
EMULATED = ["qemu-an386", "qemu-an547"]


@pytest.mark.parametrize("board", board_names())
def test_firmware_builds(board):
    elf = build_firmware(board)
    sizes = firmware_size(board)
    assert elf.is_file() and (elf.parent / "firmware.bin").stat().st_size > 1000
    assert sizes["runtime"] > 20_000 and sizes["firmware"] > 1000 and sizes["board"] > 100
    # the parts add up to the image (padding between input sections aside)
    assert abs(sizes["text"] + sizes["data"] - sum(sizes[k] for k in ("runtime", "firmware", "board", "libc"))) < 256
    t0 = time.perf_counter()
    assert build_firmware(board) == elf
    assert time.perf_counter() - t0 < 1.0, "an unchanged build must come from the cache"


def test_board_descriptions_are_complete():
    for name in board_names():
        b = load_board(name)
        assert b["name"] == name
        assert b["counter"]["unit"] in ("instructions", "cycles") and b["simd"] in ("dsp", "mve", "none")
        assert ("qemu" in b) == bool(b["emulated"]) and ("usb" in b) != bool(b["emulated"])
        s = b["slots"]
        assert s["a"] % s["erase_size"] == 0 and s["b"] % s["erase_size"] == 0 and s["size"] % s["erase_size"] == 0
        assert abs(s["a"] - s["b"]) >= s["size"]


# ---- a minimal protocol client -------------------------------------------------------------------------
NAK, ERR = 0xFE, 0xFF


class Link:
    def __init__(self, sock: socket.socket):
        self.sock, self.seq = sock, 0

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    @staticmethod
    def frame(t: int, seq: int, payload: bytes) -> bytes:
        body = struct.pack("<BBH", t, seq, len(payload)) + payload
        return b"\xe5\x51" + body + struct.pack("<I", zlib.crc32(body))

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            assert chunk, "board closed the link"
            out += chunk
        return out

    def recv(self) -> tuple[int, int, bytes]:
        hdr = self._read(6)
        assert hdr[:2] == b"\xe5\x51", hdr
        t, seq, n = struct.unpack("<BBH", hdr[2:])
        rest = self._read(n + 4)
        assert zlib.crc32(hdr[2:] + rest[:n]) == struct.unpack("<I", rest[n:])[0]
        return t, seq, rest[:n]

    def request(self, t: int, payload: bytes = b"", *, seq: int | None = None) -> tuple[int, bytes]:
        if seq is None:
            self.seq = (self.seq + 1) & 0xFF
            seq = self.seq
        self.send_raw(self.frame(t, seq, payload))
        rt, rseq, body = self.recv()
        assert rseq == seq
        return rt, body

    def ok(self, t: int, payload: bytes = b"") -> bytes:
        rt, body = self.request(t, payload)
        assert rt == t | 0x80, f"command {t:#x} failed: {body!r}"
        return body


def upload(link: Link, model: bytes, max_payload: int, stop_after: int | None = None) -> None:
    link.ok(0x10, struct.pack("<II", len(model), zlib.crc32(model)))
    step = max_payload - 4
    for i, off in enumerate(range(0, len(model), step)):
        if stop_after is not None and i == stop_after:
            return
        link.ok(0x11, struct.pack("<I", off) + model[off:off + step])
    link.ok(0x12)


class Qemu:
    """One emulated board: UART on a loopback TCP socket, monitor on a unix socket (for system_reset)."""

    def __init__(self, board: str, tmp: Path):
        b = load_board(board)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.mon_path = str(tmp / "mon.sock")
        self.proc = subprocess.Popen(
            ["qemu-system-arm", "-M", b["qemu"]["machine"], *b["qemu"]["args"], "-kernel", str(build_firmware(board)),
             "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on", "-display", "none",
             "-monitor", f"unix:{self.mon_path},server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "QEMU did not start"
                time.sleep(0.05)
        sock.settimeout(20)
        self.link = Link(sock)

    def monitor(self, command: str) -> None:
        m = socket.socket(socket.AF_UNIX)
        m.connect(self.mon_path)
        m.sendall(command.encode() + b"\n")
        time.sleep(0.3)
        m.close()

    def close(self) -> None:
        self.link.sock.close()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def digits_int8():
    import edgeq
    from digits import digits_split

    x_tr, _, x_te, _ = digits_split()
    model = edgeq.convert(ROOT / "edgeq" / "examples" / "digits_cnn.tflite", calib=x_tr[:64].transpose(0, 2, 3, 1),
                          progress=False)
    return bytes(model), x_te


@pytest.mark.parametrize("board", EMULATED)
def test_protocol_end_to_end_on_qemu(board, digits_int8, tmp_path):
    from edgeq.introspect import RuntimeView
    from edgeq.runtime import Interpreter

    model, x_te = digits_int8
    host = Interpreter(model)
    view = RuntimeView(model)
    q = Qemu(board, tmp_path)
    try:
        link = q.link
        assert link.ok(0x01) == b"\x01edgeq"
        info = link.ok(0x02)
        max_payload, arena_cap, slot_cap, clock, counter, _flags = struct.unpack("<IIIIBB", info[:18])
        name, version = info[18:].split(b"\0")[:2]
        b = load_board(board)
        assert (name.decode(), clock, counter, max_payload) == (board, b["clock_hz"], 1, 1024)
        assert arena_cap > 3_000_000 and slot_cap == b["slots"]["size"] - 256 and version
        assert link.ok(0x13)[0] == 0  # fresh board: no model

        upload(link, model, max_payload)
        has, size, crc, gen, slot = struct.unpack("<BIIIB", link.ok(0x13))
        assert (has, size, crc, gen, slot) == (1, len(model), zlib.crc32(model), 1, 0)
        arena_used, n_in, n_out, n_ops = struct.unpack("<IBBH", link.ok(0x14))
        assert (n_in, n_out, n_ops) == (1, 1, view.n_ops) and 0 < arena_used < 64 * 1024  # 32-bit tables: not the host figure

        scale, zp = host.inputs[0].scale, host.inputs[0].zero_point
        rng = np.random.default_rng(0)
        xs = [np.clip(np.round(x_te[i].transpose(1, 2, 0)[None] / scale + zp), -128, 127).astype(np.int8)
              for i in range(3)] + [rng.integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)]
        totals, profiles = [], []
        for x in xs:
            link.ok(0x20, struct.pack("<BI", 0, 0) + x.tobytes())
            (total,) = struct.unpack("<I", link.ok(0x21, struct.pack("<H", 0xFFFF)))
            want = host.run(x)[0].tobytes()
            got = link.ok(0x22, struct.pack("<BIH", 0, 0, len(want)))
            assert got == want, f"{board}: device output differs from the host runtime for input {len(totals)}"
            totals.append(total)
            # profile: one entry per op, the per-op counts inside the total
            prof = link.ok(0x23, struct.pack("<HH", 0, 0xFFFF))
            (n,) = struct.unpack("<H", prof[:2])
            entries = [struct.unpack("<HHI", prof[2 + 8 * i:10 + 8 * i]) for i in range(n)]
            assert [e[0] for e in entries] == list(range(n_ops))
            assert [e[1] for e in entries] == [view.op_builtin(i) for i in range(n_ops)]
            assert 0 < sum(e[2] for e in entries) <= total
            profiles.append(prof)
        # same input twice: identical instruction counts, per op and in total
        link.ok(0x20, struct.pack("<BI", 0, 0) + xs[0].tobytes())
        again = struct.unpack("<I", link.ok(0x21, struct.pack("<H", 0xFFFF)))[0]
        assert again == totals[0] and 10_000 < again < 10_000_000
        assert link.ok(0x23, struct.pack("<HH", 0, 0xFFFF)) == profiles[0]

        # every op's output, stopped right after that op, equals the host's
        _, captured = view.run_capture([xs[1]])
        for op in range(n_ops):
            # inputs first on every run: the planner may reuse the input's memory once it is consumed
            link.ok(0x20, struct.pack("<BI", 0, 0) + xs[1].tobytes())
            link.ok(0x21, struct.pack("<H", op))
            tinfo = link.ok(0x26, struct.pack("<BHB", 2, op, 0))
            ndim = tinfo[1]
            nbytes = struct.unpack("<I", tinfo[2 + 4 * ndim:6 + 4 * ndim])[0]
            want = captured[view.op_io(op)[1][0]].tobytes()
            assert nbytes == len(want)
            got = b"".join(link.ok(0x25, struct.pack("<HBIH", op, 0, off, min(1000, nbytes - off)))
                           for off in range(0, nbytes, 1000))
            assert got == want, f"{board}: op {op} output differs"
        rt, body = link.request(0x25, struct.pack("<HBIH", 0, 0, 0, 4))
        assert rt == ERR and body[0] == 6  # op 0's output is stale after the run that stopped at the last op

        arena, cap, stack_used, stack_size, code = struct.unpack("<IIIII", link.ok(0x24))
        sizes = firmware_size(board)
        assert (arena, cap) == (arena_used, arena_cap) and 0 < stack_used < stack_size
        assert code == sizes["text"] + sizes["data"]

        # link reliability: a corrupted frame is NAKed; a retransmission (same seq) is answered from memory
        bad = bytearray(link.frame(0x02, 77, b""))
        bad[-1] ^= 0xFF
        link.send_raw(bytes(bad))
        assert link.recv()[:2] == (NAK, 77)
        first = link.request(0x21, struct.pack("<H", 0xFFFF), seq=78)
        assert link.request(0x21, struct.pack("<H", 0xFFFF), seq=78) == first

        # A/B slots: a reset in the middle of an upload, and an upload whose data does not match its CRC, both
        # leave the committed model active and running
        other = model[:-1] + bytes([model[-1] ^ 1])
        upload(link, other, max_payload, stop_after=2)
        q.monitor("system_reset")
        assert link.ok(0x01) == b"\x01edgeq"
        assert struct.unpack("<BIIIB", link.ok(0x13)) == (1, len(model), zlib.crc32(model), 1, 0)
        link.ok(0x10, struct.pack("<II", len(other), zlib.crc32(model)))
        for off in range(0, len(other), max_payload - 4):
            link.ok(0x11, struct.pack("<I", off) + other[off:off + max_payload - 4])
        rt, body = link.request(0x12)
        assert rt == ERR and body[0] == 3
        assert struct.unpack("<BIIIB", link.ok(0x13)) == (1, len(model), zlib.crc32(model), 1, 0)
        link.ok(0x14)
        link.ok(0x20, struct.pack("<BI", 0, 0) + xs[2].tobytes())
        link.ok(0x21, struct.pack("<H", 0xFFFF))
        want = host.run(xs[2])[0].tobytes()
        assert link.ok(0x22, struct.pack("<BIH", 0, 0, len(want))) == want
        # a good upload goes to the other slot with the next generation
        upload(link, model, max_payload)
        assert struct.unpack("<BIIIB", link.ok(0x13)) == (1, len(model), zlib.crc32(model), 2, 1)
    finally:
        q.close()
