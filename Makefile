# spq: the README's commands. `make test` and `make demo` set up first (idempotent).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.spq-setup

.PHONY: setup toolchain demo test bench lint clean

setup: $(STAMP) toolchain

# The interop extra (snnTorch, Norse, Sinabs, SpikingJelly) is installed with the installed
# torch as a constraint, so that no package can replace it (an unpinned torch is a multi-GB
# CUDA build); the last line checks it.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(VENV)/bin/pip install -q torch==2.13.0
	@$(PY) -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/torch-pin.txt
	$(VENV)/bin/pip install -q -c $(VENV)/torch-pin.txt -e '.[dev,interop,tonic]'
	@$(PY) -c "import sys, torch; v = torch.__version__.split('+')[0]; pin = open('$(VENV)/torch-pin.txt').read().split('==')[1].strip(); sys.exit(0 if v == pin else 'error: pip replaced torch ' + pin + ' by ' + v)"
	@touch $(STAMP)

# Tries every compiler, sanitizer, Cortex-M link and QEMU machine the tests use and installs
# what fails (apt-get, as root); otherwise one error line names the packages.
toolchain: $(STAMP)
	@$(PY) -m spq.tools.toolchain --install

lint: setup
	$(PY) -m ruff check spq tests bench

# -n auto: one pytest worker per core (pytest-xdist); the caches the tests share (firmware,
# host libraries) are written atomically, so workers can build the same thing at once.
test: setup lint
	$(PY) -m pytest -q -n auto

demo: setup
	$(PY) -m spq.demo

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .ruff_cache
