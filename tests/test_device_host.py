"""Host side of the board tools against tests/fake_board.py: framing, CRC, retransmit, seq dedup, A/B upload
semantics, flash/run/profile/validate, and the CLI verbs."""
from __future__ import annotations

import json
import os
import socket
import stat
import struct
import threading
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeq.cli import app
from edgeq.device import api
from edgeq.device import frame as F
from edgeq.device.boards import get_board, list_boards
from edgeq.device.client import Client, DeviceRefused, DeviceTimeout
from edgeq.device.transport import open_port, resolve_port
from edgeq.errors import DeviceError
from edgeq.runtime import Interpreter

from fake_board import FakeBoard
from tool_models import small_cnn

BOARD = "nucleo-h743zi"  # a real board's description; the fake board answers under its name on a socket


@pytest.fixture(scope="module")
def models():
    return small_cnn(0), small_cnn(1)


@pytest.fixture
def board():
    b = FakeBoard(name=BOARD)
    url = b.start()
    b.url = url
    yield b
    b.stop()


def client(url, **kw) -> Client:
    c = Client(open_port(url), board=BOARD, **kw)
    c.connect()
    return c


# ---------------------------------------------------------------------------------------------------------
# framing
def _reader(data: bytes, step: int = 1, max_payload: int = F.MAX_LEN) -> F.FrameReader:
    buf = bytearray(data)

    def read(n, timeout):
        n = min(n, step, len(buf))
        out = bytes(buf[:n])
        del buf[:n]
        return out

    return F.FrameReader(read, max_payload=max_payload, inter_byte=0.0)


def test_frame_layout_and_crc_are_zlibs():
    wire = F.encode(F.INFO, 0x42, b"\x01\x02\x03")
    assert wire[:2] == b"\xE5\x51"
    assert wire[2:6] == bytes([F.INFO, 0x42, 3, 0])
    assert wire[6:9] == b"\x01\x02\x03"
    assert struct.unpack("<I", wire[9:])[0] == zlib.crc32(bytes([F.INFO, 0x42, 3, 0, 1, 2, 3]))


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_reader_finds_frames_in_garbage_whatever_the_read_sizes(step):
    frames = [F.encode(F.UPLOAD_CHUNK, s, bytes(range(s))) for s in (0, 5, 200)]
    junk = [b"\x00\xE5", b"\xE5\x51\x11", b"\xff" * 7]  # stray magic bytes and a magic cut short
    r = _reader(junk[0] + frames[0] + junk[1] + frames[1] + junk[2] + frames[2], step)
    got = []
    while (x := r.next(deadline=0)) is not None:
        got.append(x)
    good = [x for x in got if isinstance(x, F.Frame)]
    assert [(x.type, x.seq, x.payload) for x in good] == [(F.UPLOAD_CHUNK, s, bytes(range(s))) for s in (0, 5, 200)]


def test_reader_reports_broken_frames_with_their_seq_then_resyncs():
    bad = bytearray(F.encode(F.INFO, 9, b"abcd"))
    bad[7] ^= 0x10  # a payload bit
    too_long = F.encode(F.SET_INPUT, 10, bytes(300))
    r = _reader(bytes(bad) + too_long + F.encode(F.HELLO, 11), max_payload=256)
    a, b = r.next(0), r.next(0)
    assert isinstance(a, F.Broken) and a.seq == 9 and "crc" in a.reason
    assert isinstance(b, F.Broken) and b.seq == 10 and "length" in b.reason
    nxt = r.next(0)
    while isinstance(nxt, F.Broken):  # bytes inside the skipped frames may look like headers
        nxt = r.next(0)
    assert isinstance(nxt, F.Frame) and (nxt.type, nxt.seq) == (F.HELLO, 11)


# ---------------------------------------------------------------------------------------------------------
# reliability: retransmit and seq dedup
class Lossy:
    """Wraps a Transport: drops whole responses or flips a byte of chosen requests (by count)."""

    def __init__(self, t, drop_responses=(), corrupt_requests=()):
        self.t, self.url = t, t.url
        self.drop, self.corrupt = set(drop_responses), set(corrupt_requests)
        self.writes = 0
        self.dropping = False

    def write(self, data):
        self.writes += 1
        if self.writes in self.corrupt:
            data = bytearray(data)
            data[-5] ^= 0xFF
        self.dropping = self.writes in self.drop
        self.t.write(bytes(data))

    def read(self, n, timeout):
        data = self.t.read(n, timeout)
        return b"" if self.dropping and data else data

    def drain_input(self):
        self.t.drain_input()

    def close(self):
        self.t.close()


