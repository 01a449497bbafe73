"""Fault tests: a proxy between host and board that drops, duplicates and corrupts ~1 % of the bytes, board resets
and dropped connections in the middle of an upload. An upload must end with the exact model in place or a clean
DeviceError, never with a corrupt model marked good, and the previous model must stay in place and running.

Each runs against tests/fake_board.py (fast, the same protocol logic) and against the real firmware on
qemu-an386 (marked `qemu`; the reset there is the QEMU monitor's system_reset, which keeps RAM and so the
model slots). The firmware NAKs a frame that stopped arriving after 5 ms of real time (it sleeps in WFI
with a timer bounding the wait), so a damaged byte costs milliseconds and the 50 noisy uploads on QEMU run in
the default suite."""
from __future__ import annotations

import os
import random
import shutil
import socket
import threading
import time

import numpy as np
import pytest

from edgeq.device import frame as F
from edgeq.device.client import Client
from edgeq.device.transport import open_port
from edgeq.errors import DeviceError
from edgeq.runtime import Interpreter

from fake_board import FakeBoard
from tool_models import pool_conv, small_cnn

FAKE_NAME = "nucleo-h743zi"
QEMU_BOARD = "qemu-an386"
UPLOADS = 50
FAULT_RATE = 0.01  # per byte and direction: a third dropped, a third duplicated, a third corrupted


