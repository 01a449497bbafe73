"""runtime_c through edgeq.runtime: API, exact arena planning, bit-exactness on a small multi-op model,
and robustness against truncated and bit-flipped model files (errors, never crashes)."""
from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter as LiteRT, OpResolverType

from edgeq import runtime
from edgeq.errors import EdgeqError, ModelError, RuntimeFailure, UnsupportedError

OP = fb.BuiltinOperator
ACT = fb.ActivationFunctionType


class _Graph:
    """A minimal multi-op TFLite writer over the schema object API (buffer 0 = empty sentinel)."""

    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [fb.BufferT()], [], []

    def tensor(self, shape, dtype=fb.TensorType.INT8, scale=None, zp=0, data=None, name=None, axis=0):
        t = fb.TensorT()
        t.shape, t.type, t.name = list(shape), dtype, name or f"t{len(self.tensors)}"
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = list(np.atleast_1d(np.asarray(scale, np.float32)))
            q.zeroPoint = [int(zp)] * len(q.scale)
            q.quantizedDimension = axis
            t.quantization = q
        b = fb.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        t.buffer = len(self.buffers)
        self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, options_type=0, options=None):
        if code not in self.codes:
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.ops.append(o)

    def finish(self, inputs, outputs) -> bytes:
        m = fb.ModelT()
        m.version = 3
        m.operatorCodes = []
        for c in self.codes:
            oc = fb.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 1
            m.operatorCodes.append(oc)
        sg = fb.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.ops, list(inputs), list(outputs)
        m.subgraphs, m.buffers = [sg], self.buffers
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _opts(cls, **kw):
    o = cls()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def tiny_model(seed: int = 0) -> bytes:
    """float -> QUANTIZE -> CONV(relu) -> DEPTHWISE(x2) -> CONV 1x1 -> ADD(skip) -> MAX_POOL -> AVG_POOL
    -> RESHAPE -> FC -> SOFTMAX -> DEQUANTIZE -> float; per-channel conv weights, per-tensor FC."""
    r = np.random.default_rng(seed)
    g = _Graph()
    x = g.tensor([1, 8, 8, 3], fb.TensorType.FLOAT32, name="image")
    q = g.tensor([1, 8, 8, 3], scale=0.02, zp=-3)
    g.op(OP.QUANTIZE, [q - 1], [q])
    w0 = g.tensor([4, 3, 3, 3], scale=[0.01, 0.02, 0.015, 0.03], data=r.integers(-127, 128, (4, 3, 3, 3), np.int8))
    b0 = g.tensor([4], fb.TensorType.INT32, scale=[2e-4, 4e-4, 3e-4, 6e-4], data=r.integers(-500, 500, 4, np.int32))
    c0 = g.tensor([1, 8, 8, 4], scale=0.05, zp=-128)
    g.op(OP.CONV_2D, [q, w0, b0], [c0], fb.BuiltinOptions.Conv2DOptions,
         _opts(fb.Conv2DOptionsT, padding=fb.Padding.SAME, strideW=1, strideH=1,
               fusedActivationFunction=ACT.RELU, dilationWFactor=1, dilationHFactor=1))
    w1 = g.tensor([1, 3, 3, 8], scale=np.linspace(0.01, 0.04, 8), axis=3,
                  data=r.integers(-127, 128, (1, 3, 3, 8), np.int8))
    b1 = g.tensor([8], fb.TensorType.INT32, scale=np.linspace(0.01, 0.04, 8) * 0.05, axis=0,
                  data=r.integers(-900, 900, 8, np.int32))
    d1 = g.tensor([1, 8, 8, 8], scale=0.06, zp=5)
    g.op(OP.DEPTHWISE_CONV_2D, [c0, w1, b1], [d1], fb.BuiltinOptions.DepthwiseConv2DOptions,
         _opts(fb.DepthwiseConv2DOptionsT, padding=fb.Padding.SAME, strideW=1, strideH=1, depthMultiplier=2,
               fusedActivationFunction=ACT.NONE, dilationWFactor=1, dilationHFactor=1))
    w2 = g.tensor([4, 1, 1, 8], scale=[0.02] * 4, data=r.integers(-127, 128, (4, 1, 1, 8), np.int8))
    b2 = g.tensor([4], fb.TensorType.INT32, scale=[0.06 * 0.02] * 4, data=r.integers(-900, 900, 4, np.int32))
    c2 = g.tensor([1, 8, 8, 4], scale=0.07, zp=2)
    g.op(OP.CONV_2D, [d1, w2, b2], [c2], fb.BuiltinOptions.Conv2DOptions,
         _opts(fb.Conv2DOptionsT, padding=fb.Padding.VALID, strideW=1, strideH=1, dilationWFactor=1,
               dilationHFactor=1))
    s = g.tensor([1, 8, 8, 4], scale=0.09, zp=-7)
    g.op(OP.ADD, [c0, c2], [s], fb.BuiltinOptions.AddOptions, _opts(fb.AddOptionsT, fusedActivationFunction=ACT.RELU6))
    mp = g.tensor([1, 4, 4, 4], scale=0.09, zp=-7)
    g.op(OP.MAX_POOL_2D, [s], [mp], fb.BuiltinOptions.Pool2DOptions,
         _opts(fb.Pool2DOptionsT, padding=fb.Padding.VALID, strideW=2, strideH=2, filterWidth=2, filterHeight=2))
    ap = g.tensor([1, 2, 2, 4], scale=0.09, zp=-7)
    g.op(OP.AVERAGE_POOL_2D, [mp], [ap], fb.BuiltinOptions.Pool2DOptions,
         _opts(fb.Pool2DOptionsT, padding=fb.Padding.SAME, strideW=2, strideH=2, filterWidth=3, filterHeight=3))
    shape = g.tensor([2], fb.TensorType.INT32, data=np.array([1, 16], np.int32))
    flat = g.tensor([1, 16], scale=0.09, zp=-7)
    g.op(OP.RESHAPE, [ap, shape], [flat], fb.BuiltinOptions.ReshapeOptions, _opts(fb.ReshapeOptionsT, newShape=[1, 16]))
    w3 = g.tensor([10, 16], scale=0.013, data=r.integers(-127, 128, (10, 16), np.int8))
    b3 = g.tensor([10], fb.TensorType.INT32, scale=0.09 * 0.013, data=r.integers(-300, 300, 10, np.int32))
    logits = g.tensor([1, 10], scale=0.11, zp=4)
    g.op(OP.FULLY_CONNECTED, [flat, w3, b3], [logits], fb.BuiltinOptions.FullyConnectedOptions,
         _opts(fb.FullyConnectedOptionsT, fusedActivationFunction=ACT.NONE))
    prob = g.tensor([1, 10], scale=1 / 256, zp=-128)
    g.op(OP.SOFTMAX, [logits], [prob], fb.BuiltinOptions.SoftmaxOptions, _opts(fb.SoftmaxOptionsT, beta=1.0))
    out = g.tensor([1, 10], fb.TensorType.FLOAT32, name="probabilities")
    g.op(OP.DEQUANTIZE, [prob], [out])
    return g.finish([x], [out, prob])


