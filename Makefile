# edgeq: the two commands a user needs are `make demo` and `make test`; both set up first.
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.edgeq-setup


.PHONY: setup system-deps runtime test demo bench bench-convert bench-lowbit bench-board firmware clean

setup: $(STAMP) runtime

# Debian packages for the Cortex-M toolchain and the emulated boards (skipped when already present).
system-deps:
	@bash tools/setup_system.sh

$(STAMP): pyproject.toml tools/setup_system.sh
	@bash tools/setup_system.sh
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev,bench]'
	@touch $(STAMP)

# The host build of runtime_c (shared library loaded by edgeq.runtime through cffi).
runtime: $(STAMP)
	@$(MAKE) -s -C runtime_c host

test: setup
	$(VPY) -m pytest -q -n 2 tests

demo: setup
	$(VPY) tools/demo.py

bench: setup
	$(VPY) tools/bench_runtime.py

# INT8 calibration methods against TFLite's PTQ, then the low-bit rows (bench-lowbit).
bench-convert: setup bench-lowbit
	$(VPY) tools/bench_convert.py

# Low-bit (16x8, W4A8, mixed) against TFLite's 16x8 PTQ and ai-edge-quantizer (the 'anchors' extra).
bench-lowbit: setup
	$(VPY) -m pip install -q -e '.[anchors,qat]'
	$(VPY) tools/bench_lowbit.py

bench-board: setup
	$(VPY) tools/bench_board.py

# Runner firmware for one board (boards/<name>): build/boards/<name>/firmware.elf, .bin and size.txt.
# MODEL=m.tflite links only that model's ops and kernels (build/boards/<name>/ops-<hash>/).
firmware: setup
	@test -n "$(BOARD)" || { echo "usage: make firmware BOARD=<name> [MODEL=m.tflite] (boards: $$(ls boards | grep -v -e common -e firmware -e probe -e '\.md'))"; exit 2; }
	$(VPY) -m edgeq.device.build $(BOARD) $(if $(MODEL),--model $(MODEL))

clean:
	@$(MAKE) -s -C runtime_c clean
	rm -rf build out .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
