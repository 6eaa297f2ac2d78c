# The two commands a fresh clone needs: `make demo` and `make test`.
# Both create (or reuse) .venv and node_modules on their own.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYSTAMP   := $(VENV)/.zkml-installed
NODESTAMP := node_modules/.zkml-installed
CHROMIUMSTAMP := $(VENV)/.zkml-chromium

.PHONY: demo test test-slow test-all bench env clean-cache

$(PYSTAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(NODESTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's chromium runs the browser-page tests (playwright drives it; no browser download). Without root or
# apt-get the tests marked requires_chromium skip themselves and say why.
$(CHROMIUMSTAMP): $(PYSTAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "chromium is not installed and cannot be installed here (needs root and apt-get): the browser tests will skip"; fi
	@touch $@

env: $(PYSTAMP) $(NODESTAMP) $(CHROMIUMSTAMP)

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