def test_lost_response_is_retransmitted_and_answered_from_the_cache(board, models):
    c = client(board.url)
    c.upload(models[0])
    c.load()
    c.t = Lossy(c.t, drop_responses={1})
    c.reader._read = c.t.read
    c.invoke_timeout = 0.2  # INVOKE waits longer than other commands before asking again
    before = board.invokes
    n = c.invoke()
    assert n > 0 and c.retransmits == 1
    assert board.invokes == before + 1  # the repeated INVOKE did not run the model twice


def test_damaged_request_is_naked_and_sent_again(board):
    c = Client(open_port(board.url), board=BOARD)
    c.hello()
    c.t = Lossy(c.t, corrupt_requests={1})
    c.reader._read = c.t.read
    info = c.info()
    assert info.board == BOARD and c.retransmits == 1
    assert board.executed.count(F.INFO) == 1


def test_repeated_seq_is_not_executed_again(board, models):
    with socket.create_connection(("127.0.0.1", int(board.url.rsplit(":", 1)[1]))) as s:
        def ask(frame):
            s.sendall(frame)
            r = F.FrameReader(lambda n, t: s.recv(n), inter_byte=1.0).next(None)
            return r

        assert ask(F.encode(F.HELLO, 1)).type == F.HELLO | F.RESPONSE
        begin = F.encode(F.UPLOAD_BEGIN, 2, struct.pack("<II", 8, zlib.crc32(b"12345678")))
        ask(begin)
        chunk = F.encode(F.UPLOAD_CHUNK, 3, struct.pack("<I", 0) + b"1234")
        first, again = ask(chunk), ask(chunk)
        assert first == again and first.type == F.UPLOAD_CHUNK | F.RESPONSE
        assert board.executed.count(F.UPLOAD_CHUNK) == 1
        # the same bytes under a new seq are a new request: offset 0 is no longer next
        r = ask(F.encode(F.UPLOAD_CHUNK, 4, struct.pack("<I", 0) + b"1234"))
        assert r.type == F.ERR and b"offset" in r.payload


def test_silence_gives_an_error_naming_command_and_board():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    c = Client(open_port(f"socket://127.0.0.1:{srv.getsockname()[1]}"), board="my-board", timeout=0.05, tries=3)
    with pytest.raises(DeviceTimeout, match=r"my-board: HELLO: no answer within 0.05 s after 3 tries"):
        c.hello()
    c.close()
    srv.close()


def test_refused_commands_carry_the_boards_message(board):
    c = client(board.url)
    with pytest.raises(DeviceRefused, match=r"nucleo-h743zi: LOAD failed: no model in flash \(code 2\)"):
        c.load()


# ---------------------------------------------------------------------------------------------------------
# A/B slots
def test_uploads_alternate_slots_and_raise_the_generation(board, models):
    c = client(board.url)
    a = c.upload(models[0])
    b = c.upload(models[1])
    assert (a.slot, b.slot) == (0, 1) and b.generation == a.generation + 1
    assert board.active_model() == models[1]
    assert board.slots[0].good() and bytes(board.slots[0].data[:a.size]) == models[0]  # the old one stays valid


def test_interrupted_upload_keeps_the_previous_model(board, models):
    c = client(board.url)
    c.upload(models[0])
    b = models[1]
    c.request(F.UPLOAD_BEGIN, struct.pack("<II", len(b), F.crc32(b)))
    c.request(F.UPLOAD_CHUNK, struct.pack("<I", 0) + b[:512])
    board.reset()  # power loss / system_reset in the middle
    c.close()
    c = client(board.url)
    mi = c.model_info()
    assert (mi.size, mi.crc32) == (len(models[0]), F.crc32(models[0]))
    li = c.load()
    assert li.n_ops == Interpreter(models[0]).op_names.__len__()


def test_commit_with_wrong_crc_is_refused_and_marks_nothing(board, models):
    c = client(board.url)
    c.upload(models[0])
    b = models[1]
    c.request(F.UPLOAD_BEGIN, struct.pack("<II", len(b), F.crc32(b) ^ 1))
    for off in range(0, len(b), 1000):
        c.request(F.UPLOAD_CHUNK, struct.pack("<I", off) + b[off:off + 1000])
    with pytest.raises(DeviceRefused, match="UPLOAD_COMMIT failed: crc mismatch"):
        c.request(F.UPLOAD_COMMIT)
    board.reset()
    assert board.active_model() == models[0]


