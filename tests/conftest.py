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
