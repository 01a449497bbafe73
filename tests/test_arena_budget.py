"""runtime_c's exact reference-kernel arena (what a microcontroller build reserves) stays at or below
TFLite Micro + CMSIS-NN's smallest working arena on the Cortex-M4 (issue 4's table, BOARDS.md) for the
four MLPerf Tiny int8 models, and that exact figure runs while one byte less fails cleanly."""
from __future__ import annotations

import pytest

from edgeq.introspect import RuntimeView, init_status

# TFLM + CMSIS-NN, Cortex-M4 under QEMU 7.2: smallest arena that runs (bytes)
TFLM_M4_ARENA = {"kws_ref_model": 22_832, "vww_96_int8": 100_720, "pretrainedResnet_quant": 55_008,
                 "ad01_int8": 3_024}


@pytest.mark.parametrize("name", sorted(TFLM_M4_ARENA))
def test_ref_arena_within_tflm_budget(zoo, name):
    model = (zoo / "mlperf_tiny" / f"{name}.tflite").read_bytes()
    v = RuntimeView(model, "ref")
    assert v.arena_bytes <= TFLM_M4_ARENA[name], f"{name}: {v.arena_bytes} B > TFLM's {TFLM_M4_ARENA[name]} B"
    lay = v.layout()
    assert lay.total == v.arena_bytes == lay.head + lay.persistent
    assert init_status(model, v.arena_bytes, "ref") == "EQ_OK"
    assert init_status(model, v.arena_bytes - 1, "ref") == "EQ_ERR_ARENA_TOO_SMALL"