def test_upload_restarts_when_the_board_reset_midway(board, models):
    c = client(board.url)
    c.upload(models[0])
    resets = []

    def progress(done, total):
        if not resets:
            resets.append(done)
            board.reset()

    mi = c.upload(models[1], progress=progress)
    assert resets and mi.crc32 == F.crc32(models[1]) and board.active_model() == models[1]


def test_given_up_chunk_that_landed_is_not_written_twice(board, models):
    """The first chunk's answers are lost on both tries: the client sends it again smaller under a new seq,
    the board refuses that offset (the chunk had landed), and the client carries on after it."""
    c = client(board.url, timeout=0.1)
    c.t = Lossy(c.t, drop_responses={2, 3})  # writes: 1 UPLOAD_BEGIN, 2-3 the first chunk and its retransmit
    c.reader._read = c.t.read
    mi = c.upload(models[1])
    assert mi.crc32 == F.crc32(models[1]) and board.active_model() == models[1]
    assert board.executed.count(F.UPLOAD_BEGIN) == 1  # no restart was needed


def test_model_too_large_for_the_slot_is_refused_before_writing(board):
    board.slot_capacity = 1024
    c = client(board.url)
    with pytest.raises(DeviceError, match="does not fit the board's model slot"):
        c.upload(bytes(4096))
    assert F.UPLOAD_BEGIN not in board.executed


# ---------------------------------------------------------------------------------------------------------
# api
def test_flash_uploads_only_when_the_crc_differs(board, models):
    r1 = api.flash(models[0], BOARD, port=board.url)
    r2 = api.flash(models[0], BOARD, port=board.url)
    r3 = api.flash(models[1], BOARD, port=board.url)
    assert (r1.uploaded, r2.uploaded, r3.uploaded) == (True, False, True)
    assert board.executed.count(F.UPLOAD_BEGIN) == 2
    assert r1.arena_used > 0 and r3.generation == r1.generation + 1


def test_run_on_the_board_equals_the_host_runtime(board, models):
    it = Interpreter(models[0])
    x = np.random.default_rng(1).integers(-128, 128, (4, *it.inputs[0].shape[1:])).astype(np.int8)
    counts = []
    (y,) = api.run(models[0], BOARD, [x], port=board.url, counts=counts)
    expect = np.concatenate([it.run(x[k:k + 1])[0] for k in range(4)])
    assert y.dtype == expect.dtype and y.tobytes() == expect.tobytes()
    assert len(counts) == 4 and len(set(counts)) == 1
    (one,) = api.run(models[0], BOARD, x[:1], port=board.url)
    assert one.shape == it.outputs[0].shape and one.tobytes() == expect[:1].tobytes()


def test_profile_reports_per_op_counts_shapes_macs_and_memory(board, models):
    p = api.profile(models[0], BOARD, port=board.url)
    names = Interpreter(models[0]).op_names
    assert [layer.op for layer in p.layers] == names
    assert p.total == sum(layer.count for layer in p.layers)  # the fake board has no loop overhead
    assert abs(sum(layer.share for layer in p.layers) - 1) < 1e-9
    assert p.layers[0].output_shape == [1, 8, 8, 4] and p.layers[0].macs == 8 * 8 * 4 * 3 * 3 * 3
    assert p.layers[0].seconds == p.layers[0].count / 25e6
    d = json.loads(p.to_json())
    assert {"board", "counter", "total", "arena_bytes", "stack_bytes", "code_bytes", "layers"} <= set(d)
    assert d["counter"] == "instructions" and d["stack_bytes"] == 1536 and d["code_bytes"] == 41_000
    assert d["layers"][1] == {**d["layers"][1], "index": 1, "op": "DEPTHWISE_CONV_2D", "count": p.layers[1].count}
    assert api.profile(models[0], BOARD, port=board.url).total == p.total  # deterministic


def test_validate_passes_on_identical_outputs(board, models):
    r = api.validate(models[0], BOARD, port=board.url, random=6)
    assert r.ok and (r.samples, r.exact) == (6, 6) and r.divergence is None


