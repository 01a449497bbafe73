"""Byte transport to a board: any pyserial URL (a device path, socket://host:port, rfc2217://...).

    t = open_port("socket://127.0.0.1:4321")          # QEMU's UART, or tests/fake_board.py
    t = open_port(resolve_port("auto", board))          # USB VID/PID from the board description
    t.write(b"..."); t.read(64, timeout=0.5); t.close()

`resolve_port(port, board)` turns the user's --port (None: $EDGEQ_PORT; "auto": the first USB serial port
whose VID:PID the board lists) into a pyserial URL, with an error naming what was looked for.
"""
from __future__ import annotations

import os
import socket

import serial
from serial.tools import list_ports

from ..errors import DeviceError

DEFAULT_BAUD = 115200
ENV_PORT = "EDGEQ_PORT"


class Transport:
    """A pyserial port with per-read timeouts; connection loss becomes DeviceError."""

    def __init__(self, ser: serial.SerialBase, url: str):
        self.ser = ser
        self.url = url
        self._timeout = ser.timeout

    def _set_timeout(self, timeout: float | None) -> None:
        if timeout != self._timeout:  # changing it reconfigures a real port: only when it changes
            self.ser.timeout = timeout
            self._timeout = timeout

    def read(self, n: int, timeout: float | None) -> bytes:
        """Up to n bytes: waits up to `timeout` for the first, then takes what has already arrived."""
        try:
            self._set_timeout(max(timeout, 0.0) if timeout is not None else None)
            data = self.ser.read(1)
            if data and n > 1:
                more = min(self.ser.in_waiting, n - 1)
                if more:
                    data += self.ser.read(more)
            return data
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.url}: connection lost ({e})") from None

    def write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.url}: connection lost ({e})") from None

    def drain_input(self) -> None:
        try:
            self.ser.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass

    def close(self) -> None:
        sock = getattr(self.ser, "_socket", None)
        if sock is not None:  # socket://: pyserial's close sleeps 0.3 s "for quick reconnects"; QEMU needs none
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            self.ser._socket = None
            self.ser.is_open = False
            return
        try:
            self.ser.close()
        except (serial.SerialException, OSError):
            pass


def open_port(url: str, baudrate: int = DEFAULT_BAUD, timeout: float = 1.0) -> Transport:
    """Opens any pyserial URL or device path; DeviceError naming it when it cannot be opened."""
    try:
        ser = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, write_timeout=10.0)
    except (serial.SerialException, OSError, ValueError) as e:
        raise DeviceError(f"cannot open port {url}: {' '.join(str(e).split())}") from None
    return Transport(ser, url)


def _hexid(v: int | str) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


def find_usb_port(usb_ids, board_name: str = "the board") -> str:
    """The device path of the first serial port whose (VID, PID) is in usb_ids."""
    wanted = {(_hexid(v), _hexid(p)) for v, p in usb_ids}
    if not wanted:
        raise DeviceError(f"{board_name}: no USB VID:PID in its board description; give --port PATH")
    seen = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is not None and (p.vid, p.pid) in wanted:
            return p.device
        if p.vid is not None:
            seen.append(f"{p.device} ({p.vid:04x}:{p.pid:04x})")
    ids = ", ".join(f"{v:04x}:{p:04x}" for v, p in sorted(wanted))
    found = "; ports seen: " + ", ".join(seen) if seen else "; no USB serial ports found"
    raise DeviceError(f"{board_name}: no serial port with USB id {ids}{found}")


def resolve_port(port: str | None, board=None) -> str:
    """--port as given, else $EDGEQ_PORT; "auto" looks the board's USB ids up."""
    port = port or os.environ.get(ENV_PORT) or None
    name = getattr(board, "name", "the board")
    if port is None:
        raise DeviceError(f"{name}: no serial port given: use --port PATH|URL|auto or set {ENV_PORT}")
    if port == "auto":
        return find_usb_port(getattr(board, "usb_ids", ()) or (), name)
    return port
