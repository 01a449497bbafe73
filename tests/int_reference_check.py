"""Shared by the integer-reference tests: run_int against LiteRT BUILTIN_REF and runtime_c byte for byte
(three_way), and the strategies' small helpers. Hypothesis runs derandomized (the same cases every run)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onemodel import run_reference
from test_ops_hypothesis import qparams, rngs
from test_ops_int16 import scales

from edgeq import runtime
from edgeq.model.tflite_io import read_tflite
from edgeq.reference.int_exec import run_int

# EDGEQ_INT_REF_EXAMPLES=500 for a longer hunt (the suite's 40 keep it near 30 s on 2 cores)
CASES = settings(max_examples=int(os.environ.get("EDGEQ_INT_REF_EXAMPLES", 40)), deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
DTYPES = ["int8", "int16"]


def each_dtype(**strategies):
    """Decorates test(dtype, data, rng, ...): a Hypothesis test (CASES) run in each of DTYPES; strategies
    draw its further arguments."""
    def wrap(test):
        return pytest.mark.parametrize("dtype", DTYPES)(CASES(given(data=st.data(), rng=rngs(), **strategies)(test)))
    return wrap


# ---------------------------------------------------------------------------------------------- helpers

def same(got, ref, what: str) -> None:
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape, \
        f"{what}: {got.dtype}{list(got.shape)} vs {ref.dtype}{list(ref.shape)}"
    if got.tobytes() != ref.tobytes():
        d = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        raise AssertionError(f"{what}: {int((d > 0).sum())}/{ref.size} values differ, max |diff| {d.max()}")


def three_way(model: bytes, inputs, litert: bool = True) -> None:
    """run_int == LiteRT BUILTIN_REF == runtime_c, byte for byte (run_int == runtime_c without LiteRT)."""
    inputs = [np.asarray(x) for x in inputs]
    g = read_tflite(model)
    mine = run_int(g, inputs)
    c = runtime.Interpreter(model).run(*inputs)
    c = [c] if isinstance(c, np.ndarray) else list(c)
    if litert:
        ref = run_reference(model, *inputs)
        for k, (r, y, z) in enumerate(zip(ref, c, mine)):
            same(y, r, f"output {k}: runtime_c vs LiteRT")
            same(z, r, f"output {k}: run_int vs LiteRT")
    else:
        for k, (y, z) in enumerate(zip(c, mine)):
            same(z, y, f"output {k}: run_int vs runtime_c")
    _stacked(g, inputs, mine)


def _stacked(g, inputs, single) -> None:
    """Two samples on axis 0 (the second the first's values reversed) give each sample's own result."""
    if not all(len(g.tensors[n].shape) >= 1 and g.tensors[n].shape[0] == 1 for n in g.inputs):
        return
    other = [x.ravel()[::-1].reshape(x.shape) for x in inputs]
    both = run_int(g, [np.concatenate([x, y]) for x, y in zip(inputs, other)])
    second = run_int(g, other)
    for k, (b, s1, s2) in enumerate(zip(both, single, second)):
        halves = b.reshape(2, -1)  # an output without a sample axis of its own is stacked flat
        same(halves[0].reshape(s1.shape), s1, f"output {k}: sample 0 of 2 stacked")
        same(halves[1].reshape(s2.shape), s2, f"output {k}: sample 1 of 2 stacked")


def qp(d, dtype: str, lo: float | None = None, hi: float | None = None) -> tuple[float, int]:
    """(scale, zero point): int8 any zero point, int16 symmetric."""
    if dtype == "int16":
        return d(scales(lo or 1e-5, hi or 1e-1)), 0
    return d(qparams(lo or 1e-3, hi or 0.5))


def ints(rng, dtype: str, shape, full: bool = True) -> np.ndarray:
    info = np.iinfo(dtype)
    if not full and dtype == "int16":  # a calibrated spread, not only the extremes' saturation
        hi = int(rng.integers(8, 4096))
        return rng.integers(-hi, hi, size=shape).astype(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


def dims(d, rank_lo=1, rank_hi=4, hi=4) -> list[int]:
    return [d(st.integers(1, hi)) for _ in range(d(st.integers(rank_lo, rank_hi)))]