class WrongFromOp(FakeBoard):
    """A board whose op `bad` computes a wrong value: its output and everything after it differ."""

    bad = 2

    def _invoke(self, stop):
        n = super()._invoke(stop)
        v = self.view
        out = v.op_io(self.bad)[1][0]
        self.captured[out] = self.captured[out].copy()
        self.captured[out].flat[3] ^= 0x11
        for op in range(self.bad + 1, v.n_ops):
            for o in v.op_io(op)[1]:
                self.captured[o] = self.captured[o].copy()
                self.captured[o].flat[0] ^= 0x01
        return n


def test_validate_names_the_first_diverging_layer(models):
    b = WrongFromOp(name=BOARD)
    url = b.start()
    try:
        r = api.validate(models[0], BOARD, port=url, random=3)
    finally:
        b.stop()
    assert not r.ok and r.exact == 0
    d = r.divergence
    assert (d.sample, d.op, d.op_name, d.output, d.differing) == (0, 2, "AVERAGE_POOL_2D", 0, 1)
    assert d.shape == [1, 3, 3, 8] and d.max_abs_diff > 0


def test_wrong_board_on_the_port_is_an_error(board, models):
    with pytest.raises(DeviceError, match="is a 'nucleo-h743zi' board, not 'rpi-pico2'"):
        api.flash(models[0], "rpi-pico2", port=board.url)


# ---------------------------------------------------------------------------------------------------------
# boards, ports, flashers
def test_board_registry_reads_every_board_toml():
    names = [b.name for b in list_boards()]
    assert {"qemu-an386", "qemu-an547", "nucleo-h743zi"} <= set(names) and names == sorted(names)
    b = get_board("qemu-an386")
    assert b.emulated and b.qemu_machine == "mps2-an386" and "-icount" in b.qemu_args and b.clock_hz == 25_000_000
    h = get_board("nucleo-h743zi")
    assert not h.emulated and (0x0483, 0x374B) in h.usb_ids and h.flasher == "openocd"
    with pytest.raises(DeviceError, match=r"unknown board 'nope' \(known boards: .*qemu-an386"):
        get_board("nope")


def test_port_resolution(monkeypatch):
    b = get_board("nucleo-h743zi")
    monkeypatch.delenv("EDGEQ_PORT", raising=False)
    with pytest.raises(DeviceError, match="no serial port given"):
        resolve_port(None, b)
    monkeypatch.setenv("EDGEQ_PORT", "socket://127.0.0.1:9")
    assert resolve_port(None, b) == "socket://127.0.0.1:9"
    assert resolve_port("/dev/ttyACM3", b) == "/dev/ttyACM3"
    with pytest.raises(DeviceError, match="no serial port with USB id 0483:374b, 0483:374e"):
        resolve_port("auto", b)  # this machine has no ST-LINK


def test_firmware_goes_through_the_boards_flasher(tmp_path, monkeypatch):
    log = tmp_path / "args.txt"
    tool = tmp_path / "openocd"
    tool.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    cmd = api.flash_firmware("nucleo-h743zi", elf=elf)
    assert cmd[0] == "openocd" and log.read_text().splitlines() == cmd[1:]
    assert f"program {elf} verify reset exit" in cmd
    tool.write_text("#!/bin/sh\necho 'Error: open failed' >&2\nexit 1\n")
    with pytest.raises(DeviceError, match="openocd failed with exit code 1: Error: open failed"):
        api.flash_firmware("nucleo-h743zi", elf=elf)


# ---------------------------------------------------------------------------------------------------------
# CLI
runner = CliRunner()


def test_cli_boards_table_and_stop():
    r = runner.invoke(app, ["boards"])
    assert r.exit_code == 0 and "qemu-an547" in r.output and "cortex-m55" in r.output and "openocd" in r.output
    r = runner.invoke(app, ["boards", "stop", "nucleo-h743zi"])
    assert r.exit_code == 2 and "real board" in r.output


