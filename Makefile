# Two commands for everyone: `make demo` and `make test`. Both install what is
# missing first (installer/bootstrap.sh is idempotent and fast when done).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export QTWEBENGINE_DISABLE_SANDBOX ?= $(if $(filter 0,$(shell id -u)),1,)

.PHONY: setup demo demo-scale test test-fast bench lint typecheck soak bundle clean screenshots

setup:
	@bash installer/bootstrap.sh

demo: setup
	$(VENV)/bin/commandcenter demo

# The provincial wall: one reference server per regency (OKU, OKI, Palembang, Prabumulih) and
# `commandcenter wall --province` over them. Options: make demo-province PROVINCE_ARGS="--regencies
# 16.01,16.03,16.71 --preset province-laptop -- --run-for 60"
demo-province: setup
	$(PY) tools/demo_province.py $(PROVINCE_ARGS)

# Past one machine, on loopback: a nats-server with JetStream, two gateways on one stream (the
# simulator on the first), one wall failing over between them; all stopped when the wall closes
# (tools/demo_scale.py, docs/operations.md). Wall options: make demo-scale ARGS="-- --preset laptop"
demo-scale: setup
	$(PY) tools/demo_scale.py $(ARGS)

# The whole suite: what CI runs.
test: setup
	$(PY) -m pytest

# The inner loop: stops at the first failure and skips the tests marked
# `@pytest.mark.slow` (grep tests/ for it): the feed, session and wall tests
# against real server and wall processes, the watchdog's frozen wall, the map
# acknowledgement on two walls, the bundle and installer builds, the type
# check, the journal's large restores, a simulated day per scenario, and
# the checks that start a pytest of their own. Run `make test` before you push.
test-fast: setup
	$(PY) -m pytest -m "not slow" -x -q

# The gallery: docs/screenshots/PRESET-VIEW-LANG.png for every shipped room layout in both
# languages, from the simulator at a fixed seed and a fixed simulated moment (tools/screenshots.py).
# Regenerate it in the same commit as any visible change. A subset: make screenshots PRESETS=laptop
screenshots: setup
	$(PY) tools/screenshots.py $(if $(PRESETS),--presets $(PRESETS))

# Every group in its own process, figures merged into bench/results.json as each
# ends (docs/benchmarks.md). A subset: make bench GROUPS=feed,ui
bench: setup
	$(PY) -m bench $(if $(GROUPS),--groups $(GROUPS))

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
