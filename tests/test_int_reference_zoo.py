"""The numpy integer reference on whole models (EDGEQ_ZOO): the four MLPerf Tiny int8 models and ResNet-8
converted 16x8 and W4A8 by edgeq give byte for byte runtime_c's outputs on real inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from int_reference_check import same

from edgeq import runtime
from edgeq.model.tflite_io import read_tflite
from edgeq.reference.int_exec import run_int


# -------------------------------------------------------------------------------------------- zoo

def _real_inputs(g, zoo_data: Path, name: str, n: int = 3) -> list[np.ndarray]:
    """A few real samples quantized with the model's input parameters (KWS: the zoo has no audio, so
    seeded random features)."""
    t = g.tensors[g.inputs[0]]
    if name.startswith(("vww", "pretrainedResnet")):
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
        from bench_convert import MODELS, load_items

        m = next(m for m in MODELS if name.startswith(m.name.split("_")[0]))
        x = np.concatenate(load_items(m, zoo_data)[:n])[:n]
    elif name.startswith("ad01"):
        raw = np.fromfile(zoo_data / "anomaly" / "normal_id_01_00000000_hist_librosa.bin", np.float32)
        x = raw.reshape(-1, 640)[:n]
    else:
        return [np.random.default_rng(0).integers(-128, 128, (n,) + t.shape[1:]).astype(t.dtype)]
    if t.dtype == "float32":
        return [x.astype(np.float32)]
    info = np.iinfo(t.dtype)
    q = np.round(x / t.quant.scale[0]) + t.quant.zero_point[0]
    return [np.clip(q, info.min, info.max).astype(t.dtype).reshape((n,) + t.shape[1:])]


def _equal_to_runtime_c(model: bytes, g, xs) -> None:
    got = run_int(g, xs)
    it = runtime.Interpreter(model)
    for k in range(xs[0].shape[0]):
        ys = it.run(*[x[k:k + 1] for x in xs])
        ys = [ys] if isinstance(ys, np.ndarray) else ys
        for j, (y, z) in enumerate(zip(ys, got)):
            same(z[k:k + 1].reshape(y.shape), y, f"sample {k} output {j}: run_int vs runtime_c")


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite",
                                  "vww_96_int8.tflite"])
def test_mlperf_int8_equal_to_runtime_c(zoo, zoo_data, name):
    model = (zoo / "mlperf_tiny" / name).read_bytes()
    g = read_tflite(model)
    _equal_to_runtime_c(model, g, _real_inputs(g, zoo_data, name))


@pytest.mark.zoo
@pytest.mark.parametrize("mode", ["16x8", "w4a8"])
def test_converted_resnet_equal_to_runtime_c(zoo, zoo_data, mode):
    """ResNet-8 (conv, ADD, pools, FC, SOFTMAX) as the converter writes it in 16x8 and W4A8."""
    from edgeq.quantize.lowbit import convert_lowbit

    name = "pretrainedResnet.tflite"
    src = (zoo / "mlperf_tiny" / name).read_bytes()
    calib = _real_inputs(read_tflite(src), zoo_data, name, n=6)[0]
    kw = {"activations": "int16"} if mode == "16x8" else {"weights": "int4"}
    r = convert_lowbit(src, calib=calib[:4], measure_passes=False, **kw)
    g = read_tflite(r.model)
    assert any(t.dtype == ("int16" if mode == "16x8" else "int4") for t in g.tensors.values())
    t = g.tensors[g.inputs[0]]
    x = calib[3:]
    if t.dtype != "float32":
        info = np.iinfo(t.dtype)
        x = np.clip(np.round(x / t.quant.scale[0]) + t.quant.zero_point[0], info.min, info.max).astype(t.dtype)
    _equal_to_runtime_c(r.model, g, [x])