def test_cli_flash_run_profile_validate(board, models, tmp_path):
    m = tmp_path / "m.tflite"
    m.write_bytes(models[0])
    r = runner.invoke(app, ["flash", str(m), "--board", BOARD, "--port", board.url])
    assert r.exit_code == 0, r.output
    assert f"Wrote {len(models[0]):,} bytes" in r.output and "Verified" in r.output
    r = runner.invoke(app, ["flash", str(m), "--board", BOARD, "--port", board.url])
    assert "already on the board" in r.output

    it = Interpreter(models[0])
    x = np.random.default_rng(2).integers(-128, 128, (3, *it.inputs[0].shape[1:])).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    r = runner.invoke(app, ["run", str(m), "--board", BOARD, "--port", board.url, "--input", str(tmp_path / "x.npy"),
                            "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output and f"3 run(s) on {BOARD}" in r.output
    expect = np.concatenate([it.run(x[k:k + 1])[0] for k in range(3)])
    assert np.load(tmp_path / "y.npy").tobytes() == expect.tobytes()

    r = runner.invoke(app, ["profile", str(m), "--board", BOARD, "--port", board.url, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["board"] == BOARD and [layer["op"] for layer in d["layers"]] == it.op_names
    r = runner.invoke(app, ["profile", str(m), "--board", BOARD, "--port", board.url])
    assert "DEPTHWISE_CONV_2D" in r.output and "total" in r.output and "arena" in r.output

    r = runner.invoke(app, ["validate", str(m), "--board", BOARD, "--port", board.url, "--random", "3"])
    assert r.exit_code == 0 and "3/3 samples byte-identical" in " ".join(r.output.split())


def test_cli_validate_exit_code_and_errors(models, tmp_path):
    m = tmp_path / "m.tflite"
    m.write_bytes(models[0])
    b = WrongFromOp(name=BOARD)
    url = b.start()
    try:
        r = runner.invoke(app, ["validate", str(m), "--board", BOARD, "--port", url, "--random", "2"])
    finally:
        b.stop()
    out = " ".join(r.output.split())
    assert r.exit_code == 1 and "0/2 samples DIFFERENT" in out and "op 2 AVERAGE_POOL_2D" in out
    r = runner.invoke(app, ["flash", str(m), "--board", "nope"])
    assert r.exit_code == 2 and "unknown board 'nope'" in r.output
    r = runner.invoke(app, ["flash", str(m), "--board", BOARD, "--port", "socket://127.0.0.1:1"])
    assert r.exit_code == 2 and "cannot open port socket://127.0.0.1:1" in r.output


# ---------------------------------------------------------------------------------------------------------
# the same verbs on the emulated boards (real firmware under QEMU)
@pytest.fixture
def qemu_state(tmp_path, monkeypatch):
    import shutil

    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    monkeypatch.setenv("EDGEQ_STATE_DIR", str(tmp_path / "boards"))  # our own instances, stopped below
    yield
    from edgeq.device import qemu

    for name in ("qemu-an386", "qemu-an547"):
        qemu.stop(name)


@pytest.mark.qemu
@pytest.mark.parametrize("name", ["qemu-an386", "qemu-an547"])
def test_emulated_board_flash_run_profile_validate(name, qemu_state, models, tmp_path):
    from edgeq.device import qemu

    r = api.flash(models[0], name)
    assert r.uploaded and r.info.board == name and r.info.counter == "instructions"
    running = qemu.status(name)
    assert running is not None and f"-M {get_board(name).qemu_machine} -icount shift=0" in \
        " ".join(open(f"/proc/{running.pid}/cmdline").read().split("\0"))
    assert not api.flash(models[0], name).uploaded  # the board kept running between commands: same model

    it = Interpreter(models[0])
    x = np.random.default_rng(3).integers(-128, 128, (3, *it.inputs[0].shape[1:])).astype(np.int8)
    (y,) = api.run(models[0], name, [x])
    assert y.tobytes() == np.concatenate([it.run(x[k:k + 1])[0] for k in range(3)]).tobytes()

    p1, p2 = api.profile(models[0], name), api.profile(models[0], name)
    assert p1.total == p2.total and [layer.count for layer in p1.layers] == [layer.count for layer in p2.layers]
    assert [layer.op for layer in p1.layers] == it.op_names and p1.total >= sum(layer.count for layer in p1.layers)
    assert 0 < p1.arena_bytes <= p1.arena_capacity and 0 < p1.stack_bytes < p1.stack_size and p1.code_bytes > 0

    v = api.validate(models[0], name, random=3)
    assert v.ok and v.exact == 3

    out = runner.invoke(app, ["boards"]).output
    assert "running, pid" in out
    assert runner.invoke(app, ["boards", "stop", name]).exit_code == 0 and qemu.status(name) is None