@pytest.fixture(scope="module")
def model() -> bytes:
    return tiny_model()


@pytest.fixture(scope="module")
def interp(model) -> runtime.Interpreter:
    return runtime.Interpreter(model)


def litert(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    it = LiteRT(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def test_bit_exact_with_litert_reference(model, interp):
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.normal(0, 1.2, (1, 8, 8, 3)).astype(np.float32)
        want = litert(model, x)
        got = interp.run(x)
        assert len(got) == 2
        np.testing.assert_array_equal(got[1], want[1])
        assert got[0].tobytes() == want[0].tobytes()


def test_tensor_descriptions(interp):
    (i,) = interp.inputs
    assert (i.name, i.shape, i.dtype) == ("image", (1, 8, 8, 3), np.float32)
    o, p = interp.outputs
    assert (o.name, o.shape, o.dtype) == ("probabilities", (1, 10), np.float32)
    assert (p.shape, p.dtype, p.zero_point) == ((1, 10), np.int8, -128)
    assert p.scale == pytest.approx(1 / 256)
    assert interp.op_names == ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MAX_POOL_2D",
                               "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"]


def test_arena_is_exact(model, interp):
    n = interp.arena_bytes
    assert n == interp.required_arena_bytes and n % runtime.ARENA_ALIGN == 0
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 3)).astype(np.float32)
    exact = runtime.Interpreter(model, arena_bytes=n)
    assert exact.run(x)[1].tobytes() == interp.run(x)[1].tobytes()
    with pytest.raises(RuntimeFailure, match="arena too small"):
        runtime.Interpreter(model, arena_bytes=n - 1)


