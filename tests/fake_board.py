"""A pure-Python board: the device side of boards/PROTOCOL.md, running models with edgeq's own runtime_c.

    board = FakeBoard(name="fake-m4"); url = board.start()   # socket://127.0.0.1:PORT, served in a thread
    ...  Client(open_port(url)) ...
    board.reset()      # what a monitor system_reset does: RAM state gone, the A/B slots kept
    board.stop()

It follows the protocol as the firmware does: frames with a bad CRC or an over-long length are NAKed when
the header's seq was readable; a repeated seq gets the cached answer without running again; uploads go to
the inactive slot and only UPLOAD_COMMIT (size and CRC-32 checked) writes its header with a higher
generation; at boot the valid slot with the highest generation is active. Per-op counts are a
deterministic function of each op's output size (there is no real CPU to count), so profiles are
reproducible. The host layers (client, api, CLI) are tested against it without QEMU.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
from dataclasses import dataclass, field

import numpy as np

from edgeq.device import frame as F
from edgeq.errors import EdgeqError

E_ARG, E_STATE, E_CRC, E_OFFSET, E_SIZE, E_RUNTIME = 1, 2, 3, 4, 5, 6


class Refuse(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code


@dataclass
class Slot:
    data: bytearray = field(default_factory=bytearray)
    generation: int = 0
    size: int = 0
    crc: int = 0
    valid: bool = False  # the header: written only by a checked commit

    def good(self) -> bool:
        return self.valid and len(self.data) >= self.size and F.crc32(bytes(self.data[:self.size])) == self.crc


class FakeBoard:
    def __init__(self, name: str = "fake-board", max_payload: int = 1024, arena_capacity: int = 256 * 1024,
                 slot_capacity: int = 64 * 1024, clock_hz: int = 25_000_000, counter: int = 1,
                 inter_byte: float = 0.05):
        self.name, self.max_payload = name, max_payload
        self.arena_capacity, self.slot_capacity, self.clock_hz, self.counter = (arena_capacity, slot_capacity,
                                                                                clock_hz, counter)
        self.inter_byte = inter_byte
        self.slots = [Slot(), Slot()]
        self.lock = threading.RLock()
        self.executed: list[int] = []  # command types actually run (not answered from the cache)
        self.invokes = 0
        self._sock: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        # LOAD runs the reference build of runtime_c: build it now (seconds in a fresh clone), not while a
        # client waits for LOAD's answer with a board's timeout
        from edgeq.introspect import lib

        lib("ref")
        self.boot()

    # -- power-on state ----------------------------------------------------------------------------------
    def boot(self) -> None:
        with self.lock:
            good = [k for k in (0, 1) if self.slots[k].good()]
            self.active = max(good, key=lambda k: self.slots[k].generation) if good else None
            self.upload = None  # (slot, size, crc, received)
            self.last_seq, self.last_response = None, None
            self.view = None
            self.inputs: list[bytearray] = []
            self.counts: list[int] = []
            self.captured: dict[int, np.ndarray] = {}
            self.stopped_at = None

    reset = boot  # a monitor system_reset: RAM state lost, slots (and their headers) kept

    def active_model(self) -> bytes | None:
        with self.lock:
            if self.active is None:
                return None
            s = self.slots[self.active]
            return bytes(s.data[:s.size])

    # -- serving -----------------------------------------------------------------------------------------
    def start(self) -> str:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return f"socket://127.0.0.1:{self._sock.getsockname()[1]}"

    def stop(self) -> None:
        self._stopping = True
        for s in (self._conn, self._sock):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the serving thread's select/accept; close alone does not
            except OSError:
                pass
            s.close()
        if self._thread:
            self._thread.join(timeout=2)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
            try:
                self._serve_conn(conn)
            except (EOFError, OSError):
                pass
            finally:
                conn.close()

    def _serve_conn(self, conn: socket.socket) -> None:
        def read(n: int, timeout: float) -> bytes:
            ready, _, _ = select.select([conn], [], [], timeout)
            if not ready:
                return b""
            data = conn.recv(n)
            if not data:
                raise EOFError
            return data

        reader = F.FrameReader(read, max_payload=self.max_payload, inter_byte=self.inter_byte)
        while not self._stopping:
            r = reader.next(None)
            if r is None:
                continue
            if isinstance(r, F.Broken):
                conn.sendall(F.encode(F.NAK, r.seq))
                continue
            conn.sendall(self.handle(r))

    # -- commands ----------------------------------------------------------------------------------------
    def handle(self, fr: F.Frame) -> bytes:
        with self.lock:
            if fr.type != F.HELLO and fr.seq == self.last_seq and self.last_response is not None:
                return self.last_response
            after = None
            try:
                payload = self._run(fr.type, fr.payload)
                if fr.type == F.RESET:
                    after = self.boot
                resp = F.encode(fr.type | F.RESPONSE, fr.seq, payload)
            except Refuse as e:
                resp = F.encode(F.ERR, fr.seq, bytes([e.code]) + str(e).encode())
            except Exception as e:  # noqa: BLE001 - a board answers ERR, it does not crash
                resp = F.encode(F.ERR, fr.seq, bytes([E_RUNTIME]) + f"{type(e).__name__}: {e}".encode()[:200])
            self.executed.append(fr.type)
            if after:
                after()
            else:
                self.last_seq, self.last_response = fr.seq, resp
            return resp

    def _run(self, t: int, p: bytes) -> bytes:
        def args(fmt: str) -> tuple:
            try:
                return struct.unpack_from(fmt, p)
            except struct.error:
                raise Refuse(E_ARG, f"{F.name(t)}: payload too short") from None

        if t == F.HELLO:
            return b"\x01edgeq"
        if t == F.INFO:
            return (struct.pack("<IIIIBB", self.max_payload, self.arena_capacity, self.slot_capacity, self.clock_hz,
                                self.counter, 0) + self.name.encode() + b"\0" + b"fake-0.1\0")
        if t == F.UPLOAD_BEGIN:
            size, crc = args("<II")
            if size > self.slot_capacity:
                raise Refuse(E_SIZE, f"model of {size} bytes over the slot's {self.slot_capacity}")
            target = 1 - self.active if self.active is not None else 0
            s = self.slots[target]
            s.valid, s.data = False, bytearray(b"\xff" * self.slot_capacity)  # erase
            self.upload = [target, size, crc, 0]
            return b""
        if t == F.UPLOAD_CHUNK:
            (off,) = args("<I")
            if self.upload is None:
                raise Refuse(E_STATE, "no upload in progress")
            target, size, _, got = self.upload
            data = p[4:]
            if off != got:
                raise Refuse(E_OFFSET, f"chunk at offset {off}, expected {got}")
            if got + len(data) > size:
                raise Refuse(E_SIZE, "chunk past the announced size")
            self.slots[target].data[off:off + len(data)] = data
            self.upload[3] = got + len(data)
            return b""
        if t == F.UPLOAD_COMMIT:
            if self.upload is None:
                raise Refuse(E_STATE, "no upload in progress")
            target, size, crc, got = self.upload
            s = self.slots[target]
            if got != size or F.crc32(bytes(s.data[:size])) != crc:
                raise Refuse(E_CRC, "crc mismatch")
            gen = max(x.generation for x in self.slots) + 1
            s.generation, s.size, s.crc, s.valid = gen, size, crc, True
            self.active, self.upload, self.view = target, None, None
            return b""
        if t == F.MODEL_INFO:
            if self.active is None:
                return struct.pack("<BIIIB", 0, 0, 0, 0, 0)
            s = self.slots[self.active]
            return struct.pack("<BIIIB", 1, s.size, s.crc, s.generation, self.active)
        if t == F.LOAD:
            return self._load()
        if t == F.SET_INPUT:
            k, off = args("<BI")
            buf = self._input(k)
            if off + len(p) - 5 > len(buf):
                raise Refuse(E_ARG, f"input {k}: bytes past its end")
            buf[off:off + len(p) - 5] = p[5:]
            return b""
        if t == F.INVOKE:
            (stop,) = args("<H")
            return struct.pack("<I", self._invoke(stop))
        if t == F.GET_OUTPUT:
            k, off, n = args("<BIH")
            v = self._loaded()
            if k >= len(v.outputs):
                raise Refuse(E_ARG, f"no output {k}")
            return self._slice(self.captured.get(v.outputs[k]), off, n)
        if t == F.GET_OP_OUTPUT:
            op, k, off, n = args("<HBIH")
            v = self._loaded()
            if op >= v.n_ops or self.stopped_at != op:
                raise Refuse(E_STATE, f"op {op}'s output is valid only after INVOKE stop_after={op}")
            outs = v.op_io(op)[1]
            if k >= len(outs):
                raise Refuse(E_ARG, f"op {op} has no output {k}")
            return self._slice(self.captured.get(outs[k]), off, n)
        if t == F.PROFILE:
            first, most = args("<HH")
            rows = [(i, self.view.op_builtin(i), c) for i, c in enumerate(self.counts)][first:first + most]
            return struct.pack("<H", len(rows)) + b"".join(struct.pack("<HHI", *r) for r in rows)
        if t == F.MEMORY:
            used = self.view.arena_bytes if self.view else 0
            return struct.pack("<IIIII", used, self.arena_capacity, 1536, 8192, 41_000)
        if t == F.TENSOR_INFO:
            kind, idx, k = args("<BHB")
            return self._tensor_info(kind, idx, k)
        if t == F.RESET:
            return b""
        raise Refuse(E_ARG, f"unknown command 0x{t:02x}")

    def _load(self) -> bytes:
        from edgeq.introspect import RuntimeView

        model = self.active_model()
        if model is None:
            raise Refuse(E_STATE, "no model in flash")
        try:
            v = RuntimeView(model, "ref", "slot")  # the microcontroller build: reference kernels
        except EdgeqError as e:
            raise Refuse(E_RUNTIME, str(e)) from None
        if v.arena_bytes > self.arena_capacity:
            raise Refuse(E_RUNTIME, f"arena too small: needs {v.arena_bytes}")
        self.view = v
        self.inputs = [bytearray(v.tensor(i).bytes) for i in v.inputs]
        self.counts, self.captured, self.stopped_at = [], {}, None
        return struct.pack("<IBBH", v.arena_bytes, len(v.inputs), len(v.outputs), v.n_ops)

    def _loaded(self):
        if self.view is None:
            raise Refuse(E_STATE, "no model loaded (LOAD first)")
        return self.view

    def _input(self, k: int) -> bytearray:
        self._loaded()
        if k >= len(self.inputs):
            raise Refuse(E_ARG, f"no input {k}")
        return self.inputs[k]

    def _invoke(self, stop: int) -> int:
        v = self._loaded()
        xs = [np.frombuffer(bytes(b), dtype=v.tensor(i).dtype) for b, i in zip(self.inputs, v.inputs)]
        _, self.captured = v.run_capture(xs)
        self.invokes += 1
        last = v.n_ops - 1 if stop == 0xFFFF else min(stop, v.n_ops - 1)
        self.counts = [100 + 3 * sum(v.tensor(o).bytes for o in v.op_io(op)[1]) for op in range(last + 1)]
        self.stopped_at = None if stop == 0xFFFF else stop
        return sum(self.counts)

    @staticmethod
    def _slice(a, off: int, n: int) -> bytes:
        if a is None:
            raise Refuse(E_STATE, "no such tensor data (INVOKE first)")
        raw = np.ascontiguousarray(a).tobytes()
        if off + n > len(raw):
            raise Refuse(E_ARG, f"read of {n} bytes at {off} past the tensor's {len(raw)}")
        return raw[off:off + n]

    def _tensor_info(self, kind: int, idx: int, k: int) -> bytes:
        v = self._loaded()
        if kind == 2 and idx >= v.n_ops:
            raise Refuse(E_ARG, f"no op {idx}")
        try:
            tid = (v.inputs[idx] if kind == 0 else v.outputs[idx] if kind == 1 else v.op_io(idx)[1][k])
        except IndexError:
            raise Refuse(E_ARG, f"no tensor kind {kind} index {idx} k {k}") from None
        t = v.tensor(tid)
        return (struct.pack("<BB", t.type, len(t.shape)) + struct.pack(f"<{len(t.shape)}i", *t.shape)
                + struct.pack("<Ifi", t.bytes, t.scale, t.zero_point))
