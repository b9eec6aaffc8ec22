# spq: the README's commands. `make test` and `make demo` set up first (idempotent).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.spq-setup

.PHONY: setup toolchain demo test bench lint clean

setup: $(STAMP) toolchain

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev,tonic]'
	@touch $(STAMP)

# Tries every compiler, sanitizer, Cortex-M link and QEMU machine the tests use and installs
# what fails (apt-get, as root); otherwise one error line names the packages.
toolchain: $(STAMP)
	@$(PY) -m spq.tools.toolchain --install

lint: setup
	$(PY) -m ruff check spq tests bench

test: setup lint
	$(PY) -m pytest -q

demo: setup
	$(PY) -m spq.demo

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .ruff_cache
