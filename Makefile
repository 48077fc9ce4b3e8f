# Two commands for everyone: `make demo` and `make test`. Both install what is
# missing first (installer/bootstrap.sh is idempotent and fast when done).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export QTWEBENGINE_DISABLE_SANDBOX ?= $(if $(filter 0,$(shell id -u)),1,)

.PHONY: setup demo test bench lint typecheck soak bundle clean

setup:
	@bash installer/bootstrap.sh

demo: setup
	$(VENV)/bin/commandcenter demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m bench

# 30 minutes of the demo at 48x (24 simulated hours); report in bench/soak/.
# Options: make soak SOAK_ARGS="--minutes 3"
soak: setup
	$(PY) -m bench.soak $(SOAK_ARGS)

lint: setup
	$(VENV)/bin/ruff check commandcenter ui tests bench
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

# One-folder PyInstaller bundle in dist/oki-siaga-112/ (skipped when nothing changed).
bundle: setup
	$(PY) packaging/build_bundle.py --dist dist --work build/pyinstaller

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
