# Quick start: `make demo` and `make test` each build .venv when missing: the package in
# editable mode with the exact versions of constraints.txt (pyproject.toml holds the ranges).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]" -c constraints.txt
	touch $(STAMP)

demo: $(STAMP)
	bash egs/demo/run.sh --python $(CURDIR)/$(BIN)/python

# The linter first (seconds), then the suite.
lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q tests

# Sorts imports and formats the whole tree in place (ruff settings in pyproject.toml).
format: $(STAMP)
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_ip.py && ../$(BIN)/python bench_mvae.py

clean:
	rm -rf $(VENV) exp
