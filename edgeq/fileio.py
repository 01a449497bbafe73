"""Writing outputs the way users expect: all or nothing (temporary file in the same folder, then rename)
and with the permissions the user's umask gives a new file (mkstemp alone would make it private)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgeq.errors import EdgeqError


def write_atomic(dst: str | os.PathLike, data: bytes, error: type[EdgeqError] = EdgeqError) -> Path:
    """Write ``data`` to ``dst``: never a partial file there; ``error`` names ``dst`` on failure."""
    dst = Path(dst)
    parent = dst.parent if str(dst.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise error(f"{dst}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dst)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise error(f"{dst}: cannot write ({e.strerror})") from None
    return dst