def chain_model(n_ops: int, reshape: bool = False, width: int = 4096) -> bytes:
    """int8 [1, width] -> n_ops requantizing QUANTIZEs (-> RESHAPE after the first, sharing its
    input's buffer) -> int8; the first QUANTIZE's output is also a model output, so it stays live."""
    g = _Graph()
    t = [g.tensor([1, width] if k < 2 or not reshape else [width, 1], scale=0.1 + 0.01 * k, zp=k)
         for k in range(n_ops + 1)]
    g.op(OP.QUANTIZE, [t[0]], [t[1]])
    src = t[1]
    if reshape:
        shape = g.tensor([2], fb.TensorType.INT32, data=np.array([width, 1], np.int32))
        src = g.tensor([width, 1], scale=0.11, zp=1)
        g.op(OP.RESHAPE, [t[1], shape], [src], fb.BuiltinOptions.ReshapeOptions,
             _opts(fb.ReshapeOptionsT, newShape=[width, 1]))
    for k in range(2, n_ops + 1):
        g.op(OP.QUANTIZE, [src], [t[k]])
        src = t[k]
    return g.finish([t[0]], [t[1], src])


def test_planner_reuses_buffers_along_a_chain():
    # 3 vs 9 ops: activations grow by 6 x 4 kB, the plan by the op tables only (two buffers ping-pong
    # beside the live first output).
    short, long = runtime.Interpreter(chain_model(3)), runtime.Interpreter(chain_model(9))
    assert long.arena_bytes - short.arena_bytes < 4096
    x = np.arange(4096, dtype=np.int64).reshape(1, 4096) % 256 - 128
    assert litert(chain_model(9), x.astype(np.int8))[1].tobytes() == long.run(x)[1].tobytes()


def test_reshape_aliases_its_input():
    plain, aliased = runtime.Interpreter(chain_model(3)), runtime.Interpreter(chain_model(3, reshape=True))
    assert aliased.op_names == ["QUANTIZE", "RESHAPE", "QUANTIZE", "QUANTIZE"]
    assert aliased.arena_bytes - plain.arena_bytes < 4096  # no buffer of its own
    x = np.random.default_rng(5).integers(-128, 128, (1, 4096), dtype=np.int8)
    want = litert(chain_model(3, reshape=True), x)
    got = aliased.run(x)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want))


