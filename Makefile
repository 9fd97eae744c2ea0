# Every target sets up .venv itself (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# RESOLUTION=lowest-direct installs every direct dependency at the lower bound of its range in
# pyproject.toml (uv's resolution of that name): what `make test-oldest` tests.
RESOLUTION ?= highest
STAMP := $(VENV)/.installed-stamp-$(RESOLUTION)
DEMO_DIR := runs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)

.PHONY: install browser demo test test-oldest lint bench gpu-check clean wheelhouse install-offline

# uv installs the same versions as pip from the same index, faster (a fresh .venv: 51 s with
# pip, 20 s with uv, 2 cores). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE
# is set, nothing else writes the .pyc files, and every process then compiles JAX's sources
# again (an import of the engine took 5.0 s instead of 2.3 s; the test suite, which starts
# hundreds of processes, 831 s instead of 559 s). pip stays for the bench extra (the
# machine's own torch file, which uv does not look at).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv>=0.13,<0.14'
	$(PY) -m uv pip install -q --compile-bytecode --resolution $(RESOLUTION) --python $(PY) -e '.[test,dev]'
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
PYTEST_WORKERS ?= auto
test: $(STAMP) browser
	$(PY) -m compileall -q benchmarks models tasks scripts carousel_checks.py >/dev/null
	WANDB_MODE=disabled $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

# The same suite in a second environment at the other end of every supported range: Flax
# 0.12.2, Optax 0.2.5, NumPy 2.2.0, pandas 2.2.2, ... (the lower bounds in
# pyproject.toml); `make test` runs it at the newest versions the ranges allow.
test-oldest:
	$(MAKE) test VENV=.venv-oldest RESOLUTION=lowest-direct

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m scripts.bench.speed

# The accelerator check (scripts/gpu_check.py): versions and devices, the accelerator-relevant
# tests, the benchmark's GPU workload, one paper-scale study; at most 8 minutes on one GPU,
# one folder runs/gpu-check/<time>/ and a summary line. On a CPU-only machine the same steps,
# smaller (CI runs it so). Install JAX's accelerator build first (.[cuda13], .[cuda12], .[tpu])
# and PyTorch's for its baselines (.[bench]); without PyTorch the benchmark has carousel's rows only.
gpu-check: $(STAMP)
	$(PY) scripts/gpu_check.py

# For a node that reaches no package index (conf/README.md, "Installing on a GPU node without
# internet"). `make wheelhouse` downloads every wheel carousel needs into $(WHEELS), for the
# node's Python and platform (scripts/wheelhouse.py; empty: this python3's, manylinux_2_28):
# the system python3 runs it with its own pip, no .venv needed. EXCLUDE: names left out;
# HAVE: a `pip freeze` of the node, whose packages are left out.
WHEELS ?= wheels
EXTRAS ?= test
PYVER ?=
PLATFORM ?=
EXCLUDE ?=
HAVE ?=
wheelhouse:
	$(PYTHON) scripts/wheelhouse.py $(WHEELS) --extras '$(EXTRAS)' $(if $(PYVER),--python-version $(PYVER)) \
	  $(if $(PLATFORM),--platform $(PLATFORM)) $(if $(EXCLUDE),--exclude '$(EXCLUDE)') $(if $(HAVE),--have '$(HAVE)')

# On the node: pip (not uv) with no index at all, only $(WHEELS), pinned to its
# requirements.txt. A new .venv sees the node's own site-packages, so what the wheelhouse
# left out (HAVE) counts as installed. The stamp keeps `make test` from installing again.
install-offline:
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --no-index --find-links $(WHEELS) -c $(WHEELS)/requirements.txt -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .venv-oldest .pytest_cache .ruff_cache .mypy_cache
