# The two commands a fresh clone needs: `make demo` and `make test`.
# Both create (or reuse) .venv and node_modules on their own.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYSTAMP   := $(VENV)/.zkml-installed
NODESTAMP := node_modules/.zkml-installed

.PHONY: demo test test-slow test-all bench env clean-cache

$(PYSTAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(NODESTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

env: $(PYSTAMP) $(NODESTAMP)

## make demo: a zoo model exported, compiled, proved, verified off-chain and on an in-process EVM
demo: env
	$(PY) examples/demo.py

## make test: the default test suite (slow tests deselected)
test: env
	$(PY) -m pytest

## make test-slow: only the slow tests (long fuzz runs, the biggest zoo proof)
test-slow: env
	$(PY) -m pytest -m slow

## make test-all: every test, slow ones included
test-all: env
	$(PY) -m pytest -m ''

bench: env
	$(PY) -m benchmarks

clean-cache:
	rm -rf $${ZKML_HOME:-$$HOME/.cache/zkml}
