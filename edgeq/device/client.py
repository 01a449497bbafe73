"""The host side of the edgeq serial protocol (boards/PROTOCOL.md): one request, one response.

    c = Client(open_port(url), board="qemu-an386")
    c.hello(); info = c.info()
    c.upload(model_bytes, progress=cb)        # A/B slot upload: BEGIN, CRC-checked chunks, COMMIT, verify
    c.load(); c.write_input(0, x.tobytes()); count = c.invoke(); y = c.read_output(0, nbytes)

Each request carries a sequence number; on NAK or silence the same frame is sent again (the board answers a
repeated seq from its cache, so nothing runs twice), `tries` times, then DeviceTimeout names the command and
the board. ERR answers become DeviceRefused with the board's code and message. Uploads adapt their chunk size
to the line: it halves after a chunk that needed a retransmit and grows back after clean ones; an upload whose
chunk could not get through starts over (a new BEGIN writes the inactive slot afresh), and the result is only
accepted when MODEL_INFO reports the uploaded size and CRC-32 as active.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DeviceError
from . import frame as F
from .frame import FrameReader

PROTOCOL_VERSION = 1
COUNTERS = {0: "cycles", 1: "instructions"}
ALL_OPS = 0xFFFF


class DeviceTimeout(DeviceError):
    """The board did not answer a command (after every retransmit)."""


class DeviceRefused(DeviceError):
    """The board answered a command with ERR."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DeviceInfo:
    max_payload: int
    arena_capacity: int
    slot_capacity: int
    clock_hz: int
    counter: str          # "cycles" or "instructions"
    flags: int
    board: str
    runtime_version: str


@dataclass(frozen=True)
class ModelInfo:
    has_model: bool
    size: int
    crc32: int
    generation: int
    slot: int


@dataclass(frozen=True)
class LoadInfo:
    arena_used: int
    n_inputs: int
    n_outputs: int
    n_ops: int


@dataclass(frozen=True)
class TensorDesc:
    type: int             # TFLite TensorType
    shape: tuple[int, ...]
    bytes: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class Memory:
    arena_used: int
    arena_capacity: int
    stack_used: int
    stack_size: int
    code_bytes: int


@dataclass(frozen=True)
class OpCount:
    index: int
    builtin: int
    count: int


def _cstr(data: bytes, at: int) -> tuple[str, int]:
    end = data.find(b"\0", at)
    end = len(data) if end < 0 else end
    return data[at:end].decode("utf-8", "replace"), end + 1


