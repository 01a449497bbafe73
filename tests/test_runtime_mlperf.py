"""The four public MLPerf Tiny int8 models: runtime_c is byte-identical to LiteRT's reference kernels
(the BUILTIN_REF op resolver) on 100 random inputs each, with the machine's SIMD kernels and with the
scalar reference kernels. Interpreters are built once per model; the LiteRT runs dominate the time."""
from __future__ import annotations

import os

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter as LiteRT, OpResolverType

from edgeq import runtime

MODELS = ["vww_96_int8", "kws_ref_model", "pretrainedResnet_quant", "ad01_int8"]
N_INPUTS = 100


def _random_input(rng, t) -> np.ndarray:
    info = np.iinfo(t.dtype)
    return rng.integers(info.min, info.max + 1, size=t.shape, dtype=t.dtype)


@pytest.fixture(scope="module", params=MODELS)
def case(request, zoo):
    path = zoo / "mlperf_tiny" / f"{request.param}.tflite"
    ref = LiteRT(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    rng = np.random.default_rng(abs(hash(request.param)) % 2**32)
    ours = runtime.Interpreter(path)
    xs = [[_random_input(rng, t) for t in ours.inputs] for _ in range(N_INPUTS)]
    want = []
    for x in xs:
        for d, a in zip(ref.get_input_details(), x):
            ref.set_tensor(d["index"], a)
        ref.invoke()
        want.append([ref.get_tensor(d["index"]).copy() for d in ref.get_output_details()])
    return request.param, path, ours, xs, want


def _mismatches(interp, xs, want) -> list[int]:
    bad = []
    for k, (x, w) in enumerate(zip(xs, want)):
        got = interp.run(*x)
        if any(g.tobytes() != e.tobytes() for g, e in zip(got, w)):
            bad.append(k)
    return bad


def test_bit_exact_with_litert_reference(case):
    name, _, ours, xs, want = case
    bad = _mismatches(ours, xs, want)
    assert not bad, f"{name}: {len(bad)}/{N_INPUTS} inputs differ (first: {bad[:5]})"


def test_scalar_reference_kernels_bit_exact(case):
    # The dispatch table is chosen once per process; run the ref path in a fresh process via EDGEQ_ISA.
    import subprocess
    import sys

    name, path, _, xs, want = case
    sub = xs[:20]
    code = (
        "import sys, numpy as np; from edgeq import runtime\n"
        f"it = runtime.Interpreter({str(path)!r})\n"
        "xs = np.load(sys.argv[1])\n"
        "np.save(sys.argv[2], np.array([np.concatenate([o.ravel().view(np.uint8) for o in it.run(x)]) for x in xs]))\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/x.npy", np.stack([x[0] for x in sub]))  # the MLPerf models have one input
        env = dict(os.environ, EDGEQ_ISA="ref", PYTHONPATH=str(runtime.RUNTIME_DIR.parent))
        r = subprocess.run([sys.executable, "-c", code, f"{d}/x.npy", f"{d}/y.npy"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        got = np.load(f"{d}/y.npy")
    for k, w in enumerate(want[:20]):
        expect = np.concatenate([o.ravel().view(np.uint8) for o in w])
        assert got[k].tobytes() == expect.tobytes(), f"{name}: ref kernels differ on input {k}"


def test_arena_exact_on_zoo_model(case):
    name, path, ours, xs, want = case
    exact = runtime.Interpreter(path, arena_bytes=ours.arena_bytes)
    assert [o.tobytes() for o in exact.run(*xs[0])] == [o.tobytes() for o in want[0]]
    with pytest.raises(runtime.RuntimeFailure, match="arena too small"):
        runtime.Interpreter(path, arena_bytes=ours.arena_bytes - 1)
