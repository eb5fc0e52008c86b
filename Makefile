# Quick start: `make demo` and `make test` each build .venv when missing: the package in
# editable mode with the exact versions of constraints.txt (pyproject.toml holds the ranges).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format test-lowest bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]" -c constraints.txt
	touch $(STAMP)

demo: $(STAMP)
	bash egs/demo/run.sh --python $(CURDIR)/$(BIN)/python

# The linter and the formatter's check first (seconds), then the suite.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q tests

# Sorts imports and formats the whole tree in place (ruff settings in pyproject.toml).
format: $(STAMP)
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

# The lowest versions pyproject.toml allows (constraints-lowest.txt) in their own venv, and the
# tests of the code that uses them (publish, catalogue, separate, metrics, rooms, CPU kernels,
# training, PIT baselines: a few minutes).
LOWEST := .venv-lowest
LOWEST_TESTS := tests/test_publish.py tests/test_catalogue.py tests/cli/test_separate.py \
	tests/evaluation/test_metrics.py tests/data/test_rooms.py tests/separation/test_cpu_kernels.py \
	tests/training/test_training.py tests/baselines/test_baselines.py
test-lowest:
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q -e ".[test]" -c constraints-lowest.txt
	$(LOWEST)/bin/python -m pytest -q $(LOWEST_TESTS)

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_ip.py && ../$(BIN)/python bench_mvae.py

clean:
	rm -rf $(VENV) $(LOWEST) exp