class Client:
    """Protocol client over a Transport (see transport.open_port)."""

    def __init__(self, transport, board: str = "board", timeout: float = 1.0, invoke_timeout: float = 120.0,
                 slow_timeout: float = 10.0, tries: int = 5, inter_byte: float = 0.1, min_chunk: int = 64,
                 upload_attempts: int = 4):
        self.t = transport
        self.board = board
        self.timeout = timeout
        self.invoke_timeout = invoke_timeout
        self.slow_timeout = slow_timeout  # UPLOAD_BEGIN erases, UPLOAD_COMMIT checks a whole slot, LOAD verifies
        self.tries = tries
        self.min_chunk = min_chunk
        self.upload_attempts = upload_attempts
        self.reader = FrameReader(self.t.read, max_payload=F.MAX_LEN, inter_byte=inter_byte)
        self.seq = int.from_bytes(os.urandom(1), "little")  # unlikely to repeat a previous session's last seq
        self.max_payload = 256  # the protocol's minimum until INFO says more
        self.retransmits = 0    # over the session, for tests and reports
        self.last_tries = 0
        self._info: DeviceInfo | None = None

    # -- requests ----------------------------------------------------------------------------------------
    def request(self, type_: int, payload: bytes = b"", timeout: float | None = None, what: str = "",
                tries: int | None = None) -> bytes:
        """Sends one command and returns its response payload (retransmitting on NAK or silence)."""
        tries = self.tries if tries is None else tries
        self.seq = (self.seq + 1) & 0xFF
        seq = self.seq
        wire = F.encode(type_, seq, payload)
        label = F.name(type_) + (f" {what}" if what else "")
        timeout = self.timeout if timeout is None else timeout
        reason = "no answer"
        for attempt in range(1, tries + 1):
            self.last_tries = attempt
            if attempt > 1:
                self.retransmits += 1
            self.t.write(wire)
            deadline = time.monotonic() + timeout
            while True:
                r = self.reader.next(deadline)
                if r is None:
                    reason = f"no answer within {timeout:g} s"
                    break
                if isinstance(r, F.Broken):
                    if r.seq == seq:  # our answer arrived damaged: ask again at once
                        reason = f"answer damaged ({r.reason})"
                        break
                    continue
                if r.seq != seq:
                    continue  # a late answer to an earlier try or request
                if r.type == F.NAK:
                    reason = "the board NAKed the request"
                    break
                if r.type == F.ERR:
                    code = r.payload[0] if r.payload else 0
                    msg = r.payload[1:].decode("utf-8", "replace") or "no message"
                    raise DeviceRefused(f"{self.board}: {label} failed: {msg} (code {code})", code)
                if r.type == type_ | F.RESPONSE:
                    return r.payload
                reason = f"unexpected answer type 0x{r.type:02x}"
                break
        raise DeviceTimeout(f"{self.board}: {label}: {reason} after {tries} tries ({self.t.url})")

    def _unpack(self, fmt: str, data: bytes, what: str) -> tuple:
        try:
            return struct.unpack_from(fmt, data)
        except struct.error:
            raise DeviceError(f"{self.board}: {what} answer too short ({len(data)} bytes)") from None

    # -- session -----------------------------------------------------------------------------------------
    def hello(self) -> int:
        """Starts a session (the board forgets the last seq); returns the protocol version."""
        self.reader.discard()
        self.t.drain_input()
        p = self.request(F.HELLO)
        if p[1:6] != b"edgeq":
            raise DeviceError(f"{self.board}: {self.t.url} answered HELLO but is not an edgeq board ({p[:16]!r})")
        if p[0] != PROTOCOL_VERSION:
            raise DeviceError(f"{self.board}: protocol version {p[0]} on the board, {PROTOCOL_VERSION} on the host: "
                              "rebuild the firmware or update edgeq")
        return p[0]

    def info(self) -> DeviceInfo:
        p = self.request(F.INFO)
        mp, arena, slot, clock, counter, flags = self._unpack("<IIIIBB", p, "INFO")
        name, at = _cstr(p, 18)
        version, _ = _cstr(p, at)
        self._info = DeviceInfo(mp, arena, slot, clock, COUNTERS.get(counter, f"counter {counter}"), flags, name,
                                version)
        self.max_payload = max(16, mp)
        self.reader.max_payload = self.max_payload  # a longer length field is damage: drop it without waiting
        return self._info

    def connect(self) -> DeviceInfo:
        self.hello()
        return self.info()

    # -- model slots -------------------------------------------------------------------------------------
    def model_info(self) -> ModelInfo:
        has, size, crc, gen, slot = self._unpack("<BIIIB", self.request(F.MODEL_INFO), "MODEL_INFO")
        return ModelInfo(bool(has), size, crc, gen, slot)

    def upload(self, data: bytes, progress: Callable[[int, int], None] | None = None) -> ModelInfo:
        """Writes `data` into the inactive slot and commits it; returns the board's MODEL_INFO afterwards."""
        size, crc = len(data), F.crc32(data)
        if self._info is not None and self._info.slot_capacity and size > self._info.slot_capacity:
            raise DeviceError(f"{self.board}: model of {size:,} bytes does not fit the board's model slot "
                              f"({self._info.slot_capacity:,} bytes)")
        self._chunk = self.max_payload - 4
        last: DeviceError | None = None
        for _ in range(self.upload_attempts):
            try:
                self.request(F.UPLOAD_BEGIN, struct.pack("<II", size, crc), timeout=self.slow_timeout)
                self._send_chunks(data, progress)
                self.request(F.UPLOAD_COMMIT, timeout=self.slow_timeout)
            except (DeviceTimeout, DeviceRefused) as e:
                last = e
                continue
            mi = self.model_info()
            if not (mi.has_model and mi.size == size and mi.crc32 == crc):
                raise DeviceError(f"{self.board}: after UPLOAD_COMMIT the board reports model size {mi.size} "
                                  f"crc {mi.crc32:08x}, expected {size} crc {crc:08x}")
            return mi
        raise DeviceError(f"{self.board}: upload of {size:,} bytes failed after {self.upload_attempts} attempts: "
                          f"{last}") from None

    def _send_chunks(self, data: bytes, progress) -> None:
        """UPLOAD_CHUNKs from offset 0 to the end, sized to the line.

        A chunk that does not get through in two tries is given up and sent again smaller under a new seq.
        A given-up chunk may still have landed (only its answer was lost), so the offsets where the board may
        be are kept as candidates: the board refuses a chunk at any other offset, which rules that one out.
        Whatever lands, UPLOAD_COMMIT checks size and CRC-32 of the whole slot, so a wrong guess (e.g. that a
        given-up last chunk landed) can only fail the upload, never commit a corrupt model."""
        size, top = len(data), self.max_payload - 4
        candidates, clean, stuck = [0], 0, 0  # the oldest first: a lost request is likelier than a lost answer
        while candidates[0] < size:
            offset = candidates[0]
            piece = data[offset:offset + self._chunk]
            try:
                self.request(F.UPLOAD_CHUNK, struct.pack("<I", offset) + piece, what=f"at offset {offset}", tries=2)
            except DeviceTimeout:
                stuck += 1
                if stuck > 4 * self.tries:
                    raise
                if offset + len(piece) not in candidates:
                    candidates.append(offset + len(piece))
                self._chunk, clean = max(self.min_chunk, self._chunk // 4), 0
                continue
            except DeviceRefused:
                candidates.remove(offset)
                if not candidates:
                    raise
                continue
            candidates, stuck = [offset + len(piece)], 0
            if progress:
                progress(candidates[0], size)
            if self.last_tries > 1:
                self._chunk, clean = max(self.min_chunk, self._chunk // 2), 0
            else:
                clean += 1
                if clean >= 4:
                    self._chunk, clean = min(top, self._chunk * 2), 0

    def load(self) -> LoadInfo:
        used, n_in, n_out, n_ops = self._unpack("<IBBH", self.request(F.LOAD, timeout=self.slow_timeout), "LOAD")
        return LoadInfo(used, n_in, n_out, n_ops)

    # -- running -----------------------------------------------------------------------------------------
    def tensor_info(self, kind: int, index: int, k: int = 0) -> TensorDesc:
        """kind 0: model input `index`; 1: model output; 2: op `index`'s output k."""
        p = self.request(F.TENSOR_INFO, struct.pack("<BHB", kind, index, k), what=f"{('input', 'output', 'op')[kind]} {index}")
        type_, ndim = self._unpack("<BB", p, "TENSOR_INFO")
        dims = self._unpack(f"<{ndim}i", p[2:], "TENSOR_INFO")
        nbytes, scale, zp = self._unpack("<Ifi", p[2 + 4 * ndim:], "TENSOR_INFO")
        return TensorDesc(type_, tuple(dims), nbytes, scale, zp)

    def write_input(self, index: int, data: bytes) -> None:
        step = self.max_payload - 5
        for off in range(0, len(data), step) or [0]:
            self.request(F.SET_INPUT, struct.pack("<BI", index, off) + data[off:off + step], what=f"input {index}")

    def invoke(self, stop_after: int = ALL_OPS) -> int:
        """Runs the model (up to op stop_after); returns the board's count (cycles or instructions)."""
        (count,) = self._unpack("<I", self.request(F.INVOKE, struct.pack("<H", stop_after),
                                                   timeout=self.invoke_timeout), "INVOKE")
        return count

    def _read(self, type_: int, head: bytes, nbytes: int, what: str) -> bytes:
        out = bytearray()
        step = min(self.max_payload, 0xFFFF)
        while len(out) < nbytes:
            n = min(step, nbytes - len(out))
            p = self.request(type_, head + struct.pack("<IH", len(out), n), what=what)
            if len(p) != n:
                raise DeviceError(f"{self.board}: {F.name(type_)} {what}: asked {n} bytes at {len(out)}, got {len(p)}")
            out += p
        return bytes(out)

    def read_output(self, index: int, nbytes: int) -> bytes:
        return self._read(F.GET_OUTPUT, struct.pack("<B", index), nbytes, f"output {index}")

    def read_op_output(self, op: int, k: int, nbytes: int) -> bytes:
        return self._read(F.GET_OP_OUTPUT, struct.pack("<HB", op, k), nbytes, f"op {op} output {k}")

    def op_counts(self, n_ops: int) -> list[OpCount]:
        """Per-op counts of the last INVOKE (PROFILE, paged to fit max_payload)."""
        per = max(1, (self.max_payload - 2) // 8)
        out: list[OpCount] = []
        while len(out) < n_ops:
            p = self.request(F.PROFILE, struct.pack("<HH", len(out), min(per, n_ops - len(out))))
            (n,) = self._unpack("<H", p, "PROFILE")
            if n == 0:
                break
            for j in range(n):
                out.append(OpCount(*self._unpack("<HHI", p[2 + 8 * j:], "PROFILE")))
        return out

    def memory(self) -> Memory:
        return Memory(*self._unpack("<IIIII", self.request(F.MEMORY), "MEMORY"))

    def reset(self) -> None:
        self.request(F.RESET)

    def close(self) -> None:
        self.t.close()


def tensor_dtype(type_: int) -> np.dtype:
    from ..runtime import DTYPES

    if type_ not in DTYPES:
        raise DeviceError(f"tensor of TFLite type {type_} is not supported by the host tools")
    return np.dtype(DTYPES[type_])
