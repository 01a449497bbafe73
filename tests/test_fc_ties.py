"""FULLY_CONNECTED requantizes in one rounding with ties away from zero, as LiteRT's reference kernel does.

Power-of-two scales make acc * scale land exactly on .5 often, where rounding ties toward +inf would be
one LSB off for negative values. Every kernel variant is checked (the dispatcher reads EDGEQ_ISA once per
process, so each variant runs in its own interpreter process)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onemodel import build_op_model, run_reference, spec

HERE = Path(__file__).resolve().parent
VARIANTS = ["ref", "avx2", "avx512vnni"]


def tie_cases(n=20, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        w = rng.integers(-2, 3, size=(16, 32), dtype=np.int8)
        b = rng.integers(-20, 21, size=16).astype(np.int32)
        model = build_op_model(
            "FULLY_CONNECTED",
            [spec([1, 32], "int8", 0.25, 0), spec([16, 32], "int8", 0.25, 0, data=w),
             spec([16], "int32", 0.0625, 0, data=b)],
            [spec([1, 16], "int8", 0.125, 0)], {"fused_activation_function": "NONE"})
        x = rng.integers(-4, 5, size=(1, 32), dtype=np.int8)
        yield model, x, (x.astype(np.int32) @ w.T.astype(np.int32) + b)[0]


RUN = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from test_fc_ties import tie_cases
from edgeq.runtime import Interpreter
outs = [Interpreter(m).run(x)[0] for m, x, _ in tie_cases()]
np.save(sys.argv[1], np.stack(outs))
"""


@pytest.mark.parametrize("isa", VARIANTS)
def test_fc_ties_round_away_from_zero(isa, tmp_path):
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if isa == "avx2" and " avx2" not in flags or isa == "avx512vnni" and "avx512_vnni" not in flags:
        pytest.skip(f"this CPU has no {isa}")
    out = tmp_path / "y.npy"
    subprocess.run([sys.executable, "-c", RUN.format(tests=str(HERE)), str(out)], check=True,
                   env=dict(os.environ, EDGEQ_ISA=isa))
    ours = np.load(out)
    cases = list(tie_cases())
    ref = np.stack([run_reference(m, x)[0] for m, x, _ in cases])
    # real multiplier 0.25 * 0.25 / 0.125 = 1/2: every odd accumulator is an exact tie, negatives included
    acc = np.stack([a for _, _, a in cases])
    assert np.count_nonzero((acc % 2 == 1) & (acc < 0) & (acc > -255)) > 50
    assert np.array_equal(ours.reshape(ref.shape), ref)
