# jaxdl: every target creates .venv on first use and installs what it needs from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# one experiment per experiments/NAME.py (_harness.py is shared, report.py writes REPORT.md);
# the benchmarks are the package experiments/bench/
EXPERIMENTS := $(filter-out _% report claims,$(basename $(notdir $(wildcard experiments/*.py))))

.PHONY: help test test-fast experiments report-snapshot docs bench multiprocess lint clean $(EXPERIMENTS)

help:
	@echo "make test          create .venv if missing, install .[test], run the test suite"
	@echo "make experiments   create .venv if missing, install jaxdl, run every experiment + REPORT.md"
	@echo "make NAME          run one experiment: $(EXPERIMENTS)"
	@echo "make docs          build the documentation site into site/ (mkdocs build --strict)"
	@echo "make report-snapshot  full experiments, then their report as docs/report/ (committed)"
	@echo "make bench         benchmarks against JAX+optax, Flax, Equinox, Haiku (installs .[bench])"
	@echo "make multiprocess  fit, checkpoint and resume over 2 jax.distributed processes x 2 CPU devices (localhost)"
	@echo "QUICK=1 make ...   a smoke test of any experiment or the benchmarks (numbers mean nothing)"

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.docs: $(VENV)/.base
	$(PY) -m pip install -q -e '.[docs]'
	touch $@

$(VENV)/.bench: $(VENV)/.base
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

test: $(VENV)/.test
	$(PY) -m pytest -n auto -q

test-fast: $(VENV)/.test
	$(PY) -m pytest -n auto -q -m "not slow"

$(EXPERIMENTS): $(VENV)/.base
	$(PY) experiments/$@.py

experiments: $(VENV)/.base
	@set -e; for e in $(EXPERIMENTS); do echo "== $$e"; $(PY) experiments/$$e.py; done
	@if [ -f experiments/report.py ]; then $(PY) experiments/report.py; fi

report-snapshot: experiments
	$(PY) experiments/report.py --snapshot docs/report
	$(PY) experiments/claims.py

docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(VENV)/.bench
	$(PY) -m experiments.bench

multiprocess: $(VENV)/.base
	$(PY) examples/multiprocess.py

clean:
	rm -rf results site .pytest_cache
