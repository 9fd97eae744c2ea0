# Every target sets up .venv itself (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR := runs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)

.PHONY: install browser demo test lint bench clean

# uv installs the same versions as pip from the same index, faster (a fresh .venv: 51 s with
# pip, 20 s with uv, 2 cores). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE
# is set, nothing else writes the .pyc files, and every process then compiles JAX's sources
# again (an import of the engine took 5.0 s instead of 2.3 s; the test suite, which starts
# hundreds of processes, 831 s instead of 559 s). pip stays for the bench extra (the
# machine's own torch file, which uv does not look at).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv>=0.13,<0.14'
	$(PY) -m uv pip install -q --compile-bytecode --python $(PY) -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m benchmarks.train -m experiment=demo model=lstm,rnn hydra.sweep.dir=$(DEMO_DIR)
	$(PY) scripts/collect.py $(DEMO_DIR)
	$(PY) scripts/report.py $(DEMO_DIR)

# Debian's chromium and its chromedriver, for the HTML report's browser test (no downloaded
# browser: CI reaches only PyPI and Debian). Root installs directly, anyone else via sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver)

# carousel's own .pyc files, for the same reason (the editable install leaves them to the
# first import, and with PYTHONDONTWRITEBYTECODE set every process compiles them again).
test: $(STAMP) browser
	$(PY) -m compileall -q benchmarks models tasks scripts carousel_checks.py >/dev/null
	WANDB_MODE=disabled $(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=20

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m scripts.bench.speed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
