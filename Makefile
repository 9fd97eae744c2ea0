# Every target sets up .venv itself (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR := runs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m benchmarks.train -m experiment=demo model=lstm,rnn hydra.sweep.dir=$(DEMO_DIR)
	$(PY) scripts/collect.py $(DEMO_DIR)

test: $(STAMP)
	WANDB_MODE=disabled $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m scripts.bench.speed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
