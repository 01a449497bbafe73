"""Framing of the edgeq serial protocol (boards/PROTOCOL.md): magic, type, seq, length, payload, CRC-32.

    encode(INFO, seq=7) -> bytes on the wire
    reader = FrameReader(read, max_payload=1024); reader.next(deadline) -> Frame | Broken | None

Both sides use the same reader: the host for responses, tests/fake_board.py for requests. A frame whose CRC
is wrong or whose length is over the maximum comes back as Broken (with the header's seq, so a board can
NAK it); the reader then hunts for the next magic from the byte after the bad one, so a frame that starts
inside the garbage is still found.
"""
from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from typing import Callable

MAGIC = b"\xE5\x51"
HEADER = struct.Struct("<BBH")  # type, seq, len (after the magic)
CRC = struct.Struct("<I")
OVERHEAD = len(MAGIC) + HEADER.size + CRC.size  # bytes a frame adds to its payload

# command types (responses are type | 0x80)
HELLO, INFO = 0x01, 0x02
UPLOAD_BEGIN, UPLOAD_CHUNK, UPLOAD_COMMIT, MODEL_INFO, LOAD = 0x10, 0x11, 0x12, 0x13, 0x14
SET_INPUT, INVOKE, GET_OUTPUT, PROFILE, MEMORY, GET_OP_OUTPUT, TENSOR_INFO = 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26
RESET = 0x30
RESPONSE = 0x80
NAK, ERR = 0xFE, 0xFF

NAMES = {HELLO: "HELLO", INFO: "INFO", UPLOAD_BEGIN: "UPLOAD_BEGIN", UPLOAD_CHUNK: "UPLOAD_CHUNK",
         UPLOAD_COMMIT: "UPLOAD_COMMIT", MODEL_INFO: "MODEL_INFO", LOAD: "LOAD", SET_INPUT: "SET_INPUT",
         INVOKE: "INVOKE", GET_OUTPUT: "GET_OUTPUT", PROFILE: "PROFILE", MEMORY: "MEMORY",
         GET_OP_OUTPUT: "GET_OP_OUTPUT", TENSOR_INFO: "TENSOR_INFO", RESET: "RESET", NAK: "NAK", ERR: "ERR"}

MAX_LEN = 0xFFFF


def name(type_: int) -> str:
    base = type_ & ~RESPONSE if type_ not in (NAK, ERR) else type_
    return NAMES.get(base, f"0x{type_:02x}")


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame: magic, header, payload and the CRC-32 over header and payload."""
    if len(payload) > MAX_LEN:
        raise ValueError(f"payload of {len(payload)} bytes is over the frame limit of {MAX_LEN}")
    body = HEADER.pack(type_ & 0xFF, seq & 0xFF, len(payload)) + bytes(payload)
    return MAGIC + body + CRC.pack(crc32(body))


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Broken:
    """A frame whose header was read but which failed its CRC or length check."""
    type: int
    seq: int
    reason: str


class FrameReader:
    """Reads frames from `read(n, timeout) -> bytes` (may return fewer bytes, b"" on timeout).

    `inter_byte` bounds the wait for the rest of a frame once its magic arrived; `max_payload` is the
    largest length accepted (longer frames are Broken, as the protocol asks)."""

    def __init__(self, read: Callable[[int, float], bytes], max_payload: int = MAX_LEN, inter_byte: float = 0.1):
        self._read = read
        self.max_payload = max_payload
        self.inter_byte = inter_byte
        self._buf = bytearray()

    def _fill(self, n: int, deadline: float | None, inter_byte: bool) -> bool:
        """Until the buffer holds n bytes; False on timeout (overall deadline, or the inter-byte one)."""
        while len(self._buf) < n:
            if inter_byte:
                wait = self.inter_byte
            else:  # a passed deadline still polls once: bytes already here are taken
                wait = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            got = self._read(n - len(self._buf), wait)
            if not got:
                if inter_byte or (deadline is not None and time.monotonic() >= deadline):
                    return False
                continue
            self._buf += got
        return True

    def discard(self) -> None:
        """Drops buffered bytes (after a reconnect)."""
        self._buf.clear()

    def next(self, deadline: float | None) -> Frame | Broken | None:
        """The next frame, a Broken one, or None when the deadline passed (monotonic time)."""
        while True:
            if not self._fill(2, deadline, False):
                # keep a lone first magic byte: its partner may still come
                if self._buf[-1:] != MAGIC[:1]:
                    self._buf.clear()
                return None
            at = self._buf.find(MAGIC)
            if at < 0:
                del self._buf[:-1 if self._buf[-1:] == MAGIC[:1] else len(self._buf)]
                continue
            del self._buf[:at]
            head = 2 + HEADER.size
            if not self._fill(head, deadline, True):
                del self._buf[:1]  # a magic followed by silence: hunt past it
                continue
            type_, seq, length = HEADER.unpack_from(self._buf, 2)
            if length > self.max_payload:
                del self._buf[:1]
                return Broken(type_, seq, f"length {length} over {self.max_payload}")
            total = head + length + CRC.size
            if not self._fill(total, deadline, True):
                del self._buf[:1]
                return Broken(type_, seq, "frame cut short")
            body = bytes(self._buf[2:head + length])
            (crc,) = CRC.unpack_from(self._buf, head + length)
            if crc != crc32(body):
                del self._buf[:1]
                return Broken(type_, seq, "bad crc")
            del self._buf[:total]
            return Frame(type_, seq, body[HEADER.size:])
