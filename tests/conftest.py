"""Shared fixtures. The MLPerf Tiny model zoo is optional: tests that need it are marked `zoo` and skip
with a reason when EDGEQ_ZOO (the models folder; its sibling data/ holds calibration data) is not set."""
import os
from pathlib import Path

import pytest


def zoo_dir() -> Path | None:
    z = os.environ.get("EDGEQ_ZOO")
    return Path(z) if z and Path(z).is_dir() else None


@pytest.fixture(scope="session")
def zoo() -> Path:
    d = zoo_dir()
    if d is None:
        pytest.skip("EDGEQ_ZOO not set: the MLPerf Tiny model zoo is not available")
    return d


@pytest.fixture(scope="session")
def zoo_data(zoo) -> Path:
    return zoo.parent / "data"


@pytest.fixture(scope="session")
def asan_driver(tmp_path_factory) -> Path:
    """runtime_c/tests/eq_check.c built with AddressSanitizer + UBSan (`make -C runtime_c asan`), as a
    private copy: the build runs under a lock shared by every test worker, and another worker may rebuild
    build/asan/eq_check while this one runs it."""
    import fcntl
    import shutil
    import subprocess

    root = Path(__file__).resolve().parent.parent / "runtime_c"
    (root / "build").mkdir(exist_ok=True)
    with open(root / "build" / ".asan.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-s", "-j2", "-C", str(root), "asan"], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"make asan failed: {r.stderr[-1500:]}")
        return Path(shutil.copy(root / "build" / "asan" / "eq_check", tmp_path_factory.mktemp("asan") / "eq_check"))