def test_run_arguments(interp):
    x = np.zeros((1, 8, 8, 3), np.float32)
    a = interp.run(x)
    assert [o.dtype for o in a] == [np.float32, np.int8]
    assert interp.run([x])[1].tobytes() == a[1].tobytes()
    assert interp.run(x.astype(np.float64))[1].tobytes() == a[1].tobytes()
    with pytest.raises(RuntimeFailure, match="takes 1 input"):
        interp.run(x, x)
    with pytest.raises(RuntimeFailure, match="expects shape"):
        interp.run(np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(RuntimeFailure, match="expects float32"):
        interp.run(np.zeros((1, 8, 8, 3), np.int8))


def test_profile_names_every_op(interp):
    prof = interp.profile(np.ones((1, 8, 8, 3), np.float32))
    assert [p[0] for p in prof] == list(range(len(interp.op_names)))
    assert [p[1] for p in prof] == interp.op_names
    assert all(0 <= p[2] < 1 for p in prof)


def test_unsupported_op_is_named():
    g = _Graph()
    a = g.tensor([4], fb.TensorType.FLOAT32)
    b = g.tensor([4], fb.TensorType.FLOAT32)
    g.op(OP.FLOOR, [a], [b])
    with pytest.raises(UnsupportedError, match=r"op 0 \(builtin operator 8\).*unsupported operator"):
        runtime.Interpreter(g.finish([a], [b]))


def test_bad_files(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        runtime.Interpreter(tmp_path / "missing.tflite")
    for junk in (b"", b"\0" * 7, b"not a flatbuffer at all", bytes(range(256)) * 4):
        with pytest.raises(ModelError):
            runtime.Interpreter(junk)
    m = fb.ModelT.InitFromPackedBuf(tiny_model(), 0)
    m.version = 2
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match="not a TFLite schema v3"):
        runtime.Interpreter(bytes(b.Output()))


# ---- robustness: drive the C API directly with a bounded arena so a corrupt shape cannot ask for GBs ----

def _exercise(data: bytes, work, work_ptr, work_bytes: int) -> int:
    """load -> arena size -> init -> invoke on possibly corrupt bytes; returns the first failing status."""
    L, ffi = runtime.lib(), runtime.ffi
    owner, ptr = runtime._aligned(len(data))
    ffi.memmove(ptr, data, len(data))
    m = ffi.new("eq_model *")
    st = L.eq_model_load(m, ptr, len(data))
    if st:
        return st
    need = ffi.new("size_t *")
    st = L.eq_arena_size(m, work_ptr, work_bytes, need)
    if st:
        return st
    it = ffi.new("eq_interp *")
    st = L.eq_init(it, m, work_ptr, need[0])
    return st or L.eq_invoke(it)


def _fuzz(data: bytes, flips: int, seed: int, truncations: bool) -> dict[int, int]:
    work, ptr = runtime._aligned(1 << 20)
    seen: dict[int, int] = {}
    if truncations:
        for n in range(len(data)):
            st = _exercise(data[:n], work, ptr, 1 << 20)
            assert st != 0, f"a model truncated to {n} bytes ran"
            seen[st] = seen.get(st, 0) + 1
    rng = np.random.default_rng(seed)
    buf = np.frombuffer(data, np.uint8)
    for _ in range(flips):
        b = buf.copy()
        for pos in rng.integers(0, len(b), rng.integers(1, 4)):
            b[pos] ^= np.uint8(1 << int(rng.integers(0, 8)))
        st = _exercise(b.tobytes(), work, ptr, 1 << 20)
        seen[st] = seen.get(st, 0) + 1
    return seen


def test_every_truncation_and_random_bit_flips_fail_cleanly(model):
    seen = _fuzz(model, flips=10000, seed=3, truncations=True)
    assert seen.get(runtime.lib().EQ_ERR_MODEL, 0) > len(model) // 2
    assert seen.get(0, 0) > 0  # many flips land in weights and still run


def test_zoo_model_bit_flips_fail_cleanly(zoo):
    data = (zoo / "mlperf_tiny" / "kws_ref_model.tflite").read_bytes()
    seen = _fuzz(data, flips=1000, seed=4, truncations=False)
    assert sum(seen.values()) == 1000


def test_errors_are_edgeq_errors():
    assert issubclass(RuntimeFailure, EdgeqError) and issubclass(ModelError, EdgeqError)


# ---- the same under AddressSanitizer + UndefinedBehaviorSanitizer (C driver runtime_c/tests/eq_check.c) ----

def _sanitized(driver, path, flips: int, truncate: bool, isa: str | None = None) -> str:
    import os
    import subprocess

    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **({"EDGEQ_ISA": isa} if isa else {}))
    args = [str(driver), str(path), str(flips), "7"] + ([] if truncate else ["--no-truncate"])
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "runtime error" not in r.stderr, r.stderr[-3000:]
    return r.stdout


def test_sanitizers_truncations_and_flips_of_tiny_model(asan_driver, model, tmp_path):
    p = tmp_path / "tiny.tflite"
    p.write_bytes(model)
    out = _sanitized(asan_driver, p, 10000, truncate=True, isa="ref")
    assert "ok:" in out and "malformed model" in out
    _sanitized(asan_driver, p, 2000, truncate=False)  # the machine's SIMD kernels


@pytest.mark.parametrize("name", ["ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant"])
def test_sanitizers_zoo_bit_flips(asan_driver, zoo, name):
    _sanitized(asan_driver, zoo / "mlperf_tiny" / f"{name}.tflite", 150, truncate=False)
