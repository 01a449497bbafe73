"""Float32 forms of AVERAGE_POOL_2D, MAX_POOL_2D and SOFTMAX (what float and hybrid models need around
their matmuls) against LiteRT's reference kernels: pools byte-identical, softmax within a few ulp (its exp
is runtime_c's libm-free eq_expf)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from onemodel import build_op_model, run_reference, spec

from edgeq import runtime

CASES = settings(max_examples=30, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_both(model, x):
    (ref,) = run_reference(model, x)
    got = runtime.Interpreter(model).run(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    assert got.dtype == ref.dtype == np.float32 and got.shape == ref.shape
    return ref, got


@CASES
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_pool_2d_float(data, seed):
    d = data.draw
    rng = np.random.default_rng(seed)
    op = d(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
    n, h, w, c = d(st.integers(1, 2)), d(st.integers(1, 9)), d(st.integers(1, 9)), d(st.integers(1, 5))
    fh, fw, sh, sw = d(st.integers(1, 4)), d(st.integers(1, 4)), d(st.integers(1, 3)), d(st.integers(1, 3))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh = (h + sh - 1) // sh if padding == "SAME" else (h - fh + sh) // sh
    ow = (w + sw - 1) // sw if padding == "SAME" else (w - fw + sw) // sw
    assume(oh > 0 and ow > 0)
    model = build_op_model(op, [spec([n, h, w, c], "float32")], [spec([n, oh, ow, c], "float32")],
                           {"padding": padding, "stride_h": sh, "stride_w": sw, "filter_height": fh,
                            "filter_width": fw,
                            "fused_activation_function": d(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))})
    x = (rng.standard_normal((n, h, w, c)) * d(st.sampled_from([0.5, 4.0, 100.0]))).astype(np.float32)
    ref, got = run_both(model, x)
    assert got.tobytes() == ref.tobytes()


@CASES
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_softmax_float(data, seed):
    d = data.draw
    rng = np.random.default_rng(seed)
    shape = [d(st.integers(1, 3)) for _ in range(d(st.integers(0, 2)))] + [d(st.integers(1, 40))]
    model = build_op_model("SOFTMAX", [spec(shape, "float32")], [spec(shape, "float32")],
                           {"beta": d(st.sampled_from([1.0, 0.5, 2.0]))})
    x = (rng.standard_normal(shape) * d(st.sampled_from([0.1, 3.0, 20.0]))).astype(np.float32)
    ref, got = run_both(model, x)
    np.testing.assert_allclose(got, ref, rtol=4e-7, atol=1e-30)
    assert np.array_equal(got.argmax(-1), ref.argmax(-1))