class FaultyProxy:
    """Loopback TCP proxy to a board's serial socket, one client at a time, damaging bytes at `rate`."""

    def __init__(self, target: str, rate: float, seed: int = 0):
        host, port = target.removeprefix("socket://").rsplit(":", 1)
        self.target = (host, int(port))
        self.rate = rate
        self.rng = random.Random(seed)
        self.damaged = 0
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.idle = threading.Event()
        self.idle.set()
        self._pair: tuple[socket.socket, socket.socket] | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.srv.accept()
            except OSError:
                return
            self.idle.clear()
            up = socket.create_connection(self.target)
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pair = (down, up)
            a = threading.Thread(target=self._pump, args=(down, up), daemon=True)
            b = threading.Thread(target=self._pump, args=(up, down), daemon=True)
            a.start(), b.start()
            a.join(), b.join()
            for s in (down, up):
                s.close()
            self._pair = None
            self.idle.set()

    def _damage(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            r = self.rng.random()
            if r >= self.rate:
                out.append(byte)
                continue
            self.damaged += 1
            if r < self.rate / 3:
                continue                                     # dropped
            if r < 2 * self.rate / 3:
                out += bytes((byte, byte))                   # duplicated
            else:
                out.append(byte ^ self.rng.randrange(1, 256))  # corrupted
        return bytes(out)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(4096):
                dst.sendall(self._damage(data))
        except OSError:
            pass
        for s in (src, dst):  # one side gone: end both, as a pulled cable would
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drops the current connection (both sides see it closed)."""
        pair = self._pair
        for s in pair or ():
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.cut()
        self.srv.close()


class Target:
    """A board to attack: its serial URL, its name, how to reset it, and (fake only) its slot contents."""

    def __init__(self, kind: str, tmp_path_factory):
        self.kind = kind
        if kind == "fake":
            self.fake = FakeBoard(name=FAKE_NAME, inter_byte=0.01)
            self.url, self.name = self.fake.start(), FAKE_NAME
            self.timeout, self.inter_byte = 0.03, 0.01  # loopback to a thread: answers take well under 1 ms
        else:
            from edgeq.device import qemu

            if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
                pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
            self._state = os.environ.get("EDGEQ_STATE_DIR")
            os.environ["EDGEQ_STATE_DIR"] = str(tmp_path_factory.mktemp("boards"))  # our own QEMU instance
            self.fake, self.name = None, QEMU_BOARD
            self.url = qemu.ensure_running(QEMU_BOARD).url
            self.timeout, self.inter_byte = 0.06, 0.015  # answers in ~2-5 ms; a 1 KB chunk arrives in ~30 ms

    def reset(self) -> None:
        if self.fake is not None:
            self.fake.reset()
        else:
            from edgeq.device import qemu

            qemu.system_reset(self.name)

    def client(self, url: str | None = None, **kw) -> Client:
        opts = dict(board=self.name, timeout=self.timeout, invoke_timeout=10.0, inter_byte=self.inter_byte,
                    slow_timeout=20 * self.timeout)  # slots are RAM here: BEGIN and COMMIT answer at once
        opts.update(kw)
        return Client(open_port(url or self.url), **opts)

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()
        else:
            from edgeq.device import qemu

            qemu.stop(self.name)
            if self._state is None:
                os.environ.pop("EDGEQ_STATE_DIR", None)
            else:
                os.environ["EDGEQ_STATE_DIR"] = self._state


@pytest.fixture(scope="module", params=["fake", pytest.param("qemu", marks=pytest.mark.qemu)])
def target(request, tmp_path_factory):
    t = Target(request.param, tmp_path_factory)
    yield t
    t.close()


def _pair(ms):
    return ms, [Interpreter(m) for m in ms]


@pytest.fixture(scope="module")
def models():
    """Two 3.5 KB models: several chunks each, so a reset or cut can land in the middle."""
    return _pair([small_cnn(0), small_cnn(1)])


@pytest.fixture(scope="module")
def tiny():
    """Two 1.2 KB models for the many noisy uploads (each byte costs retransmits at 1 % faults)."""
    return _pair([pool_conv(0, hw=4, c=2, oc=4), pool_conv(1, hw=4, c=2, oc=4)])


def in_place(target: Target, models) -> int:
    """Over a clean connection: which of `models` is active (index), after checking it loads and computes
    exactly what the host runtime computes."""
    ms, its = models
    c = target.client()
    try:
        c.connect()
        mi = c.model_info()
        assert mi.has_model
        k = [(len(m), F.crc32(m)) for m in ms].index((mi.size, mi.crc32))
        if target.fake is not None:
            assert target.fake.active_model() == ms[k]
        c.load()
        x = np.random.default_rng(k).integers(-128, 128, its[k].inputs[0].shape).astype(np.int8)
        c.write_input(0, x.tobytes())
        c.invoke()
        expect = its[k].run(x)[0].tobytes()
        assert c.read_output(0, len(expect)) == expect
        return k
    finally:
        c.close()


def put(target: Target, model: bytes) -> None:
    c = target.client()
    try:
        c.connect()
        c.upload(model)
    finally:
        c.close()


def test_uploads_through_a_noisy_line_end_exact_or_clean(target, tiny):
    models = tiny
    ms = models[0]
    put(target, ms[0])
    proxy = FaultyProxy(target.url, FAULT_RATE, seed=1)
    ok = failed = retransmits = 0
    current = in_place(target, models)
    try:
        for i in range(UPLOADS):
            want = 1 - current
            proxy.idle.wait(5)
            # a short frame fails ~1 time in 4 on this line: 8 tries make a lost command rare (5 is the default)
            c = target.client(proxy.url, tries=8)
            try:
                c.connect()
                c.upload(ms[want])
                ok += 1
                success = True
            except DeviceError:
                failed += 1
                success = False
            finally:
                retransmits += c.retransmits
                c.close()
            assert proxy.idle.wait(5)
            now = in_place(target, models)  # raises if the active model is neither: corrupt or unknown
            if success:
                assert now == want, f"upload {i} reported success but model {now} is active"
            current = now
    finally:
        proxy.close()
    print(f"\n{target.kind}: {UPLOADS} uploads through {FAULT_RATE:.0%} byte faults: {ok} completed, {failed} clean "
          f"errors, {retransmits} retransmits, {proxy.damaged} bytes damaged")
    assert ok + failed == UPLOADS and proxy.damaged > UPLOADS and retransmits > UPLOADS
    assert ok >= UPLOADS // 2  # retransmit and smaller chunks get most uploads through


def _upload_with(target: Target, model: bytes, url: str, on_first_chunk, attempts: int):
    c = target.client(url, upload_attempts=attempts)
    fired = []

    def progress(done, total):
        if not fired:
            fired.append(done)
            on_first_chunk()

    try:
        c.connect()
        return c.upload(model, progress=progress)
    finally:
        c.close()


def test_reset_mid_upload_keeps_the_previous_model(target, models):
    ms = models[0]
    put(target, ms[0])
    with pytest.raises(DeviceError, match=f"{target.name}: upload of {len(ms[1]):,} bytes failed after 1 attempts"):
        _upload_with(target, ms[1], target.url, target.reset, attempts=1)
    assert in_place(target, models) == 0
    # with its usual attempts the client starts the upload over after the reset and gets it through
    mi = _upload_with(target, ms[1], target.url, target.reset, attempts=4)
    assert mi.crc32 == F.crc32(ms[1]) and in_place(target, models) == 1


def test_dropped_connection_mid_upload_keeps_the_previous_model(target, models):
    ms = models[0]
    put(target, ms[0])
    proxy = FaultyProxy(target.url, 0.0)
    try:
        with pytest.raises(DeviceError, match="connection lost|no answer"):
            _upload_with(target, ms[1], proxy.url, proxy.cut, attempts=4)
        assert proxy.idle.wait(5)
    finally:
        proxy.close()
    assert in_place(target, models) == 0


def test_a_frame_cut_short_is_naked_within_milliseconds(target):
    """A request missing its last bytes is NAKed after the board's inter-byte timeout, in real time (on
    QEMU 5 ms, where a 100 ms timeout counted in instructions once lasted ~2 s of polling), and the board
    then serves the next request as usual."""
    c = target.client()
    try:
        c.connect()
        for seq in (11, 12, 13):
            wire = F.encode(F.MODEL_INFO, seq, bytes(100))[:-3]
            start = time.monotonic()
            c.t.write(wire)
            got = c.reader.next(start + 2.0)
            elapsed = time.monotonic() - start
            assert isinstance(got, F.Frame) and (got.type, got.seq) == (F.NAK, seq), got
            assert elapsed < 0.5, f"NAK after {elapsed:.3f} s"
        c.model_info()
    finally:
        c.close()


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_emulated_board_sleeps(target):
    """Between requests the firmware waits in WFI for the UART interrupt: QEMU uses next to no host CPU
    (a firmware polling the UART kept a host core ~85 % busy)."""
    if target.kind != "qemu":
        pytest.skip("the fake board is a thread of this process: there is no emulated CPU to idle")
    from edgeq.device import qemu

    c = target.client()
    try:
        c.connect()
        c.model_info()
    finally:
        c.close()
    pid = qemu.status(target.name).pid
    time.sleep(0.3)
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(2.0)
    share = (_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    assert share < 0.1, f"idle QEMU used {share:.0%} of a host core"

