# Quick start: `make demo` and `make test` each build .venv (pinned deps) when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	bash egs/demo/run.sh --python $(CURDIR)/$(BIN)/python

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_ip.py && ../$(BIN)/python bench_mvae.py

clean:
	rm -rf $(VENV) exp
