"""Low-bit models on emulated Cortex-M boards: the digits example in W4A8, 16x8 and dynamic range (hybrid:
float activations on the FPU, int8 weights), and the public hybrid KWS model, each byte-identical on the
board and in the host runtime (`edgeq validate`). TensorFlow Lite Micro has no hybrid kernels."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.device.api import validate
from edgeq.quantize.lowbit import convert_lowbit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from digits import digits_split  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="no arm-none-eabi-gcc or qemu-system-arm")
SRC = ROOT / "edgeq" / "examples" / "digits_cnn.tflite"
MODES = {"w4a8": {"weights": "int4", "recover": ("bias",)}, "16x8": {"activations": "int16"}, "dynamic": {"dynamic": True}}


@pytest.fixture(scope="module")
def calib():
    return np.transpose(digits_split()[0][:100], (0, 2, 3, 1)).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_digits_lowbit_on_cortex_m4f(mode, calib):
    kw = MODES[mode]
    model = convert_lowbit(SRC, calib=None if kw.get("dynamic") else calib, io="float", **kw).model
    r = validate(model, "qemu-an386", random=3)
    assert r.ok, f"{mode}: {r.exact}/{r.samples} identical, first divergence {r.divergence}"
    assert all(c > 10_000 for c in r.counts)


def test_hybrid_kws_on_cortex_m4f(zoo):
    r = validate(zoo / "mlperf_tiny" / "kws_ref_model_float32.tflite", "qemu-an386", random=2)
    assert r.ok, f"{r.exact}/{r.samples} identical, first divergence {r.divergence}"
